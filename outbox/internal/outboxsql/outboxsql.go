// Package outboxsql is the contract between the outbox's Enqueue and its
// SQL stores: the table they share, its columns, the statement that adds a
// message, and the way a store folds its per-state counts into stats. It
// is for the outbox and its store packages only; users see none of it.
//
// It imports nothing of rebound's (it is a support package): its Message
// and Stats have the fields of outbox.Message and outbox.DestinationStats,
// so the outbox's packages convert between them, and a field added on one
// side and not the other stops the build.
package outboxsql

import (
	"encoding/json"
	"time"
)

// Table is the table the stores create and Enqueue writes to. Its columns
// are a contract between Enqueue and the stores:
//
//	seq             auto-incrementing integer, the enqueue order
//	id              text, unique
//	destination     text
//	payload         bytes
//	headers         text (a JSON object), NULL when none
//	ordering_key    text, '' when none
//	state           small integer (outbox.State)
//	attempt         integer
//	created_at      integer, Unix nanoseconds (so are every time below)
//	next_attempt_at integer
//	lease_until     integer, 0 when not leased
//	sent_at         integer, 0 until sent
//	dead_reason     text, last_error text, last_status integer
//	trace_parent    text, trace_state text: W3C trace context, '' if none
const Table = "rebound_outbox"

// The values of the state column: outbox.State's.
const (
	Pending    = 1
	Delivering = 2
	Sent       = 3
	Retrying   = 4
	Dead       = 5
)

// InsertSQL is the statement Enqueue runs per message; stores for other
// transaction types run the same statement with InsertArgs.
const InsertSQL = `INSERT INTO ` + Table + ` (id, destination, payload, headers, ordering_key, state, attempt, created_at, next_attempt_at, lease_until, sent_at, dead_reason, last_error, last_status, trace_parent, trace_state)
VALUES ($1, $2, $3, $4, $5, 1, 0, $6, $7, 0, 0, '', '', 0, $8, $9)`

// Message has the fields of outbox.Message: convert one to the other.
type Message struct {
	ID          string
	Destination string
	Payload     []byte
	Headers     map[string]string
	OrderingKey string
	NotBefore   time.Time
	TraceParent string
	TraceState  string
}

// InsertArgs returns the arguments of InsertSQL for m, enqueued at now.
// m must be valid, with its ID filled in: outbox.Message.Validate checks
// it.
func InsertArgs(m Message, now time.Time) ([]any, error) {
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
	return []any{m.ID, m.Destination, payload, headers, m.OrderingKey, now.UnixNano(), due.UnixNano(), m.TraceParent, m.TraceState}, nil
}
