package rebound

import (
	"context"
	"sync"
	"time"
)

// Hold tells a hedged Do that the value an attempt returns keeps using the
// attempt's context after the function returns: a response body the caller
// has yet to read, a stream. Call it from the function, with the context Do
// gave it, before returning the value; discard releases the value (drains
// and closes a body) and runs only if Do does not return it.
//
// Of the concurrent runs of a hedged attempt, Do returns one value and
// cancels the others' contexts after calling their discard. The context of
// the run whose value Do returns is canceled when Do returns, unless the
// run called Hold: then it stays live until the returned release is
// called (close the body, end the stream) or the caller's context ends.
// That is how a hedge's winner is never canceled before the caller has
// read it.
//
// Outside a hedged attempt (no Hedger, a NonIdempotent policy, or a
// Hedger that does not yet know its delay) Hold does nothing: discard is
// never called and release does nothing; the context is then the caller's,
// or ends with Policy.AttemptTimeout as usual.
func Hold(ctx context.Context, discard func()) (release func()) {
	r, _ := ctx.Value(holdKey{}).(*hedgeRun)
	if r == nil {
		return func() {}
	}
	r.mu.Lock()
	r.held = true
	r.discard = discard
	r.mu.Unlock()
	return r.cancel
}

type holdKey struct{}

// hedgeRun is one run of a hedged attempt: the attempt itself (n 0) or a
// hedge.
type hedgeRun struct {
	ctx    hedgeCtx
	cancel context.CancelFunc
	n      int           // 0 for the attempt itself, else the hedge's number
	start  time.Duration // instant the run started

	mu      sync.Mutex
	done    bool // its result is in the results channel
	lost    bool // its value will not be returned: drop it when it comes
	held    bool
	discard func()
}

// hedgeCtx is a run's context: it answers Hold's lookup.
type hedgeCtx struct {
	context.Context
	run *hedgeRun
}

func (c *hedgeCtx) Value(key any) any {
	if key == (holdKey{}) {
		return c.run
	}
	return c.Context.Value(key)
}

// drop discards the run's value, if it holds one, and ends its context.
func (r *hedgeRun) drop() {
	r.mu.Lock()
	d := r.discard
	r.discard = nil
	r.mu.Unlock()
	if d != nil {
		d()
	}
	r.cancel()
}

// keep ends the context of the run whose value is returned, unless the
// value holds it.
func (r *hedgeRun) keep() {
	r.mu.Lock()
	held := r.held
	r.mu.Unlock()
	if !held {
		r.cancel()
	}
}

// runPanic carries the value a run's fn panicked with to the caller's
// goroutine.
type runPanic struct{ value any }

func (p *runPanic) Error() string { return "rebound: hedged run panicked" }

type hedgeResult[T any] struct {
	v   T
	err error
	run *hedgeRun
}

// DoHedged is Do for calls that may be hedged: when p.Hedger is set and
// p.NonIdempotent is not, each attempt still running after the hedger's
// delay gets another run of fn beside it, up to HedgeConfig.MaxHedges and
// within the hedger's budget, and the first success is the attempt's
// answer. The runs left are canceled, and their values dropped (see
// Hold). A failure the policy would not retry ends the attempt at once; a
// retryable one waits for the runs still going, and the attempt fails
// with the last failure when none is left; then the policy retries as Do
// does (backoff, budget, breaker: the attempt with its hedges counts
// once). Each run gets its own Policy.AttemptTimeout.
//
// fn must be safe to run on several goroutines at once, and must return
// promptly once its context ends. Runs that lose may still be running
// when DoHedged returns. A panic in fn is raised again on the caller's
// goroutine, after the other runs are canceled; one in a run that already
// lost is lost with it.
//
// Without a Hedger, or for a NonIdempotent policy, DoHedged is Do (fn then
// runs on the caller's goroutine); DoHedged itself allocates, because fn
// may run on other goroutines.
func DoHedged[T any](ctx context.Context, p Policy, fn func(context.Context) (T, error)) (T, error) {
	if p.Hedger == nil || p.NonIdempotent {
		p.Hedger = nil
		return Do(ctx, p, fn)
	}
	if err := p.Validate(); err != nil {
		var zero T
		return zero, err
	}
	h := &hedgedCall[T]{p: p, fn: fn, start: now()}
	// The attempts of the loop are the hedged ones: each of their runs
	// gets its own timeout.
	q := p
	q.Hedger = nil
	q.AttemptTimeout = 0
	var zero T
	// When the call fails, the value returned is the last attempt's: its
	// run, if held, stays so for the caller to release.
	return retry(ctx, &q, h.run, zero, nil, h.start, false)
}

// hedgedCall is the state of one DoHedged call across its attempts.
type hedgedCall[T any] struct {
	p        Policy
	fn       func(context.Context) (T, error)
	start    time.Duration
	attempts int
	held     *hedgeRun // the run whose failed value the last attempt returned
}

func (h *hedgedCall[T]) observe(ctx context.Context, e Event) {
	if h.p.Observer != nil {
		e.Endpoint = h.p.Endpoint
		h.p.Observer.Observe(ctx, e)
	}
}

