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

type hedgeResult[T any] struct {
	v   T
	err error
	run *hedgeRun
}

// runHedged runs one attempt of a call whose policy has a Hedger: fn runs,
// and each delay that passes without an answer starts one more run of it,
// up to MaxHedges and within the hedger's budget. The first success is
// returned and the other runs are canceled and dropped. A failure that the
// policy would not retry ends the attempt at once; a retryable one waits
// for the runs still going, and the attempt fails with the last failure
// when none is left. Until the hedger knows its delay, fn runs alone and
// its latency is measured.
func runHedged[T any](ctx context.Context, c *call, fn func(context.Context) (T, error)) (T, error) {
	p := c.p
	h := p.Hedger
	at := now()
	h.recordAttempt(at)
	delay, ok := h.delay(at)
	if !ok {
		actx, cancel := ctx, context.CancelFunc(nil)
		if p.AttemptTimeout > 0 {
			actx, cancel = context.WithTimeout(ctx, p.AttemptTimeout)
		}
		v, err := fn(actx)
		if cancel != nil {
			cancel()
		}
		if err == nil {
			end := now()
			h.lat.record(end, end-at)
		}
		return v, err
	}
	maxRuns := 1 + h.cfg.MaxHedges
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
			v, err := fn(&r.ctx)
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
	var last *hedgeResult[T]
	for {
		select {
		case <-timerC:
			timerC = nil
			if ctx.Err() != nil {
				continue
			}
			t := now()
			if !h.allowHedge(t) {
				c.observe(ctx, Event{Kind: HedgeRejected, Attempt: c.attempt, Hedge: uint8(len(runs)), Elapsed: t - c.start})
				continue
			}
			launch()
			inflight++
			c.observe(ctx, Event{Kind: HedgeStarted, Attempt: c.attempt, Hedge: uint8(len(runs) - 1), Wait: delay, Elapsed: t - c.start})
			if len(runs) < maxRuns {
				timer.Reset(delay)
				timerC = timer.C
			}
		case res := <-results:
			inflight--
			end := now()
			r := res.run
			if res.err == nil {
				h.lat.record(end, end-r.start)
				if last != nil {
					last.run.drop()
				}
				settleHedges(ctx, c, runs, r, results, end, true)
				if r.n > 0 {
					c.observe(ctx, Event{Kind: HedgeFinished, Attempt: c.attempt, Hedge: uint8(r.n), Result: ResultWon, Duration: end - r.start, Elapsed: end - c.start})
				}
				r.keep()
				return res.v, nil
			}
			cl := c.classify(ctx, res.err)
			if r.n > 0 {
				c.observe(ctx, Event{Kind: HedgeFinished, Attempt: c.attempt, Hedge: uint8(r.n), Result: ResultFailure, Class: cl.Class, Err: res.err, Duration: end - r.start, Elapsed: end - c.start})
			}
			if last != nil {
				last.run.drop()
			}
			last = &res
			if inflight == 0 || cl.Class == Canceled || !p.retries(cl) {
				settleHedges(ctx, c, runs, r, results, end, false)
				r.keep()
				c.held = r
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
func settleHedges[T any](ctx context.Context, c *call, runs []*hedgeRun, keep *hedgeRun, results chan hedgeResult[T], end time.Duration, won bool) {
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
			c.p.Hedger.lat.record(end, end-r.start)
		}
		if r.n > 0 {
			c.observe(ctx, Event{Kind: HedgeFinished, Attempt: c.attempt, Hedge: uint8(r.n), Result: ResultLost, Duration: end - r.start, Elapsed: end - c.start})
		}
	}
	for {
		select {
		case res := <-results:
			res.run.drop()
			if res.run.n > 0 {
				c.observe(ctx, Event{Kind: HedgeFinished, Attempt: c.attempt, Hedge: uint8(res.run.n), Result: ResultLost, Duration: end - res.run.start, Elapsed: end - c.start})
			}
		default:
			return
		}
	}
}
