package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rebound-go/rebound/outbox/internal/outboxsql"
)

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
// wrapping ErrNoTable that says so. A message without a TraceParent of
// its own keeps the trace context of ctx's span, if any (TraceContext).
func Enqueue(ctx context.Context, tx Execer, msgs ...Message) ([]string, error) {
	now := time.Now()
	msgs = traced(ctx, msgs)
	args := make([][]any, len(msgs))
	ids := make([]string, len(msgs))
	for i := range msgs {
		m := msgs[i]
		if err := m.validate(now); err != nil {
			return nil, err
		}
		a, err := outboxsql.InsertArgs(outboxsql.Message(m), now)
		if err != nil {
			return nil, err
		}
		args[i], ids[i] = a, m.ID
	}
	for _, a := range args {
		if _, err := tx.ExecContext(ctx, outboxsql.InsertSQL, a...); err != nil {
			return nil, noTable(ctx, tx, err)
		}
	}
	return ids, nil
}

// ErrNoTable is returned, wrapped together with the driver's error, by an
// Enqueue that met a database without the outbox table: the store's
// Migrate has not run on it.
var ErrNoTable = errors.New("outbox: the table " + outboxsql.Table + " does not exist: call the store's Migrate (sqlite.Store.Migrate, postgres.Store.Migrate) once before Enqueue")

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
		missing = ok && q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, outboxsql.Table).Scan(&n) == nil && n == 0
	}
	if missing {
		return fmt.Errorf("%w: %w", ErrNoTable, err)
	}
	return err
}
