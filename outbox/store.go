package outbox

import (
	"context"
	"time"
)

// Store is the durable side of the outbox, implemented by the postgres and
// sqlite driver packages. Every store passes the conformance suite in the
// outboxtest package. Times are passed in by the caller.
//
// Every change to a message in flight is fenced by (ID, Attempt): the
// attempt that claimed it. A relay whose lease expired, and whose message
// another relay claimed since, gets ErrStale and cannot overwrite the newer
// outcome.
type Store interface {
	// Claim leases up to limit messages due at now (pending or retrying
	// with NextAttemptAt <= now, or delivering with an expired lease),
	// oldest first, for lease: each becomes Delivering with Attempt
	// incremented and LeaseUntil = now+lease. A message with an
	// OrderingKey is due only if no earlier message with the same key is
	// pending, retrying or delivering, and no other message with the key
	// is delivering (a replayed old message waits for a newer one in
	// flight). Messages of the destinations in skip are left alone.
	Claim(ctx context.Context, now time.Time, lease time.Duration, limit int, skip []string) ([]Delivery, error)
	// Extend renews the lease of a delivering message held by attempt.
	Extend(ctx context.Context, id string, attempt int, until time.Time) error
	// MarkSent records a delivery.
	MarkSent(ctx context.Context, id string, attempt int, now time.Time) error
	// MarkRetry schedules the next attempt at next.
	MarkRetry(ctx context.Context, id string, attempt int, next time.Time, lastErr string, lastStatus int) error
	// MarkDead gives up on the message.
	MarkDead(ctx context.Context, id string, attempt int, reason, lastErr string, lastStatus int) error
	// Release gives a delivering message back without spending its
	// attempt: its Attempt goes back down by one and it is due again at
	// next (a relay stopping, or a destination's breaker open).
	Release(ctx context.Context, id string, attempt int, next time.Time) error

	// Get returns one message, or ErrNotFound.
	Get(ctx context.Context, id string) (Record, error)
	// List returns messages matching f, in enqueue order, and the cursor
	// of the next page ("" at the end).
	List(ctx context.Context, f Filter) (recs []Record, next string, err error)
	// Replay makes a dead message pending again, due at now, with its
	// attempts reset; ErrNotDead if it is not dead.
	Replay(ctx context.Context, id string, now time.Time) error
	// ReplayDead replays every dead message matching f (State is ignored)
	// and reports how many.
	ReplayDead(ctx context.Context, f Filter, now time.Time) (int, error)
	// Discard deletes a dead message; ErrNotDead if it is not dead.
	Discard(ctx context.Context, id string) error
	// Prune deletes messages sent before before, and reports how many.
	Prune(ctx context.Context, before time.Time) (int, error)
	// Stats reports the backlog per destination.
	Stats(ctx context.Context, now time.Time) ([]DestinationStats, error)
}

// Filter selects messages in List and ReplayDead. Zero fields match all.
type Filter struct {
	State       State
	Destination string
	// Cursor continues a previous List.
	Cursor string
	// Limit bounds a page: default 100, at most 1000.
	Limit int
}

// DestinationStats is the backlog of one destination.
type DestinationStats struct {
	Destination string
	// Counts by state.
	Pending, Delivering, Retrying, Dead, Sent int
	// OldestUnsent is the creation time of the oldest message not yet
	// sent nor dead; zero when there is none.
	OldestUnsent time.Time
}

// Waker is implemented by stores that can signal new messages (PostgreSQL
// LISTEN/NOTIFY), so that a relay wakes at once instead of at its next
// poll. Wait returns when a message may be due or ctx ends.
type Waker interface {
	Wait(ctx context.Context) error
}
