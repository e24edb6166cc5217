package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/internal/outboxsql"
)

// Executor runs a statement: a [pgx.Tx] (the outbox pattern), or a
// [*pgxpool.Pool] or [*pgx.Conn] outside any transaction of the caller's.
type Executor interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

var (
	_ Executor = pgx.Tx(nil)
	_ Executor = (*pgxpool.Pool)(nil)
	_ Executor = (*pgx.Conn)(nil)
)

// insertManySQL inserts many messages in one statement: $1 to $9 are
// arrays of InsertSQL's arguments, one element per message. The rows are
// numbered so that seq follows the order of the messages.
const insertManySQL = `INSERT INTO ` + Table + ` (id, destination, payload, headers, ordering_key, state, attempt, created_at, next_attempt_at, lease_until, sent_at, dead_reason, last_error, last_status, trace_parent, trace_state)
SELECT m.id, m.destination, m.payload, m.headers, m.ordering_key, 1, 0, m.created_at, m.next_attempt_at, 0, 0, '', '', 0, m.trace_parent, m.trace_state
FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[], $9::text[])
	WITH ORDINALITY AS m(id, destination, payload, headers, ordering_key, created_at, next_attempt_at, trace_parent, trace_state, n)
ORDER BY m.n`

// Enqueue adds messages to the outbox in one statement, in one round trip,
// and returns their IDs (generated where empty), or the first invalid
// field, in which case nothing is written.
//
// With tx, the caller's own pgx transaction, the messages exist only if
// tx commits, together with the business change they announce, and the
// relays listening are notified at the commit: the outbox pattern. It is
// outbox.Enqueue for pgx, writing the same rows.
//
// With a pool or a connection, outside any transaction, the statement
// commits at once on its own, all the messages or none: for a producer
// with no business transaction, such as an API that only enqueues.
//
// A message without a TraceParent of its own keeps the trace context of
// ctx's span, if any (outbox.TraceContext).
func Enqueue(ctx context.Context, tx Executor, msgs ...outbox.Message) ([]string, error) {
	if len(msgs) == 0 {
		return []string{}, nil
	}
	now := time.Now()
	traceParent, traceState := outbox.TraceContext(ctx)
	ids := make([]string, len(msgs))
	cols := struct {
		dest, key     []string
		parent, state []string
		headers       []*string
		payload       [][]byte
		created, due  []int64
	}{
		dest: make([]string, len(msgs)), key: make([]string, len(msgs)), headers: make([]*string, len(msgs)),
		payload: make([][]byte, len(msgs)), created: make([]int64, len(msgs)), due: make([]int64, len(msgs)),
		parent: make([]string, len(msgs)), state: make([]string, len(msgs)),
	}
	var first []any // the arguments of a lone message's INSERT
	for i := range msgs {
		m := msgs[i]
		if m.ID == "" {
			m.ID = outbox.NewID(now)
		}
		if m.TraceParent == "" {
			m.TraceParent, m.TraceState = traceParent, traceState
		}
		if err := m.Validate(); err != nil {
			return nil, err
		}
		args, err := outboxsql.InsertArgs(outboxsql.Message(m), now)
		if err != nil {
			return nil, err
		}
		ids[i], first = m.ID, args
		cols.dest[i], cols.payload[i], cols.key[i] = args[1].(string), args[2].([]byte), args[4].(string)
		if h, ok := args[3].(string); ok {
			cols.headers[i] = &h
		}
		cols.created[i], cols.due[i] = args[5].(int64), args[6].(int64)
		cols.parent[i], cols.state[i] = args[7].(string), args[8].(string)
	}
	var err error
	if len(msgs) == 1 {
		// One message: the plain INSERT, prepared once per connection.
		_, err = tx.Exec(ctx, outboxsql.InsertSQL, first...)
	} else {
		_, err = tx.Exec(ctx, insertManySQL, ids, cols.dest, cols.payload, cols.headers, cols.key, cols.created, cols.due, cols.parent, cols.state)
	}
	if err != nil {
		var pg *pgconn.PgError
		if errors.As(err, &pg) && pg.Code == "42P01" { // undefined_table
			err = fmt.Errorf("%w: %w", outbox.ErrNoTable, err)
		}
		if len(msgs) == 1 {
			return nil, fmt.Errorf("outbox/postgres: enqueue %q: %w", ids[0], err)
		}
		return nil, fmt.Errorf("outbox/postgres: enqueue %d messages: %w", len(msgs), err)
	}
	return ids, nil
}
