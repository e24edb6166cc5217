package rebound

import (
	"context"
	"time"
)

// Do runs fn until it succeeds or the policy gives up, and returns its
// result. Each attempt gets ctx, or a child of ctx bounded by
// p.AttemptTimeout.
//
// When the call fails, the error is an *Error saying why retrying stopped,
// and the value is whatever the last attempt returned with its error
// (usually the zero value). An invalid policy returns a *ConfigError without
// running fn.
//
// Do never starts a wait that would end after ctx's deadline or after
// p.MaxElapsed: it gives up at once with ReasonDeadline. It returns promptly
// with ReasonCanceled when ctx is done during a wait.
//
// When the first attempt succeeds and the policy has no Observer, Breaker,
// Budget, MaxElapsed or AttemptTimeout, Do reads no clock and allocates
// nothing; with an Observer it reads the clock twice, unless the Observer
// reads no durations (see Observer).
//
// Do refuses a policy with a Hedger (a *ConfigError): hedging runs fn on
// several goroutines at once, which DoHedged does.
func Do[T any](ctx context.Context, p Policy, fn func(context.Context) (T, error)) (T, error) {
	if err := p.Validate(); err != nil {
		var zero T
		return zero, err
	}
	if p.Hedger != nil {
		var zero T
		return zero, &ConfigError{"Policy.Hedger", "Do runs one attempt at a time: call DoHedged, which runs fn on several goroutines, or leave Policy.Hedger nil"}
	}
	if p.Breaker == nil && p.Budget == nil && p.AttemptTimeout == 0 && ctx.Err() == nil {
		// The first attempt needs neither a breaker ticket nor a budget
		// count nor its own context: run it here, and read the clock only
		// if an observer or MaxElapsed needs it.
		timed := (p.Observer != nil && timedObserver(p.Observer)) || p.MaxElapsed != 0
		var start time.Duration
		if timed {
			start = now()
		}
		v, err := fn(ctx)
		if err == nil {
			if p.Observer != nil {
				var d time.Duration
				if timed {
					d = now() - start
				}
				p.Observer.Observe(ctx, Event{Kind: AttemptFinished, Attempt: 1, Endpoint: p.Endpoint, Duration: d, Elapsed: d})
				p.Observer.Observe(ctx, Event{Kind: CallFinished, Attempt: 1, Endpoint: p.Endpoint, Result: ResultSuccess, Elapsed: d})
			}
			return v, nil
		}
		if !timed {
			start = now() // the first read: Elapsed leaves the first attempt out
		}
		return retry(ctx, &p, fn, v, err, start, !timed)
	}
	var zero T
	return retry(ctx, &p, fn, zero, nil, now(), false)
}

// Run is Do for functions without a result.
func Run(ctx context.Context, p Policy, fn func(context.Context) error) error {
	_, err := Do(ctx, p, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, fn(ctx)
	})
	return err
}

// retry is the general loop of a call that started at instant start. When
// firstErr is not nil, Do has already run the first attempt, which failed with
// (firstV, firstErr); untimed says that start was read after it.
func retry[T any](ctx context.Context, p *Policy, fn func(context.Context) (T, error), firstV T, firstErr error, start time.Duration, untimed bool) (T, error) {
	c := call{p: p, start: start, untimed: untimed}
	v, err := firstV, firstErr
	var cl Classification
	if err != nil {
		c.attempt = 1
		cl = c.classify(ctx, err)
		d := c.elapsed()
		c.observe(ctx, Event{Kind: AttemptFinished, Attempt: 1, Class: cl.Class, Err: err, Duration: d, Elapsed: d})
	} else {
		if p.Budget != nil {
			p.Budget.recordCall(c.start)
		}
		if reason := c.admit(ctx, 0); reason != ReasonNone {
			return v, c.giveUp(ctx, reason, cl.Class, nil, 0)
		}
		v, err, cl = runAttempt(ctx, &c, fn, 0)
		if err == nil {
			return v, nil
		}
	}
	maxAttempts := p.maxAttempts()
	var prevWait time.Duration
	for {
		// Judge the failed attempt.
		switch {
		case cl.Class == Canceled:
			return v, c.giveUp(ctx, ReasonCanceled, cl.Class, err, 0)
		case !p.retries(cl):
			return v, c.giveUp(ctx, ReasonPermanent, cl.Class, err, 0)
		case c.attempt >= maxAttempts:
			return v, c.giveUp(ctx, ReasonExhausted, cl.Class, err, 0)
		}
		var wait time.Duration
		if cl.RetryAfter > 0 {
			wait = cl.RetryAfter
			if wait > p.maxRetryAfter() {
				return v, c.giveUp(ctx, ReasonWaitTooLong, cl.Class, err, wait)
			}
		} else {
			wait = p.delay(c.attempt, prevWait)
			prevWait = wait
		}
		elapsed := c.elapsed()
		if p.MaxElapsed > 0 && elapsed+wait >= p.MaxElapsed {
			return v, c.giveUp(ctx, ReasonDeadline, cl.Class, err, wait)
		}
		if dl, ok := ctx.Deadline(); ok && wait >= time.Until(dl) {
			return v, c.giveUp(ctx, ReasonDeadline, cl.Class, err, wait)
		}
		if p.Budget != nil && !p.Budget.allowRetry(c.start+elapsed) {
			c.observe(ctx, Event{Kind: BudgetRejected, Attempt: c.attempt, Class: cl.Class, Err: err, Elapsed: elapsed})
			return v, c.giveUp(ctx, ReasonBudget, cl.Class, err, wait)
		}
		c.observe(ctx, Event{Kind: RetryScheduled, Attempt: c.attempt, Class: cl.Class, Err: err, Wait: wait, Elapsed: elapsed})
		if !sleep(ctx, wait) {
			return v, c.giveUp(ctx, ReasonCanceled, Canceled, err, 0)
		}
		at := c.elapsed()
		if reason := c.admit(ctx, at); reason != ReasonNone {
			return v, c.giveUp(ctx, reason, cl.Class, err, 0)
		}
		v, err, cl = runAttempt(ctx, &c, fn, at)
		if err == nil {
			return v, nil
		}
	}
}

