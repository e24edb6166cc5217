package reboundhttp

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// ErrAttemptTimeout is the cause of an attempt that ran out of its
// per-attempt timeout. It reports Timeout() true, so the attempt classifies
// as a Connection failure and is retried, while the caller's own deadline
// ends the call.
var ErrAttemptTimeout error = attemptTimeoutError{}

type attemptTimeoutError struct{}

func (attemptTimeoutError) Error() string   { return "reboundhttp: attempt timed out" }
func (attemptTimeoutError) Timeout() bool   { return true }
func (attemptTimeoutError) Temporary() bool { return true }

// attemptTimer hands out the contexts that bound attempts.
//
// A context per attempt (context.WithTimeout) costs a timer, a context, a
// cancel function and a done channel: more than the rest of a request. So
// attempts whose parent context can never be canceled (context.Background,
// or values over it) share one deadline context per slot of time. A slot is
// open for one granule (1/64 of the timeout): a timer marks it stale when the
// granule ends, so joining a slot reads no clock. Its deadline is two
// granules plus the timeout after it opened, so each attempt gets between d
// and d + d/32 even when the stale mark runs a little late. Attempts with a
// cancelable parent get their own context, unless the parent's deadline
// comes before the attempt's would: then the parent bounds the attempt.
type attemptTimer struct {
	d, granule time.Duration
	cur        atomic.Pointer[timeoutSlot]
	mu         sync.Mutex
}

type timeoutSlot struct {
	ctx    context.Context
	cancel context.CancelFunc // kept so the context is not reported as leaked
	stale  atomic.Bool        // set when the slot's granule ends: join a new slot
}

func newAttemptTimer(d time.Duration) *attemptTimer {
	g := d / 64
	if g < time.Millisecond {
		g = time.Millisecond
	}
	if g > d {
		g = d
	}
	return &attemptTimer{d: d, granule: g}
}

// context returns the context for an attempt under parent, and a function
// to call when the attempt (including the reading of its body) is over.
func (a *attemptTimer) context(parent context.Context) (context.Context, func()) {
	// The deadline first: Done would make the channel of a context that
	// nothing else waits on.
	if dl, ok := parent.Deadline(); ok && time.Until(dl) <= a.d {
		return parent, nil // the caller's deadline comes first anyway
	}
	if parent.Done() != nil {
		ctx, cancel := context.WithTimeoutCause(parent, a.d, ErrAttemptTimeout)
		return ctx, cancel
	}
	s := a.slot()
	if parent == context.Background() || parent == context.TODO() {
		return s.ctx, nil
	}
	return &valuesCtx{Context: s.ctx, values: parent}, nil
}

func (a *attemptTimer) slot() *timeoutSlot {
	if s := a.cur.Load(); s != nil && !s.stale.Load() {
		return s
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.cur.Load(); s != nil && !s.stale.Load() {
		return s
	}
	// The slot's own timer ends it; nothing else needs to.
	ctx, cancel := context.WithTimeoutCause(context.Background(), a.d+2*a.granule, ErrAttemptTimeout)
	s := &timeoutSlot{ctx: ctx, cancel: cancel}
	time.AfterFunc(a.granule, func() { s.stale.Store(true) })
	a.cur.Store(s)
	return s
}

// valuesCtx is a shared slot context that keeps the values of the request's
// own (never canceled) context. Lookups try the request's values first, then
// the slot, so that the context package finds the slot's cancelation
// machinery and derives children without a goroutine.
type valuesCtx struct {
	context.Context // the slot: Deadline, Done, Err
	values          context.Context
}

func (v *valuesCtx) Value(key any) any {
	if x := v.values.Value(key); x != nil {
		return x
	}
	return v.Context.Value(key)
}
