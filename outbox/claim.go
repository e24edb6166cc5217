package outbox

// The claim loop: claiming due messages ahead of the workers, waking on
// notifications, scheduled retries and polls, pruning, and skipping the
// destinations whose breaker is open.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// run is the relay's goroutine: ctx ends when Stop is called, deliverCtx
// only when Stop's own context ends first. The deferred calls run in the
// order that loses nothing: the workers finish their deliveries (or give
// back what they had not started), the batched outcomes are written, the
// lease keeper stops, and the helpers end.
func (r *Relay) run(ctx, deliverCtx context.Context) {
	var helpers sync.WaitGroup
	defer helpers.Wait()
	wake := r.startHelpers(ctx, &helpers)
	// Successful deliveries are recorded in batches when the store can.
	if bc, ok := r.cfg.Store.(BatchCompleter); ok {
		r.completer = newCompleter(r, bc)
		go r.completer.run(context.WithoutCancel(deliverCtx))
		defer r.completer.close() // after the workers: it records their last outcomes
	}
	// The lease keeper outlives the workers: deliveries still running
	// after Stop are renewed until they end.
	defer r.startLeaseKeeper(deliverCtx)()
	p := &pipeline{queue: make(chan claimed, r.cfg.BatchSize), freed: make(chan struct{}, 1)}
	var workers sync.WaitGroup
	defer workers.Wait() // deliveries finish (or are canceled by Stop)
	defer close(p.queue)
	for range r.cfg.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			r.work(ctx, deliverCtx, p)
		}()
	}
	r.claimLoop(ctx, p, wake)
}

// pipeline carries claimed messages to the workers. The claim loop keeps
// queue up to a batch ahead of them, so that a worker finishing a delivery
// starts the next at once instead of waiting for a claim. held counts the
// messages claimed and not yet finished, queued or in flight; freed is
// signalled when one finishes.
type pipeline struct {
	queue chan claimed
	held  atomic.Int64
	freed chan struct{}
}

// startHelpers starts the goroutines beside the claim loop: the store's
// notifications, when it is a Waker, and pruning. It returns the channel
// the notifications wake the claim loop on.
func (r *Relay) startHelpers(ctx context.Context, helpers *sync.WaitGroup) <-chan struct{} {
	wake := make(chan struct{}, 1)
	if waker, ok := r.cfg.Store.(Waker); ok {
		helpers.Add(1)
		go func() {
			defer helpers.Done()
			r.listen(ctx, waker, wake)
		}()
	}
	if r.cfg.Retention > 0 {
		helpers.Add(1)
		go func() {
			defer helpers.Done()
			r.prune(ctx)
		}()
	}
	return wake
}

// startLeaseKeeper starts the keeper that renews the leases of deliveries
// in flight, and returns the function that stops it and waits for it.
func (r *Relay) startLeaseKeeper(deliverCtx context.Context) (stop func()) {
	r.leases = newLeaseKeeper(r.cfg.Store, r.cfg.Lease, r.cfg.Logger)
	stopLeases, leasesDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(leasesDone)
		r.leases.run(deliverCtx, stopLeases)
	}()
	return func() {
		close(stopLeases)
		<-leasesDone
	}
}

// work is a worker: it delivers the queued messages until the queue
// closes, and gives back those claimed ahead once the relay is stopping.
func (r *Relay) work(ctx, deliverCtx context.Context, p *pipeline) {
	for c := range p.queue {
		d := c.d
		if ctx.Err() != nil {
			r.giveBack(deliverCtx, d) // claimed ahead, not started: stopping
		} else if d, ok := r.renewIfOld(deliverCtx, d); ok {
			r.deliver(deliverCtx, d, c.claim)
		}
		p.held.Add(-1)
		if d.OrderingKey != "" {
			r.kickClaims() // the next message of its key may be due
		}
		signal(p.freed)
	}
}

// claimLoop claims until ctx ends. It claims when at least half a batch
// fits, so that claims are few and full; after a claim that found fewer
// messages than it asked for, it claims again only when something may have
// become due: a notification, a retry the relay scheduled falling due, the
// poll, a message of an ordering key finishing, or a place freeing while
// destinations were skipped.
func (r *Relay) claimLoop(ctx context.Context, p *pipeline, wake <-chan struct{}) {
	threshold := max(1, r.cfg.BatchSize/2)
	drained, skipping := false, false
	for ctx.Err() == nil {
		n := min(r.cfg.BatchSize, r.cfg.Workers+r.cfg.BatchSize-int(p.held.Load()))
		if n >= threshold && !drained {
			var found int
			found, skipping = r.claim(ctx, p, n)
			if drained = found < n; !drained {
				continue // a full batch: more may be due now
			}
		}
		t := time.NewTimer(r.untilNextClaim())
		select {
		case <-ctx.Done():
		case <-t.C:
			drained = false
		case <-wake:
			drained = false
		case <-r.kick:
			drained = false
		case <-p.freed:
			if skipping {
				drained = false
			}
		}
		t.Stop()
	}
}

