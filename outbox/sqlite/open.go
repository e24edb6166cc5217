package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strconv"

	_ "modernc.org/sqlite" // the driver Open uses
)

// MinBusyTimeout is the shortest busy timeout New accepts, in
// milliseconds; Open sets BusyTimeout.
const (
	MinBusyTimeout = 1000
	BusyTimeout    = 10000
)

// Open opens, creating it if need be, the SQLite database file at path
// with the pure-Go driver modernc.org/sqlite and the settings a Store
// needs, the same as rebound relay's:
//
//   - journal_mode WAL, so that readers go on while one connection writes;
//   - busy_timeout 10 s (BusyTimeout), so that a connection waits for the
//     write lock instead of failing at once with SQLITE_BUSY;
//   - synchronous NORMAL, which in WAL mode never corrupts the file and
//     syncs at checkpoints rather than at every commit (a power cut may
//     undo the last commits, business change and message alike);
//   - immediate transactions (the driver's _txlock=immediate): BeginTx
//     takes the write lock first, so a transaction that reads before it
//     writes (a business SELECT, then Enqueue) queues for the lock instead
//     of failing with SQLITE_BUSY.
//
// Open connects once before returning, so that switching a new file to
// WAL, which the busy timeout does not cover, happens before any
// concurrent use. The caller owns the *sql.DB and closes it; pass it to
// New, and Enqueue in its transactions.
func Open(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("outbox/sqlite: opening %s: %w", path, err)
	}
	if err := db.PingContext(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("outbox/sqlite: opening %s: %w", path, err)
	}
	return db, nil
}

// dsn is Open's data source name for path in modernc.org/sqlite's form.
func dsn(path string) string {
	return "file:" + url.PathEscape(path) + "?_pragma=busy_timeout(" + strconv.Itoa(BusyTimeout) + ")&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// PragmaError is New's error for a database opened without a setting the
// Store depends on.
type PragmaError struct {
	// Pragma is "journal_mode" or "busy_timeout".
	Pragma string
	// Got is the connection's value; Want says what the Store needs.
	Got, Want string
}

func (e *PragmaError) Error() string {
	return "outbox/sqlite: PRAGMA " + e.Pragma + " is " + e.Got + "; the Store needs " + e.Want +
		": open the database with sqlite.Open, or give the driver the pragma (modernc.org/sqlite: _pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate)"
}

// checkPragmas reads, on one connection of db, the settings New depends
// on.
func checkPragmas(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("outbox/sqlite: connecting to check the database's settings: %w", err)
	}
	defer conn.Close()
	var mode string
	if err := conn.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return fmt.Errorf("outbox/sqlite: reading PRAGMA journal_mode: %w", err)
	}
	if mode != "wal" {
		return &PragmaError{Pragma: "journal_mode", Got: strconv.Quote(mode), Want: `"wal"`}
	}
	var timeout int
	if err := conn.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&timeout); err != nil {
		return fmt.Errorf("outbox/sqlite: reading PRAGMA busy_timeout: %w", err)
	}
	if timeout < MinBusyTimeout {
		return &PragmaError{Pragma: "busy_timeout", Got: strconv.Itoa(timeout) + " ms", Want: "at least " + strconv.Itoa(MinBusyTimeout) + " ms"}
	}
	return nil
}
