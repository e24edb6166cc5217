// Package sqlitetest opens SQLite databases for tests: a file of the
// test's own, with the settings of outbox/sqlite's Open (WAL, a busy
// timeout, synchronous NORMAL, immediate transactions), which rebound's
// SQLite stores and the relay use. It is the SQLite counterpart of
// internal/pgtest.
package sqlitetest

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/rebound-go/rebound/outbox/sqlite"
)

// Open opens a new database file in tb.TempDir(), as OpenPath does.
func Open(tb testing.TB) *sql.DB {
	tb.Helper()
	return OpenPath(tb, filepath.Join(tb.TempDir(), "test.db"))
}

// OpenPath opens the database file at path, creating it if need be, with
// sqlite.Open, so that the file is already in WAL mode when OpenPath
// returns and connections may open concurrently. The database is closed
// when tb ends; a failure to open ends tb.
func OpenPath(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sqlite.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// Outbox opens a new database as Open does and returns it with a migrated
// outbox store on it.
func Outbox(tb testing.TB) (*sql.DB, *sqlite.Store) {
	tb.Helper()
	db := Open(tb)
	s, err := sqlite.New(db, sqlite.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db, s
}
