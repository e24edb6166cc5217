package outbox

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// leaseKeeper renews the leases of a relay's deliveries in flight, from one
// goroutine for all of them, and cancels them when the relay's deliveries
// are canceled. A delivery costs it a map entry, not a goroutine and a
// ticker of its own.
//
// It looks at the deliveries every sixth of a lease and renews each lease
// that is a third spent, so a lease is renewed when between a third and a
// half of it has passed; a delivery whose renewal finds the message
// someone else's (ErrStale) is canceled with that cause.
type leaseKeeper struct {
	store  Store
	lease  time.Duration
	logger *slog.Logger

	mu       sync.Mutex
	flights  map[*flight]struct{}
	canceled error // once set, deliveries are canceled, new ones at once
	renewals sync.WaitGroup
}

// flight is one delivery in flight.
type flight struct {
	id       string
	attempt  int
	cancel   context.CancelCauseFunc
	renewAt  time.Time // guarded by leaseKeeper.mu
	renewing bool      // guarded by leaseKeeper.mu
}

func newLeaseKeeper(store Store, lease time.Duration, logger *slog.Logger) *leaseKeeper {
	return &leaseKeeper{store: store, lease: lease, logger: logger, flights: map[*flight]struct{}{}}
}

// start registers a delivery of d, whose lease runs until d.LeaseUntil. It
// returns the delivery's context, which carries ctx's values and is
// canceled when the relay's deliveries are or the lease is lost, and the
// function that ends the delivery.
func (k *leaseKeeper) start(ctx context.Context, d Delivery) (context.Context, func()) {
	// Not derived from ctx's cancelation: the keeper cancels the flights
	// itself, so that a delivery does not register with a context shared
	// by every worker.
	dctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	f := &flight{id: d.ID, attempt: d.Attempt, cancel: cancel, renewAt: d.LeaseUntil.Add(-k.lease * 2 / 3)}
	k.mu.Lock()
	canceled := k.canceled
	if canceled == nil {
		k.flights[f] = struct{}{}
	}
	k.mu.Unlock()
	if canceled != nil {
		cancel(canceled)
		return dctx, func() {}
	}
	return dctx, func() {
		k.mu.Lock()
		delete(k.flights, f)
		k.mu.Unlock()
		cancel(nil)
	}
}

// run renews leases until stop is closed, and cancels every delivery,
// present and future, once ctx ends. It returns when its renewals have.
func (k *leaseKeeper) run(ctx context.Context, stop <-chan struct{}) {
	defer k.renewals.Wait()
	t := time.NewTicker(k.lease / 6)
	defer t.Stop()
	done := ctx.Done()
	for {
		select {
		case <-stop:
			return
		case <-done:
			done = nil
			k.cancelAll(context.Cause(ctx))
		case <-t.C:
			k.renewDue(ctx, time.Now())
		}
	}
}

func (k *leaseKeeper) cancelAll(cause error) {
	k.mu.Lock()
	k.canceled = cause
	flights := k.flights
	k.flights = map[*flight]struct{}{}
	k.mu.Unlock()
	for f := range flights {
		f.cancel(cause)
	}
}

// renewDue renews, each in a goroutine of its own, the leases a third spent
// whose renewal is not already under way.
func (k *leaseKeeper) renewDue(ctx context.Context, now time.Time) {
	k.mu.Lock()
	var due []*flight
	for f := range k.flights {
		if !f.renewing && !now.Before(f.renewAt) {
			f.renewing = true
			due = append(due, f)
		}
	}
	k.mu.Unlock()
	for _, f := range due {
		k.renewals.Add(1)
		go func() {
			defer k.renewals.Done()
			k.renew(ctx, f)
		}()
	}
}

func (k *leaseKeeper) renew(ctx context.Context, f *flight) {
	now := time.Now()
	err := k.store.Extend(context.WithoutCancel(ctx), f.id, f.attempt, now.Add(k.lease))
	k.mu.Lock()
	f.renewing = false
	if err == nil {
		f.renewAt = now.Add(k.lease / 3)
	}
	k.mu.Unlock()
	switch {
	case err == nil:
	case errors.Is(err, ErrStale):
		f.cancel(err) // nothing if the delivery has ended meanwhile
	default:
		// Tried again at the next look.
		k.logger.Warn("outbox: renewing a lease failed", "id", f.id, "error", err.Error())
	}
}
