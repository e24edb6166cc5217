package outbox

// One delivery: the breaker, the destination's concurrency limit, the
// send under a renewed lease, and recording its outcome.

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/rebound-go/rebound"
)

// deliver runs one attempt and records its outcome.
func (r *Relay) deliver(ctx context.Context, d Delivery, claim trace.SpanContext) {
	bg := context.WithoutCancel(ctx)
	done, ok := r.admit(bg, d)
	if !ok {
		return
	}

	lim := r.limitsFor(d.Destination)
	if lim.sem != nil {
		select {
		case lim.sem <- struct{}{}:
			defer func() { <-lim.sem }()
		default:
			// Claimed beyond its destination's concurrency limit (in one
			// batch): give it back, due now, without spending the attempt;
			// claims skip the destination while it is full.
			if done != nil {
				done(context.Canceled)
			}
			r.record("release", d, r.persist(bg, func(ctx context.Context) error { return r.cfg.Store.Release(ctx, d.ID, d.Attempt, time.Now()) }))
			return
		}
	}

	// The lease keeper renews the lease while the delivery runs; losing
	// it cancels the delivery.
	sctx, span := r.deliverySpan(ctx, d, claim)
	dctx, end := r.leases.start(sctx, d)
	start := time.Now()
	err := r.cfg.Sender.Send(dctx, d)
	lost := context.Cause(dctx)
	end()
	dur := time.Since(start)

	if errors.Is(lost, ErrStale) || (err != nil && ctx.Err() != nil) {
		span.SetAttributes(attribute.String("rebound.outbox.outcome", "released"))
		span.End()
	}
	if errors.Is(lost, ErrStale) {
		r.cfg.Logger.Warn("outbox: lease lost during delivery; another relay owns the message", "id", d.ID, "attempt", d.Attempt)
		if done != nil {
			done(context.Canceled)
		}
		return
	}
	var cl rebound.Classification
	if err != nil {
		if ctx.Err() != nil {
			// Stopping: give the message back untouched.
			if done != nil {
				done(context.Canceled)
			}
			r.record("release", d, r.persist(bg, func(ctx context.Context) error { return r.cfg.Store.Release(ctx, d.ID, d.Attempt, time.Now()) }))
			return
		}
		cl = r.policy.Classify(err)
		if cl.Class == rebound.Canceled {
			// The relay is not stopping, so the sender's own deadline
			// ran out: the receiver did not answer in time.
			cl = rebound.Classification{Class: rebound.Connection, Retryable: true, MaybeProcessed: true}
		}
	}
	if done != nil {
		done(breakerOutcome(d, err, cl))
	}
	r.observe(bg, rebound.Event{Kind: rebound.AttemptFinished, Endpoint: d.Destination, Attempt: d.Attempt, Class: cl.Class, Err: err, Duration: dur, Elapsed: time.Since(d.CreatedAt)})
	now := time.Now()
	var draw float64
	if err != nil && cl.RetryAfter <= 0 {
		draw = r.cfg.Rand()
	}
	v := decide(d, err, cl, *lim, r.cfg.MaxRetryAfter, draw, now)
	endDelivery(span, err, cl.Class, v)
	switch {
	case v.state == Sent && r.completer != nil:
		r.completer.add(d, now) // recorded, and observed, with a batch
	case v.state == Sent:
		if r.record("sent", d, r.persist(bg, func(ctx context.Context) error { return r.cfg.Store.MarkSent(ctx, d.ID, d.Attempt, now) })) {
			r.observe(bg, rebound.Event{Kind: rebound.CallFinished, Endpoint: d.Destination, Attempt: callAttempts(d), Result: rebound.ResultSuccess, Elapsed: now.Sub(d.CreatedAt)})
		}
	case v.state == Dead:
		r.kill(bg, d, v.reason, err, v.why, cl.Class)
	default:
		r.retry(bg, d, err, cl.Class, now, v.wait)
	}
}

// admit asks the destination's breaker, if any, to let the delivery
// through, and returns the function that reports its outcome (nil without
// breakers). A refused delivery is held: its message is given back.
func (r *Relay) admit(ctx context.Context, d Delivery) (done func(error), ok bool) {
	if r.cfg.Breakers == nil {
		return nil, true
	}
	b := r.cfg.Breakers.Get(d.Destination)
	var err error
	if ownFailure(d) && b.State() != rebound.Closed {
		// A message that failed on its own last time waits while the
		// breaker is not closed: it is no probe of the destination.
		err = rebound.ErrCircuitOpen
	} else {
		done, err = b.Allow()
	}
	if err != nil {
		r.hold(ctx, d, b)
		return nil, false
	}
	return done, true
}

