package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Table is the table the drivers create and Enqueue writes to. Its columns
// are a contract between Enqueue and the drivers:
//
//	seq             auto-incrementing integer, the enqueue order
//	id              text, unique
//	destination     text
//	payload         bytes
//	headers         text (a JSON object), NULL when none
//	ordering_key    text, '' when none
//	state           small integer (State)
//	attempt         integer
//	created_at      integer, Unix nanoseconds (so are every time below)
//	next_attempt_at integer
//	lease_until     integer, 0 when not leased
//	sent_at         integer, 0 until sent
//	dead_reason     text, last_error text, last_status integer
const Table = "rebound_outbox"

// Execer is what Enqueue needs of a transaction: *sql.Tx provides it, for
// SQLite and for PostgreSQL through pgx's database/sql driver. For a
// pgx.Tx, use the postgres package's Enqueue.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Enqueue adds messages to the outbox inside tx, the caller's own
// transaction: they exist only if tx commits, together with the business
// change they announce. It returns the messages' IDs (generated where
// empty), or the first invalid field, in which case nothing is written.
// Before the store's Migrate has created the table, it returns an error
// wrapping ErrNoTable that says so.
func Enqueue(ctx context.Context, tx Execer, msgs ...Message) ([]string, error) {
	now := time.Now()
	args := make([][]any, len(msgs))
	ids := make([]string, len(msgs))
	for i := range msgs {
		m := msgs[i]
		a, err := InsertArgs(&m, now)
		if err != nil {
			return nil, err
		}
		args[i], ids[i] = a, m.ID
	}
	for _, a := range args {
		if _, err := tx.ExecContext(ctx, InsertSQL, a...); err != nil {
			return nil, noTable(ctx, tx, err)
		}
	}
	return ids, nil
}

// ErrNoTable is returned, wrapped together with the driver's error, by an
// Enqueue that met a database without the outbox table: the store's
// Migrate has not run on it.
var ErrNoTable = errors.New("outbox: the table " + Table + " does not exist: call the store's Migrate (sqlite.Store.Migrate, postgres.Store.Migrate) once before Enqueue")

// noTable returns err, wrapped with ErrNoTable when it says that the
// outbox table is missing. It reads the database's codes, never the
// error's text: PostgreSQL's SQLSTATE 42P01 (undefined_table, through
// pgx), or SQLite's generic SQLITE_ERROR (1, through modernc.org/sqlite)
// and then, in the same transaction, the schema, which SQLite leaves
// usable after a failed statement.
func noTable(ctx context.Context, tx Execer, err error) error {
	var pg interface{ SQLState() string }
	var lite interface{ Code() int }
	missing := false
	switch {
	case errors.As(err, &pg):
		missing = pg.SQLState() == "42P01"
	case errors.As(err, &lite) && lite.Code()&0xff == 1:
		q, ok := tx.(interface {
			QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
		})
		var n int
		missing = ok && q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, Table).Scan(&n) == nil && n == 0
	}
	if missing {
		return fmt.Errorf("%w: %w", ErrNoTable, err)
	}
	return err
}

// InsertSQL is the statement Enqueue runs per message; drivers for other
// transaction types run the same statement with InsertArgs.
const InsertSQL = `INSERT INTO ` + Table + ` (id, destination, payload, headers, ordering_key, state, attempt, created_at, next_attempt_at, lease_until, sent_at, dead_reason, last_error, last_status)
VALUES ($1, $2, $3, $4, $5, 1, 0, $6, $7, 0, 0, '', '', 0)`

// InsertArgs validates m (filling in its ID) and returns the arguments of
// InsertSQL.
func InsertArgs(m *Message, now time.Time) ([]any, error) {
	if err := m.validate(now); err != nil {
		return nil, err
	}
	var headers any
	if len(m.Headers) > 0 {
		b, err := json.Marshal(m.Headers)
		if err != nil {
			return nil, err
		}
		headers = string(b)
	}
	due := now
	if m.NotBefore.After(now) {
		due = m.NotBefore
	}
	payload := m.Payload
	if payload == nil {
		payload = []byte{}
	}
	return []any{m.ID, m.Destination, payload, headers, m.OrderingKey, now.UnixNano(), due.UnixNano()}, nil
}
