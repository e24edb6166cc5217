package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/sqlite"
)

// A database from Open takes 200 enqueues at once, each in its own
// transaction, with none failing on SQLITE_BUSY (a plain sql.Open failed
// most of them).
func TestOpenTakesConcurrentEnqueues(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "shop.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	store, err := sqlite.New(db, sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				errs <- err
				return
			}
			defer tx.Rollback()
			if _, err := outbox.Enqueue(ctx, tx, outbox.Message{Destination: "orders", Payload: fmt.Appendf(nil, `{"n":%d}`, i)}); err != nil {
				errs <- err
				return
			}
			if err := tx.Commit(); err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed++; failed == 1 {
			t.Errorf("first failure: %v", err)
		}
	}
	var count int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+sqlite.Table).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if failed > 0 || count != n {
		t.Fatalf("%d of %d enqueues failed, %d messages stored; want all %d", failed, n, count, n)
	}
}

// New refuses a database opened without the settings it depends on, and
// says which setting and what it expected.
func TestNewChecksThePragmas(t *testing.T) {
	for _, tc := range []struct {
		name, dsn    string
		pragma, want string
	}{
		{"plain", "", "journal_mode", "wal"},
		{"WAL without a busy timeout", "?_pragma=journal_mode(WAL)", "busy_timeout", "at least 1000"},
		{"a short busy timeout", "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(50)", "busy_timeout", "at least 1000"},
		{"a busy timeout without WAL", "?_pragma=busy_timeout(5000)", "journal_mode", "wal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "plain.db")+tc.dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			_, err = sqlite.New(db, sqlite.Config{})
			var pe *sqlite.PragmaError
			if !errors.As(err, &pe) || pe.Pragma != tc.pragma || !strings.Contains(pe.Want, tc.want) {
				t.Fatalf("New = %v; want a *PragmaError naming %s, expecting %s", err, tc.pragma, tc.want)
			}
			if msg := err.Error(); !strings.Contains(msg, "PRAGMA "+tc.pragma) || !strings.Contains(msg, "sqlite.Open") {
				t.Fatalf("the error %q does not name the pragma or say how to open the database", msg)
			}
		})
	}
	t.Run("the recommended DSN", func(t *testing.T) {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "ok.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := sqlite.New(db, sqlite.Config{}); err != nil {
			t.Fatal(err)
		}
	})
}

// Open gives a clear error for a file it cannot open.
func TestOpenError(t *testing.T) {
	_, err := sqlite.Open(filepath.Join(t.TempDir(), "no-such-dir", "shop.db"))
	if err == nil || !strings.Contains(err.Error(), "shop.db") {
		t.Fatalf("Open in a missing directory: %v; want an error naming the file", err)
	}
}
