package idempotency

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// State is the state of a stored key.
type State uint8

const (
	// InFlight: a request holds the key's lease and is running.
	InFlight State = iota + 1
	// Completed: the response is stored and will be replayed.
	Completed
)

// String returns "in_flight" or "completed".
func (s State) String() string {
	switch s {
	case InFlight:
		return "in_flight"
	case Completed:
		return "completed"
	}
	return "unknown"
}

// Response is a stored response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Record is what a store holds for a key.
type Record struct {
	Key         string
	Fingerprint string
	State       State
	// Token identifies the holder of an in-flight lease; Complete, Extend
	// and Release must present it, so a holder whose lease was taken over
	// cannot overwrite the new holder's outcome.
	Token string
	// LockedUntil ends an in-flight lease: past it, the key may be claimed
	// again (its holder is presumed dead).
	LockedUntil time.Time
	// ExpiresAt ends the key's life; expired keys are reaped.
	ExpiresAt time.Time
	// Response is set once Completed.
	Response Response
}

// Claim is the answer of Store.Claim.
type Claim struct {
	// Claimed reports that the caller now holds the key's lease, with
	// Token, and must run the request then Complete or Release it.
	Claimed bool
	Token   string
	// Existing is the record that was already there when Claimed is
	// false: in flight under another holder, or completed.
	Existing Record
}

// ErrLeaseLost is returned by Complete, Extend and Release when the token
// no longer holds the key: the lease expired and another request took it
// over, or the key was reaped.
var ErrLeaseLost = errors.New("idempotency: lease lost")

// Store keeps idempotency keys. Implementations must make Claim atomic
// across processes (an INSERT … ON CONFLICT, SET NX, …) and fence Complete,
// Extend and Release by token. Times are passed in by the caller so that a
// store needs no clock of its own. Every store passes the conformance suite
// in the idempotencytest package.
type Store interface {
	// Claim takes key for a new request with fingerprint, as one atomic
	// step: if the key is absent, expired, or in flight past its lease, it
	// is (re)created in flight with a new token, locked until now+lease
	// and expiring at now+ttl. Otherwise the existing record is returned.
	Claim(ctx context.Context, key, fingerprint string, now time.Time, lease, ttl time.Duration) (Claim, error)
	// Extend renews the lease of an in-flight key held by token until
	// now+lease.
	Extend(ctx context.Context, key, token string, now time.Time, lease time.Duration) error
	// Complete stores resp for an in-flight key held by token and marks
	// it completed, expiring at now+ttl.
	Complete(ctx context.Context, key, token string, resp Response, now time.Time, ttl time.Duration) error
	// Release deletes an in-flight key held by token, so that the request
	// may be sent again.
	Release(ctx context.Context, key, token string) error
	// Reap deletes keys that expired before now and reports how many.
	// Stores whose keys expire by themselves (Redis) may return 0.
	Reap(ctx context.Context, now time.Time) (int, error)
}