// run runs one attempt: fn runs, and each delay that passes without an
// answer starts one more run of it. Until the hedger knows its delay, fn
// runs alone and its latency is measured.
func (h *hedgedCall[T]) run(ctx context.Context) (T, error) {
	p := &h.p
	hg := p.Hedger
	h.attempts++
	if h.held != nil {
		// The value of the attempt before, which failed.
		h.held.drop()
		h.held = nil
	}
	at := now()
	hg.recordAttempt(at)
	delay, ok := hg.delay(at)
	if !ok {
		actx, cancel := ctx, context.CancelFunc(nil)
		if p.AttemptTimeout > 0 {
			actx, cancel = context.WithTimeout(ctx, p.AttemptTimeout)
		}
		v, err := h.fn(actx)
		if cancel != nil {
			cancel()
		}
		if err == nil {
			end := now()
			hg.lat.record(end, end-at)
		}
		return v, err
	}
	maxRuns := 1 + hg.cfg.MaxHedges
	results := make(chan hedgeResult[T], maxRuns)
	runs := make([]*hedgeRun, 0, maxRuns)
	launch := func() {
		r := &hedgeRun{n: len(runs), start: now()}
		var rctx context.Context
		if p.AttemptTimeout > 0 {
			rctx, r.cancel = context.WithTimeout(ctx, p.AttemptTimeout)
		} else {
			rctx, r.cancel = context.WithCancel(ctx)
		}
		r.ctx = hedgeCtx{Context: rctx, run: r}
		runs = append(runs, r)
		go func() {
			var v T
			var err error
			func() {
				defer func() {
					if x := recover(); x != nil {
						err = &runPanic{x}
					}
				}()
				v, err = h.fn(&r.ctx)
			}()
			r.mu.Lock()
			if r.lost {
				r.mu.Unlock()
				r.drop()
				return
			}
			r.done = true
			results <- hedgeResult[T]{v, err, r} // buffered for every run: never blocks
			r.mu.Unlock()
		}()
	}
	launch()
	timer := time.NewTimer(delay)
	defer timer.Stop()
	timerC := timer.C
	inflight := 1
	var last *hedgeRun
	for {
		select {
		case <-timerC:
			timerC = nil
			if ctx.Err() != nil {
				continue
			}
			t := now()
			if !hg.allowHedge(t) {
				h.observe(ctx, Event{Kind: HedgeRejected, Attempt: h.attempts, Hedge: uint8(len(runs)), Elapsed: t - h.start})
				continue
			}
			launch()
			inflight++
			h.observe(ctx, Event{Kind: HedgeStarted, Attempt: h.attempts, Hedge: uint8(len(runs) - 1), Wait: delay, Elapsed: t - h.start})
			if len(runs) < maxRuns {
				timer.Reset(delay)
				timerC = timer.C
			}
		case res := <-results:
			inflight--
			end := now()
			r := res.run
			if p, ok := res.err.(*runPanic); ok {
				// fn panicked on a run's goroutine: end the others and
				// panic on the caller's, as Do would.
				h.settle(ctx, runs, r, results, end, false)
				r.cancel()
				panic(p.value)
			}
			if res.err == nil {
				hg.lat.record(end, end-r.start)
				if last != nil {
					last.drop()
				}
				h.settle(ctx, runs, r, results, end, true)
				if r.n > 0 {
					h.observe(ctx, Event{Kind: HedgeFinished, Attempt: h.attempts, Hedge: uint8(r.n), Result: ResultWon, Duration: end - r.start, Elapsed: end - h.start})
				}
				r.keep()
				return res.v, nil
			}
			cl := classifyAttempt(ctx, p, res.err)
			if r.n > 0 {
				h.observe(ctx, Event{Kind: HedgeFinished, Attempt: h.attempts, Hedge: uint8(r.n), Result: ResultFailure, Class: cl.Class, Err: res.err, Duration: end - r.start, Elapsed: end - h.start})
			}
			if last != nil {
				last.drop()
			}
			last = r
			if inflight == 0 || cl.Class == Canceled || !p.retries(cl) {
				h.settle(ctx, runs, r, results, end, false)
				r.keep()
				h.held = r
				return res.v, res.err
			}
		}
	}
}

// settleHedges marks every run but keep as lost once the attempt is
// decided: runs still going are canceled (and drop their value when they
// return), and results already sent are dropped. With won, a run cut
// short counts its time so far as a latency sample, since it would have
// taken at least that long.
func (h *hedgedCall[T]) settle(ctx context.Context, runs []*hedgeRun, keep *hedgeRun, results chan hedgeResult[T], end time.Duration, won bool) {
	for _, r := range runs {
		if r == keep {
			continue
		}
		r.mu.Lock()
		running := !r.done
		if running {
			r.lost = true
		}
		r.mu.Unlock()
		if !running {
			continue // dropped already, or waiting in results
		}
		r.cancel()
		if won {
			h.p.Hedger.lat.record(end, end-r.start)
		}
		if r.n > 0 {
			h.observe(ctx, Event{Kind: HedgeFinished, Attempt: h.attempts, Hedge: uint8(r.n), Result: ResultLost, Duration: end - r.start, Elapsed: end - h.start})
		}
	}
	for {
		select {
		case res := <-results:
			res.run.drop()
			if res.run.n > 0 {
				h.observe(ctx, Event{Kind: HedgeFinished, Attempt: h.attempts, Hedge: uint8(res.run.n), Result: ResultLost, Duration: end - res.run.start, Elapsed: end - h.start})
			}
		default:
			return
		}
	}
}
