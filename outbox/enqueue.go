package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
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
			return nil, err
		}
	}
	return ids, nil
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
