package reboundhttp

import (
	"context"
	"net/http"
	"sync/atomic"

	"github.com/rebound-go/rebound"
)

// hedgedCall is a roundTripCall whose attempts may run several times at
// once (rebound.DoHedged): what a run changes is its own.
type hedgedCall struct {
	c     roundTripCall
	sends atomic.Int32 // runs started, over every attempt and hedge
	sent  atomic.Bool  // a run handed the first body to the base transport
}

// roundTripHedged is roundTrip for a request that may be hedged.
func (t *Transport) roundTripHedged(c roundTripCall, p rebound.Policy) (*http.Response, error) {
	h := &hedgedCall{c: c}
	defer func() {
		if !h.sent.Load() && h.c.first.Body != nil {
			h.c.first.Body.Close()
		}
	}()
	resp, err := rebound.DoHedged(c.req.Context(), p, h.run(t))
	return t.handOver(&h.c, resp, err)
}

// run returns the function each run of an attempt calls: it sends the
// request (its first run the caller's body, the others a replay), judges
// the response, and holds the run's context for the response's body, so
// that the winner's body stays readable after RoundTrip returns and a
// loser's is drained and closed.
func (h *hedgedCall) run(t *Transport) func(context.Context) (*http.Response, error) {
	return func(ctx context.Context) (*http.Response, error) {
		rc := h.c // this run's own copy: its attempt number, its prev
		rc.attempt = int(h.sends.Add(1))
		areq, done, err := t.attemptRequest(ctx, &rc)
		if err != nil {
			return nil, err
		}
		if rc.attempt == 1 {
			h.sent.Store(true)
		}
		resp, err := t.send(areq, done)
		if err != nil {
			return nil, err
		}
		release := rebound.Hold(ctx, func() { discard(resp) })
		resp.Body = &doneBody{ReadCloser: resp.Body, done: release}
		return t.judge(&rc, resp)
	}
}