// runAttempt runs fn once, under the attempt timeout and the breaker ticket
// taken by admit, and reports it. On success it also reports the call. t0 is
// the attempt's start, as time since the call's start.
func runAttempt[T any](ctx context.Context, c *call, fn func(context.Context) (T, error), t0 time.Duration) (T, error, Classification) {
	p := c.p
	c.attempt++
	actx := ctx
	var cancel context.CancelFunc
	if p.AttemptTimeout > 0 {
		actx, cancel = context.WithTimeout(ctx, p.AttemptTimeout)
	}
	v, err := fn(actx)
	if cancel != nil {
		cancel()
	}
	t1 := c.elapsed()
	var cl Classification
	if err != nil {
		cl = c.classify(ctx, err)
	}
	if p.Breaker != nil {
		p.Breaker.record(c.ticket, outcomeOf(err, cl.Class), c.start+t1)
	}
	c.observe(ctx, Event{Kind: AttemptFinished, Attempt: c.attempt, Class: cl.Class, Err: err, Duration: t1 - t0, Elapsed: t1})
	if err == nil {
		c.observe(ctx, Event{Kind: CallFinished, Attempt: c.attempt, Result: ResultSuccess, Elapsed: t1})
	}
	return v, err, cl
}

// call holds the state of one Do call; it lives on Do's stack.
type call struct {
	p       *Policy
	start   time.Duration // instant (clock.go) the call started
	attempt int
	ticket  breakerTicket
	untimed bool // start was read after the first attempt
}

func (c *call) elapsed() time.Duration { return now() - c.start }

// classify classifies an attempt's error, telling the caller's cancellation
// from the attempt's own timeout.
func (c *call) classify(ctx context.Context, err error) Classification {
	return classifyAttempt(ctx, c.p, err)
}

// classifyAttempt classifies an attempt's error under p, telling the
// caller's cancellation from the attempt's own timeout.
func classifyAttempt(ctx context.Context, p *Policy, err error) Classification {
	if ctx.Err() != nil {
		return Classification{Class: Canceled}
	}
	cl := p.Classify(err)
	if cl.Class == Canceled {
		// The caller's context is live, so the attempt was ended by its own
		// timeout or by something below the caller: the peer did not answer
		// in time.
		cl = Classification{Class: Connection, Retryable: true, MaybeProcessed: true}
	}
	return cl
}

// admit checks the context and asks the breaker before an attempt that
// starts at the given time since the call's start.
func (c *call) admit(ctx context.Context, at time.Duration) Reason {
	if ctx.Err() != nil {
		return ReasonCanceled
	}
	if c.p.Breaker != nil {
		t, ok := c.p.Breaker.allow(c.start + at)
		if !ok {
			return ReasonCircuitOpen
		}
		c.ticket = t
	}
	return ReasonNone
}

func (c *call) observe(ctx context.Context, e Event) {
	if c.p.Observer != nil {
		e.Endpoint = c.p.Endpoint
		c.p.Observer.Observe(ctx, e)
	}
}

// giveUp builds the terminal error and reports the end of the call.
func (c *call) giveUp(ctx context.Context, reason Reason, class Class, last error, wait time.Duration) error {
	e := &Error{
		Endpoint: c.p.Endpoint,
		Reason:   reason,
		Attempts: c.attempt,
		Elapsed:  c.elapsed(),
		Class:    class,
		Last:     last,
		Wait:     wait,
		untimed:  c.untimed,
	}
	if reason == ReasonCanceled {
		e.cause = canceledCause(ctx)
		e.Class = Canceled
		if e.Last == nil {
			e.Last = e.cause
		}
	}
	if reason == ReasonCircuitOpen && e.Last == nil {
		e.Last = ErrCircuitOpen
	}
	c.observe(ctx, Event{Kind: CallFinished, Attempt: c.attempt, Class: e.Class, Err: e.Last, Elapsed: e.Elapsed, Result: resultOf(reason, c.attempt), Reason: reason})
	return e
}

func resultOf(r Reason, attempts int) Result {
	switch r {
	case ReasonPermanent, ReasonCanceled:
		return ResultFailure
	case ReasonCircuitOpen:
		if attempts == 0 {
			return ResultRejected
		}
	}
	return ResultGaveUp
}

// sleep waits d or until ctx is done, and reports whether the wait ran out.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
