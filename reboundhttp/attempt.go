package reboundhttp

import (
	"context"
	"net/http"
)

// Attempt describes one attempt of a request sent through a Transport. The
// Transport puts it in the context of each attempt's request; the base
// transport (Config.Base) reads it with AttemptOf.
type Attempt struct {
	// N is the attempt's number, counting from 1: 2 is the first retry.
	N int

	ctx context.Context
}

// Context returns the attempt's context as the Transport made it, before
// any RoundTripper in Config.Base added to it. It lets a tracing
// RoundTripper in Base tell whether an instrumentation between it and the
// Transport (such as otelhttp) has already started a span for this
// attempt: the span in the request's context then differs from the one in
// Context().
func (a Attempt) Context() context.Context { return a.ctx }

// AttemptOf returns the attempt whose request carries ctx (or a context
// derived from it), and false when ctx does not come from a Transport's
// attempt.
func AttemptOf(ctx context.Context) (Attempt, bool) {
	if ctx == nil {
		return Attempt{}, false
	}
	a, ok := ctx.Value(attemptKey{}).(*attemptCtx)
	if !ok {
		return Attempt{}, false
	}
	return Attempt{N: a.n, ctx: a}, true
}

type attemptKey struct{}

// attemptRequest is an attempt's copy of the request and its context,
// allocated together.
type attemptRequest struct {
	req http.Request
	ctx attemptCtx
}

// attemptCtx is an attempt's context: its parent with the attempt's number.
// It is a context.WithValue of its own kind, allocated with the attempt's
// copy of the request (attemptRequest), so that an attempt costs one
// allocation for both. Everything else is the parent's: the context package finds the parent's
// cancelation through Value and derives children without a goroutine.
type attemptCtx struct {
	context.Context
	n int
}

func (c *attemptCtx) Value(key any) any {
	if _, ok := key.(attemptKey); ok {
		return c
	}
	return c.Context.Value(key)
}
