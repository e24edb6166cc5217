package reboundhttp

import (
	"context"
	"net/http"

	"github.com/rebound-go/rebound"
)

// roundTripCall is the state of one RoundTrip across its attempts. It lives
// on roundTrip's stack.
type roundTripCall struct {
	req     *http.Request  // the caller's request, never modified
	first   *http.Request  // req, or a copy of it holding a buffered body
	header  http.Header    // req's header with a generated Idempotency-Key, or nil
	jc      *jsonCall      // set when the request comes from DoJSON
	attempt int            // the number of the current attempt, from 1
	prev    *http.Response // the last attempt's failed response, discarded by the next
	sent    bool           // an attempt handed first's body to the base transport
}

// roundTrip runs the attempts. When jc is not nil the request comes from
// DoJSON, and the body of each successful response is checked to be JSON
// inside its attempt, so that a malformed one is retried.
//
// The steps: prepare readies the call once; each attempt builds its
// request (attemptRequest), sends it (send) and judges the response
// (judge); rebound.Do decides whether to retry and waits; handOver turns
// its outcome into what net/http would return.
func (t *Transport) roundTrip(req *http.Request, jc *jsonCall) (*http.Response, error) {
	if jc != nil {
		jc.sent.Store(true)
	}
	c := roundTripCall{req: req, jc: jc}
	p, err := t.prepare(&c)
	if err != nil {
		return nil, err
	}
	if p.Hedger != nil {
		return t.roundTripHedged(c, p) // c copied: this call's c stays on the stack
	}
	// The request body is closed by the base transport of the attempt that
	// sends it; if no attempt sends it, close it here.
	defer func() {
		if !c.sent && c.first.Body != nil {
			c.first.Body.Close()
		}
	}()
	resp, err := rebound.Do(req.Context(), p, func(ctx context.Context) (*http.Response, error) {
		return t.attempt(ctx, &c)
	})
	return t.handOver(&c, resp, err)
}

// prepare readies the call: the body to replay (one attempt only when it
// cannot be), the Idempotency-Key to generate, and the request's policy:
// NonIdempotent when the method and headers say so, and the endpoint's
// label, breaker and budget.
func (t *Transport) prepare(c *roundTripCall) (rebound.Policy, error) {
	p := t.cfg.Policy
	req := c.req
	first, replayable, err := prepareBody(req, t.cfg.MaxBufferedBody)
	if err != nil {
		return p, err
	}
	c.first = first
	if !replayable {
		p.MaxAttempts = 1
		p.Hedger = nil
	}
	if !safeMethod(req.Method) && !hasIdempotencyKey(req.Header) {
		if t.cfg.IdempotencyKeys && (req.Method == http.MethodPost || req.Method == http.MethodPatch) {
			c.header = req.Header.Clone()
			if c.header == nil {
				c.header = make(http.Header)
			}
			c.header.Set("Idempotency-Key", newIdempotencyKey())
		} else {
			p.NonIdempotent = true
		}
	}
	if !safeMethod(req.Method) {
		// Not even with an Idempotency-Key: the server would answer the
		// hedge 409 while the first request runs.
		p.Hedger = nil
	}
	if t.labelled {
		label := t.label(req)
		p.Endpoint = label
		if t.cfg.Breakers != nil {
			p.Breaker = t.cfg.Breakers.Get(label)
		}
		if t.cfg.Budgets != nil {
			p.Budget = t.cfg.Budgets.Get(label)
		}
		if t.cfg.Hedgers != nil && p.Hedger == nil && replayable && safeMethod(req.Method) {
			p.Hedger = t.cfg.Hedgers.Get(label)
		}
	}
	return p, nil
}

// attempt runs one attempt: it discards the response of the attempt before,
// then builds, sends and judges this one's request.
func (t *Transport) attempt(ctx context.Context, c *roundTripCall) (*http.Response, error) {
	if c.prev != nil {
		discard(c.prev)
		c.prev = nil
	}
	c.attempt++
	areq, done, err := t.attemptRequest(ctx, c)
	if err != nil {
		return nil, err
	}
	c.sent = true
	resp, err := t.send(areq, done)
	if err != nil {
		return nil, err
	}
	return t.judge(c, resp)
}

