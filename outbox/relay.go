package outbox

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rebound-go/rebound"
)

// Sender delivers one message. A nil error means delivered. Errors are
// classified like rebound's: Logic errors (a 4xx, an unknown destination)
// kill the message at once; any other error schedules a retry, after the
// wait a rebound.RetryAfter mark (or a Classified error) asks for, if any.
type Sender interface {
	Send(ctx context.Context, d Delivery) error
}

// SenderFunc adapts a function to the Sender interface.
type SenderFunc func(ctx context.Context, d Delivery) error

// Send calls f.
func (f SenderFunc) Send(ctx context.Context, d Delivery) error { return f(ctx, d) }

// Defaults of RelayConfig.
const (
	DefaultWorkers       = 16
	DefaultLease         = 30 * time.Second
	DefaultPollInterval  = 500 * time.Millisecond
	DefaultMaxAttempts   = 20
	DefaultMaxAge        = 72 * time.Hour
	DefaultMaxRetryAfter = time.Hour
	DefaultRetention     = 7 * 24 * time.Hour
	DefaultPruneInterval = time.Hour
	// DefaultMinBatchSize is the least default BatchSize: a claim and its
	// commit cost about as much for 16 messages as for 40, so a relay
	// with few workers claims more than one message per worker.
	DefaultMinBatchSize = 64
)

// DefaultBackoff is the durable retry schedule: 5 s doubling up to 1 h,
// with full jitter.
var DefaultBackoff = rebound.Exponential{Initial: 5 * time.Second, Max: time.Hour}

// RelayConfig configures a Relay. Store and Sender are required; every
// other zero field means its default.
type RelayConfig struct {
	Store  Store
	Sender Sender
	// Workers bounds concurrent deliveries. Default 16.
	Workers int
	// BatchSize bounds the messages claimed at once, and those claimed
	// ahead of the workers, waiting for one. Default Workers, and at
	// least DefaultMinBatchSize (64).
	BatchSize int
	// Lease is how long a claimed message is held; while it is delivered
	// the relay renews it once a third to a half of it has passed, and a
	// relay that dies loses it after Lease. Default 30 s.
	Lease time.Duration
	// PollInterval is how often an idle relay looks for due messages (a
	// Store that is a Waker wakes it sooner). Default 500 ms.
	PollInterval time.Duration
	// MaxAttempts kills a message after this many attempts. Default 20.
	MaxAttempts int
	// MaxAge kills a message this long after it was enqueued. Default 72 h.
	MaxAge time.Duration
	// Backoff computes the wait before each retry. Default DefaultBackoff.
	Backoff rebound.Backoff
	// MaxRetryAfter caps a wait the receiver asks for; longer requests
	// wait the cap. Default 1 h.
	MaxRetryAfter time.Duration
	// Classifiers run before rebound's built-in rules.
	Classifiers []rebound.Classifier
	// Breakers, when set, gives each destination a circuit breaker: while
	// it is open the destination's messages wait without spending
	// attempts, and other destinations keep flowing. A message failing on
	// its own account (a 500 to it alone) counts only on its first attempt
	// and only toward the failure rate; see the package doc.
	Breakers *rebound.Breakers
	// Retention is how long sent messages are kept; the relay deletes
	// older ones every PruneInterval. Dead messages are kept until
	// replayed or discarded. Default 7 days; negative keeps them forever.
	Retention time.Duration
	// PruneInterval is how often the relay prunes. Default 1 h.
	PruneInterval time.Duration
	// OnDead runs once each time a message goes dead: the guide's
	// compensation. It runs on the delivering goroutine; keep it short.
	OnDead func(ctx context.Context, r Record)
	// Observer receives an event per attempt and retry, and a
	// CallFinished per delivery attempt and per message held by an open
	// breaker, with the destination as the endpoint (see the package
	// doc). It is meant for metrics and alerts: the relay logs retries and
	// dead messages itself, so a rebound.SlogObserver here logs them twice.
	Observer rebound.Observer
	// Logger receives relay problems. Default slog.Default().
	Logger *slog.Logger
	// Rand draws jitter. Default math/rand/v2.Float64.
	Rand func() float64
	// Destinations overrides the retry limits of some destinations and
	// may bound their concurrency. Destinations not named use the
	// relay's settings.
	Destinations map[string]DestinationPolicy
}