// retry schedules the message's next attempt after wait, and reports it.
func (r *Relay) retry(ctx context.Context, d Delivery, err error, class rebound.Class, now time.Time, wait time.Duration) {
	next := now.Add(wait)
	if !r.record("retry", d, r.persist(ctx, func(ctx context.Context) error {
		return r.cfg.Store.MarkRetry(ctx, d.ID, d.Attempt, next, errText(err), statusOf(err))
	})) {
		return
	}
	r.retryScheduled(next)
	elapsed := now.Sub(d.CreatedAt)
	r.cfg.Logger.Info("outbox: retrying", "id", d.ID, rebound.KeyEndpoint, d.Destination, rebound.KeyAttempt, d.Attempt,
		rebound.KeyReason, class.String(), rebound.KeyElapsed, elapsed, rebound.KeyWait, wait, rebound.KeyError, errText(err))
	r.observe(ctx, rebound.Event{Kind: rebound.RetryScheduled, Endpoint: d.Destination, Attempt: d.Attempt, Class: class, Err: err, Wait: wait, Elapsed: elapsed})
	r.observe(ctx, rebound.Event{Kind: rebound.CallFinished, Endpoint: d.Destination, Attempt: callAttempts(d), Class: class, Err: err, Result: rebound.ResultRetrying, Elapsed: elapsed})
}

// hold gives back a message whose destination's breaker is open, without
// spending its attempt, and stops claiming the destination for a while.
// The held message counts as a call the breaker rejected, so that a
// destination that is down keeps its failure rate visible.
func (r *Relay) hold(ctx context.Context, d Delivery, b *rebound.Breaker) {
	wait := min(b.Config().OpenFor, 5*time.Second)
	now := time.Now()
	r.mu.Lock()
	r.skip[d.Destination] = now.Add(wait)
	r.mu.Unlock()
	if r.record("release", d, r.persist(ctx, func(ctx context.Context) error { return r.cfg.Store.Release(ctx, d.ID, d.Attempt, now.Add(wait)) })) {
		r.observe(ctx, rebound.Event{Kind: rebound.CallFinished, Endpoint: d.Destination, Result: rebound.ResultRejected, Reason: rebound.ReasonCircuitOpen, Err: rebound.ErrCircuitOpen, Elapsed: now.Sub(d.CreatedAt)})
	}
}

func (r *Relay) kill(ctx context.Context, d Delivery, reason string, err error, why rebound.Reason, class rebound.Class) {
	if !r.record("dead", d, r.persist(ctx, func(ctx context.Context) error {
		return r.cfg.Store.MarkDead(ctx, d.ID, d.Attempt, reason, errText(err), statusOf(err))
	})) {
		return
	}
	result := rebound.ResultGaveUp
	if why == rebound.ReasonPermanent {
		result = rebound.ResultFailure
	}
	elapsed := time.Since(d.CreatedAt)
	r.observe(ctx, rebound.Event{Kind: rebound.CallFinished, Endpoint: d.Destination, Attempt: callAttempts(d), Class: class, Err: err, Result: result, Reason: why, Elapsed: elapsed})
	r.cfg.Logger.Warn("outbox: message dead", "id", d.ID, rebound.KeyEndpoint, d.Destination, rebound.KeyReason, reason, "attempts", d.Attempt,
		rebound.KeyClass, class.String(), rebound.KeyElapsed, elapsed, rebound.KeyError, errText(err))
	if r.cfg.OnDead != nil {
		rec := d.Record
		rec.State, rec.DeadReason, rec.LastError, rec.LastStatus = Dead, reason, errText(err), statusOf(err)
		r.cfg.OnDead(ctx, rec)
	}
}

// persist records an outcome, retrying a failing store (a busy SQLite, a
// dropped connection) a few times within half a lease, so that a delivered
// message is not delivered again just because its outcome could not be
// written at once. A fenced write is safe to repeat: if an earlier try did
// land, the retry gets ErrStale, which ends the retries.
func (r *Relay) persist(ctx context.Context, write func(context.Context) error) error {
	var last error
	if err := rebound.Run(ctx, r.persistPolicy, func(ctx context.Context) error { last = write(ctx); return last }); err != nil {
		return last
	}
	return nil
}

// outcomeWrites is the retry policy of persist: a few tries within half a
// lease, where ErrStale and ErrNotFound are final and anything else is worth
// another try.
func outcomeWrites(lease time.Duration) rebound.Policy {
	return rebound.Policy{
		MaxAttempts: 5,
		MaxElapsed:  lease / 2,
		Backoff:     rebound.Exponential{Initial: 20 * time.Millisecond, Max: 500 * time.Millisecond},
		Classifiers: []rebound.Classifier{rebound.ClassifierFunc(func(err error) (rebound.Classification, bool) {
			if errors.Is(err, ErrStale) || errors.Is(err, ErrNotFound) {
				return rebound.Classification{Class: rebound.Logic}, true
			}
			return rebound.Classification{Class: rebound.Connection, Retryable: true, MaybeProcessed: true}, true
		})},
	}
}

// record logs a failed state change and reports whether it took effect.
func (r *Relay) record(what string, d Delivery, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, ErrStale):
		r.cfg.Logger.Warn("outbox: stale outcome dropped: the message was claimed again meanwhile", "id", d.ID, "attempt", d.Attempt, "outcome", what)
	default:
		r.cfg.Logger.Error("outbox: recording an outcome failed; the lease will expire and the message be retried", "id", d.ID, "attempt", d.Attempt, "outcome", what, "error", err.Error())
	}
	return false
}

// maxErrorText bounds the error text stored with a message.
const maxErrorText = 1 << 10

func errText(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) > maxErrorText {
		s = s[:maxErrorText]
	}
	return s
}

// statusOf returns the HTTP status an error carries, if any.
func statusOf(err error) int {
	var s interface{ HTTPStatus() int }
	if errors.As(err, &s) {
		return s.HTTPStatus()
	}
	return 0
}