// attemptRequest returns the request an attempt sends, and the function
// that ends the attempt's own timeout context (nil when it has none). The
// attempt sends first itself when it can, else one copy that carries
// whatever differs: its timeout context, its replayed body, the generated
// key, and with t.attempts the attempt (see AttemptOf), always a copy then.
func (t *Transport) attemptRequest(ctx context.Context, c *roundTripCall) (*http.Request, func(), error) {
	first := c.first
	areq := first
	actx := ctx
	var done func()
	if t.timer != nil {
		actx, done = t.timer.context(ctx) // ctx itself when its deadline comes first
	}
	switch {
	case t.attempts:
		// The copy and the attempt's context are one allocation:
		// WithContext, inlined, makes its copy on the stack.
		ar := new(attemptRequest)
		ar.ctx = attemptCtx{Context: actx, n: c.attempt}
		ar.req = *first.WithContext(&ar.ctx)
		areq = &ar.req
	case t.timer != nil && actx != first.Context():
		areq = first.WithContext(actx)
	}
	if c.attempt > 1 && first.GetBody != nil && first.Body != nil && first.Body != http.NoBody {
		body, err := first.GetBody()
		if err != nil {
			if done != nil {
				done()
			}
			return nil, nil, rebound.Permanent(err)
		}
		if areq == first {
			r := new(http.Request)
			*r = *first
			areq = r
		}
		areq.Body = body
	}
	if c.header != nil {
		if areq == c.req {
			r := new(http.Request)
			*r = *c.req
			areq = r
		}
		areq.Header = c.header
	}
	return areq, done, nil
}

// send hands the attempt's request to the base transport. The attempt's
// timeout context (done) ends when the response's body is closed, or at
// once when there is no response.
func (t *Transport) send(areq *http.Request, done func()) (*http.Response, error) {
	resp, err := t.base.RoundTrip(areq)
	if err != nil {
		if done != nil {
			done()
		}
		return nil, err
	}
	if done != nil {
		resp.Body = &doneBody{ReadCloser: resp.Body, done: done}
	}
	if resp.Request == nil {
		resp.Request = areq // as net/http's Transport does; the status rule reads it
	}
	return resp, nil
}

// judge classifies an attempt's response. A failed one (by the status rule,
// or a DoJSON success whose body is not JSON) is returned with its error
// and kept in c.prev, to be discarded by the next attempt.
func (t *Transport) judge(c *roundTripCall, resp *http.Response) (*http.Response, error) {
	cl, failed := t.classify(resp)
	if !failed {
		if c.jc != nil && wantsJSONBody(resp) {
			if err := checkJSON(resp); err != nil {
				c.prev = resp
				return resp, err
			}
		}
		return resp, nil
	}
	c.prev = resp
	return resp, newStatusError(resp, cl, nil, peekBody(resp))
}

// handOver turns the outcome of rebound.Do into RoundTrip's. When retrying
// stopped on a response, that response is returned, unread, with a nil
// error, as net/http would (DoJSON learns why from c.jc); otherwise the
// error is the *rebound.Error, labelled with the request's endpoint.
func (t *Transport) handOver(c *roundTripCall, resp *http.Response, err error) (*http.Response, error) {
	if err == nil {
		return resp, nil
	}
	e, _ := err.(*rebound.Error)
	if e != nil && e.Endpoint == "" {
		e.Endpoint = t.label(c.req) // computed only now, so that a success never pays for it
	}
	if resp != nil && e != nil && e.Reason != rebound.ReasonCanceled {
		if c.jc != nil {
			c.jc.gaveUp.Store(e)
		}
		return resp, nil
	}
	if resp != nil {
		discard(resp)
	}
	return nil, err
}