// Relay claims due messages from a Store and delivers them through a
// Sender, recording every outcome: a start/stop service. Any number of
// relays may share one PostgreSQL store.
type Relay struct {
	cfg           RelayConfig
	policy        rebound.Policy // for classification only
	persistPolicy rebound.Policy // retries of outcome writes

	mu               sync.Mutex
	cancel           context.CancelCauseFunc
	cancelDeliveries context.CancelFunc
	done             chan struct{}
	stopped          bool                 // Stop ran after Start
	skip             map[string]time.Time // destinations whose breaker is open, until
	limits           map[string]*limits   // per-destination overrides
	defaults         limits               // the relay's own limits
	lastPoll         atomic.Int64         // Unix nanoseconds of the last successful claim
	completer        *completer           // nil when the store is no BatchCompleter
	leases           *leaseKeeper         // set by run, before the workers start
	kick             chan struct{}        // a message may have become due
	nextRetry        atomic.Int64         // Unix nanoseconds of the earliest retry scheduled, 0 for none
}

// LastPoll returns when the relay last claimed successfully (whether or not
// anything was due): its heartbeat. Zero before the first claim.
func (r *Relay) LastPoll() time.Time {
	if n := r.lastPoll.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// NewRelay returns a relay, or a *rebound.ConfigError naming the first
// invalid field.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	bad := func(field, problem string) (*Relay, error) {
		return nil, &rebound.ConfigError{Field: "outbox.RelayConfig." + field, Problem: problem}
	}
	switch {
	case cfg.Store == nil:
		return bad("Store", "required")
	case cfg.Sender == nil:
		return bad("Sender", "required")
	case cfg.Workers < 0 || cfg.Workers > 10000:
		return bad("Workers", "want 0 (default 16) to 10000, got "+strconv.Itoa(cfg.Workers))
	case cfg.BatchSize < 0 || cfg.BatchSize > 10000:
		return bad("BatchSize", "want 0 (the default) to 10000, got "+strconv.Itoa(cfg.BatchSize))
	case cfg.MaxAttempts < 0 || cfg.MaxAttempts > rebound.MaxAttemptsLimit:
		return bad("MaxAttempts", "want 0 (default 20) to "+strconv.Itoa(rebound.MaxAttemptsLimit)+", got "+strconv.Itoa(cfg.MaxAttempts))
	case cfg.Lease < 0 || cfg.PollInterval < 0 || cfg.MaxAge < 0 || cfg.MaxRetryAfter < 0:
		return bad("Lease", "durations must be 0 (the default) or positive")
	}
	if field, problem := checkPolicies(&cfg); field != "" {
		return bad(field, problem)
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = max(cfg.Workers, DefaultMinBatchSize)
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxRetryAfter == 0 {
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.PruneInterval <= 0 {
		cfg.PruneInterval = DefaultPruneInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	return &Relay{
		cfg:           cfg,
		policy:        rebound.Policy{Classifiers: cfg.Classifiers},
		persistPolicy: outcomeWrites(cfg.Lease),
		skip:          map[string]time.Time{},
		kick:          make(chan struct{}, 1),
		limits:        buildLimits(&cfg),
		defaults:      limits{maxAttempts: cfg.MaxAttempts, maxAge: cfg.MaxAge, backoff: cfg.Backoff},
	}, nil
}

// Start begins claiming and delivering until Stop or until ctx ends.
func (r *Relay) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return errors.New("outbox: Relay was stopped; a stopped relay cannot start again, create a new one with NewRelay")
	}
	if r.done != nil {
		return errors.New("outbox: Relay already started")
	}
	claimCtx, cancel := context.WithCancelCause(ctx)
	// Deliveries outlive the claim loop: Stop lets them finish, and cancels
	// them only when its own context ends.
	deliverCtx, cancelDeliveries := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel, r.cancelDeliveries, r.done = cancel, cancelDeliveries, make(chan struct{})
	go r.run(claimCtx, deliverCtx, r.done)
	return nil
}

