package idempotency

import (
	"context"
	"errors"
	"time"
)

// ErrInFlight is returned by Once when another holder is running the same
// key and its lease has not expired.
var ErrInFlight = errors.New("idempotency: key in flight")

// OnceOptions tunes Once.
type OnceOptions struct {
	// Lease bounds how long a crashed holder blocks the key. Default 1 m.
	Lease time.Duration
	// TTL is how long a done key is remembered. Default 24 h.
	TTL time.Duration
}

// Once runs fn at most once per key across every process sharing store
// (use a Redis or SQL store), for consumers whose effect is not in a
// database transaction with MarkTx. It reports whether fn ran now. If fn
// fails, the key is released so that a redelivery runs it again. When
// another holder is running the key, Once returns ErrInFlight.
//
// Unlike MarkTx, Once cannot make the effect and the mark atomic: a crash
// after fn's effect and before the mark runs fn again after the lease. Make
// fn's effect idempotent, or use MarkTx.
func Once(ctx context.Context, store Store, key string, opts OnceOptions, fn func(ctx context.Context) error) (bool, error) {
	if opts.Lease <= 0 {
		opts.Lease = time.Minute
	}
	if opts.TTL <= 0 {
		opts.TTL = 24 * time.Hour
	}
	c, err := store.Claim(ctx, key, "", time.Now(), opts.Lease, opts.TTL)
	if err != nil {
		return false, err
	}
	if !c.Claimed {
		if c.Existing.State == Completed {
			return false, nil
		}
		return false, ErrInFlight
	}
	if err := fn(ctx); err != nil {
		if rerr := store.Release(context.WithoutCancel(ctx), key, c.Token); rerr != nil && !errors.Is(rerr, ErrLeaseLost) {
			return true, errors.Join(err, rerr)
		}
		return true, err
	}
	if err := store.Complete(context.WithoutCancel(ctx), key, c.Token, Response{}, time.Now(), opts.TTL); err != nil {
		return true, err
	}
	return true, nil
}