// claim claims up to n due messages into the pipeline and reports how many
// it found and whether it skipped destinations whose breaker is open.
func (r *Relay) claim(ctx context.Context, p *pipeline, n int) (found int, skipping bool) {
	now := time.Now()
	skip := r.skipped(now)
	ds, err := r.cfg.Store.Claim(ctx, now, r.cfg.Lease, n, skip)
	r.retryClaimed(now) // even if the claim failed: no hurry to retry it
	switch {
	case err == nil:
		r.lastPoll.Store(now.UnixNano())
	case ctx.Err() == nil:
		r.cfg.Logger.Warn("outbox: claiming messages failed", "error", err.Error())
	}
	var sc trace.SpanContext
	if len(ds) > 0 {
		sc = r.claimSpan(ctx, now, time.Now(), len(ds))
	}
	p.held.Add(int64(len(ds)))
	for _, d := range ds {
		p.queue <- claimed{d, sc}
	}
	return len(ds), len(skip) > 0
}

// claimed is a claimed message on its way to a worker, with the span
// context of its claim for its delivery span to link to.
type claimed struct {
	d     Delivery
	claim trace.SpanContext
}

// signal wakes whoever waits on c, unless it is already signalled.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// kickClaims makes the claim loop claim again even if its last claim found
// everything due: a message may have become due.
func (r *Relay) kickClaims() { signal(r.kick) }

// retryScheduled notes that a message retries at next, so that the claim
// loop claims then rather than at its next poll.
func (r *Relay) retryScheduled(next time.Time) {
	n := next.UnixNano()
	for {
		cur := r.nextRetry.Load()
		if cur != 0 && cur <= n {
			return
		}
		if r.nextRetry.CompareAndSwap(cur, n) {
			r.kickClaims() // to shorten its wait
			return
		}
	}
}

// retryClaimed forgets the earliest retry once a claim at now covered it,
// or failed: a failing store is tried again at the next poll, not in a
// loop.
func (r *Relay) retryClaimed(now time.Time) {
	if cur := r.nextRetry.Load(); cur != 0 && cur <= now.UnixNano() {
		r.nextRetry.CompareAndSwap(cur, 0)
	}
}

// untilNextClaim is how long the claim loop waits when nothing wakes it:
// the poll interval, or less if a retry falls due sooner.
func (r *Relay) untilNextClaim() time.Duration {
	wait := r.cfg.PollInterval
	if next := r.nextRetry.Load(); next != 0 {
		wait = min(wait, max(time.Until(time.Unix(0, next)), 0))
	}
	return wait
}

// renewIfOld renews the lease of a message that waited in the queue for a
// third of its lease or more, before delivering it, and reports whether
// the message is still the relay's to deliver, with d's lease brought up
// to date.
func (r *Relay) renewIfOld(ctx context.Context, d Delivery) (Delivery, bool) {
	if time.Until(d.LeaseUntil) > r.cfg.Lease*2/3 {
		return d, true
	}
	until := time.Now().Add(r.cfg.Lease)
	err := r.cfg.Store.Extend(context.WithoutCancel(ctx), d.ID, d.Attempt, until)
	switch {
	case err == nil:
		d.LeaseUntil = until
		return d, true
	case errors.Is(err, ErrStale):
		r.cfg.Logger.Warn("outbox: lease lost while queued; another relay owns the message", "id", d.ID, "attempt", d.Attempt)
		return d, false
	default:
		r.cfg.Logger.Warn("outbox: renewing a lease failed", "id", d.ID, "error", err.Error())
		return d, time.Now().Before(d.LeaseUntil)
	}
}

// giveBack releases a message claimed ahead that the relay, stopping, will
// not deliver: its attempt is given back.
func (r *Relay) giveBack(ctx context.Context, d Delivery) {
	r.record("release", d, r.persist(context.WithoutCancel(ctx), func(ctx context.Context) error {
		return r.cfg.Store.Release(ctx, d.ID, d.Attempt, time.Now())
	}))
}

// prune deletes sent messages older than Retention, every PruneInterval.
func (r *Relay) prune(ctx context.Context) {
	t := time.NewTicker(r.cfg.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n, err := r.cfg.Store.Prune(ctx, now.Add(-r.cfg.Retention))
			switch {
			case err != nil && ctx.Err() == nil:
				r.cfg.Logger.Warn("outbox: pruning sent messages failed", "error", err.Error())
			case n > 0:
				r.cfg.Logger.Debug("outbox: pruned sent messages", "count", n)
			}
		}
	}
}

// listen turns the store's notifications into wake-ups.
func (r *Relay) listen(ctx context.Context, waker Waker, wake chan<- struct{}) {
	for ctx.Err() == nil {
		if err := waker.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			r.cfg.Logger.Warn("outbox: waiting for notifications failed; polling meanwhile", "error", err.Error())
			t := time.NewTimer(r.cfg.PollInterval)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			continue
		}
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// skipped lists the destinations whose breaker was open, until then.
func (r *Relay) skipped(now time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for d, until := range r.skip {
		if now.Before(until) {
			out = append(out, d)
		} else {
			delete(r.skip, d)
		}
	}
	return r.appendFull(out)
}