// Stop stops claiming and lets in-flight deliveries finish until ctx ends;
// then it cancels them, and a canceled delivery's message is released with
// its attempt given back. Stop returns when every goroutine has ended.
// Stopping twice, or a relay never started, is fine.
func (r *Relay) Stop(ctx context.Context) error {
	r.mu.Lock()
	done, cancel, cancelDeliveries := r.done, r.cancel, r.cancelDeliveries
	r.stopped = r.stopped || done != nil
	r.mu.Unlock()
	if done == nil {
		return nil
	}
	cancel(errStopping)
	select {
	case <-done:
		cancelDeliveries()
		return nil
	case <-ctx.Done():
		cancelDeliveries()
		<-done
		return ctx.Err()
	}
}

var errStopping = errors.New("outbox: relay stopping")

func (r *Relay) run(ctx, deliverCtx context.Context, done chan struct{}) {
	defer close(done)
	var helpers sync.WaitGroup
	defer helpers.Wait()
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
	// Successful deliveries are recorded in batches when the store can.
	if bc, ok := r.cfg.Store.(BatchCompleter); ok {
		r.completer = newCompleter(r, bc)
		go r.completer.run(context.WithoutCancel(deliverCtx))
		defer r.completer.close() // after the workers: it records their last outcomes
	}

	// Workers deliver the messages of queue, which the claim loop keeps
	// up to a batch ahead of them, so that a worker finishing a delivery
	// starts the next at once instead of waiting for a claim. held counts
	// the messages claimed and not yet finished, queued or in flight.
	queue := make(chan Delivery, r.cfg.BatchSize)
	var held atomic.Int64
	freed := make(chan struct{}, 1)
	// The lease keeper outlives the workers: deliveries still running
	// after Stop are renewed until they end.
	r.leases = newLeaseKeeper(r.cfg.Store, r.cfg.Lease, r.cfg.Logger)
	stopLeases, leasesDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(leasesDone)
		r.leases.run(deliverCtx, stopLeases)
	}()
	defer func() {
		close(stopLeases)
		<-leasesDone
	}()
	var workers sync.WaitGroup
	defer workers.Wait() // deliveries finish (or are canceled by Stop)
	defer close(queue)
	for range r.cfg.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for d := range queue {
				if ctx.Err() != nil {
					r.giveBack(deliverCtx, d) // claimed ahead, not started: stopping
				} else if d, ok := r.renewIfOld(deliverCtx, d); ok {
					r.deliver(deliverCtx, d)
				}
				held.Add(-1)
				if d.OrderingKey != "" {
					r.kickClaims() // the next message of its key may be due
				}
				signal(freed)
			}
		}()
	}

	// Claim when at least half a batch fits, so that claims are few and
	// full; after a claim that found fewer messages than it asked for,
	// claim again only when something may have become due: a
	// notification, a retry the relay scheduled falling due, the poll, a
	// message of an ordering key finishing, or a place freeing while
	// destinations were skipped.
	threshold := max(1, r.cfg.BatchSize/2)
	drained, skipping := false, false
	for ctx.Err() == nil {
		n := min(r.cfg.BatchSize, r.cfg.Workers+r.cfg.BatchSize-int(held.Load()))
		if n >= threshold && !drained {
			now := time.Now()
			skip := r.skipped(now)
			claimed, err := r.cfg.Store.Claim(ctx, now, r.cfg.Lease, n, skip)
			r.retryClaimed(now) // even if the claim failed: no hurry to retry it
			switch {
			case err == nil:
				r.lastPoll.Store(now.UnixNano())
			case ctx.Err() == nil:
				r.cfg.Logger.Warn("outbox: claiming messages failed", "error", err.Error())
			}
			held.Add(int64(len(claimed)))
			for _, d := range claimed {
				queue <- d
			}
			drained, skipping = len(claimed) < n, len(skip) > 0
			if !drained {
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
		case <-freed:
			if skipping {
				drained = false
			}
		}
		t.Stop()
	}
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

// deliver runs one attempt and records its outcome.
func (r *Relay) deliver(ctx context.Context, d Delivery) {
	bg := context.WithoutCancel(ctx)
	var done func(error)
	if r.cfg.Breakers != nil {
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
			r.hold(bg, d, b)
			return
		}
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
	dctx, end := r.leases.start(ctx, d)
	start := time.Now()
	err := r.cfg.Sender.Send(dctx, d)
	lost := context.Cause(dctx)
	end()
	dur := time.Since(start)

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
	switch {
	case err == nil && r.completer != nil:
		r.completer.add(d, now) // recorded, and observed, with a batch
	case err == nil:
		if r.record("sent", d, r.persist(bg, func(ctx context.Context) error { return r.cfg.Store.MarkSent(ctx, d.ID, d.Attempt, now) })) {
			r.observe(bg, rebound.Event{Kind: rebound.CallFinished, Endpoint: d.Destination, Attempt: callAttempts(d), Result: rebound.ResultSuccess, Elapsed: now.Sub(d.CreatedAt)})
		}
	case cl.Class == rebound.Logic || (!cl.Retryable && !cl.Marked):
		r.kill(bg, d, "permanent", err, rebound.ReasonPermanent, cl.Class)
	case d.Attempt >= lim.maxAttempts:
		r.kill(bg, d, "exhausted", err, rebound.ReasonExhausted, cl.Class)
	default:
		wait := cl.RetryAfter
		if wait <= 0 {
			wait = lim.backoff.Delay(d.Attempt, 0, r.cfg.Rand())
		}
		wait = min(max(wait, 0), r.cfg.MaxRetryAfter)
		next := now.Add(wait)
		if next.Sub(d.CreatedAt) >= lim.maxAge {
			r.kill(bg, d, "deadline", err, rebound.ReasonDeadline, cl.Class)
			return
		}
		if r.record("retry", d, r.persist(bg, func(ctx context.Context) error {
			return r.cfg.Store.MarkRetry(ctx, d.ID, d.Attempt, next, errText(err), statusOf(err))
		})) {
			r.retryScheduled(next)
			elapsed := now.Sub(d.CreatedAt)
			r.cfg.Logger.Info("outbox: retrying", "id", d.ID, rebound.KeyEndpoint, d.Destination, rebound.KeyAttempt, d.Attempt,
				rebound.KeyReason, cl.Class.String(), rebound.KeyElapsed, elapsed, rebound.KeyWait, wait, rebound.KeyError, errText(err))
			r.observe(bg, rebound.Event{Kind: rebound.RetryScheduled, Endpoint: d.Destination, Attempt: d.Attempt, Class: cl.Class, Err: err, Wait: wait, Elapsed: elapsed})
			r.observe(bg, rebound.Event{Kind: rebound.CallFinished, Endpoint: d.Destination, Attempt: callAttempts(d), Class: cl.Class, Err: err, Result: rebound.ResultRetrying, Elapsed: elapsed})
		}
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

func (r *Relay) observe(ctx context.Context, e rebound.Event) {
	if r.cfg.Observer != nil {
		r.cfg.Observer.Observe(ctx, e)
	}
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

// callAttempts is the Attempt of the call a delivery reports: 1 for a
// message's first delivery, 2 for a redelivery, which is one retry.
func callAttempts(d Delivery) int { return min(d.Attempt, 2) }

// destinationFault reports whether a failure says the destination itself
// is unwell (unreachable, timing out, overloaded or behind a failing
// gateway) rather than rejecting this one message.
func destinationFault(class rebound.Class, status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case 0:
		return class == rebound.Connection
	}
	return false
}

// ownFailure reports whether a message's last attempt failed on the
// message's own account: a retry of such a message says little about its
// destination.
func ownFailure(d Delivery) bool {
	if d.Attempt <= 1 || d.LastError == "" {
		return false
	}
	// The stored outcome has no class; an error without a status was the
	// network's (a store keeps a status for every answer).
	return d.LastStatus != 0 && !destinationFault(rebound.Response, d.LastStatus)
}

// breakerOutcome is what a delivery tells its destination's breaker. A
// success, and a failure of the destination, count as they are. A message
// failing on its own account counts toward the failure rate on its first
// attempt only, so that failures spread over many messages open the
// breaker while a few messages failing again and again (poison) do not.
func breakerOutcome(d Delivery, err error, cl rebound.Classification) error {
	switch {
	case err == nil || cl.Class == rebound.Logic || destinationFault(cl.Class, statusOf(err)):
		return err
	case d.Attempt <= 1:
		return rebound.Isolated(err)
	}
	return context.Canceled // not counted
}
