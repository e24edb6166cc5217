package sqlitetest_test

import (
	"testing"

	"github.com/rebound-go/rebound/internal/sqlitetest"
)

// Open gives a database with the settings the stores check.
func TestOpen(t *testing.T) {
	db := sqlitetest.Open(t)
	var mode string
	var timeout int
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q (%v), want wal", mode, err)
	}
	if err := db.QueryRow(`PRAGMA busy_timeout`).Scan(&timeout); err != nil || timeout < 1000 {
		t.Errorf("busy_timeout %d (%v), want at least 1000", timeout, err)
	}
}
