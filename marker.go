package rebound

import "time"

type markKind uint8

const (
	markPermanent markKind = iota + 1
	markTransient
	markRetryAfter
)

// marked is the one type behind Permanent, Transient and RetryAfter, so that
// errors.As finds the outermost marker of an error chain.
type marked struct {
	err  error
	kind markKind
	wait time.Duration
}

func (m *marked) Error() string {
	if m.err == nil {
		return "<nil>"
	}
	return m.err.Error()
}

func (m *marked) Unwrap() error { return m.err }

// Permanent marks err as a Logic error: it is never retried. Permanent(nil)
// returns nil. errors.Is and errors.As see through the mark.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, kind: markPermanent}
}

// Transient marks err as worth retrying whatever its class; the policy's
// attempt cap, backoff, budget and deadline still apply. Transient(nil)
// returns nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, kind: markTransient}
}

// RetryAfter marks err as worth retrying after at least d, as a server asks
// with Retry-After. A d above Policy.MaxRetryAfter makes the call give up
// with ReasonWaitTooLong. A negative d counts as zero. RetryAfter(nil, d)
// returns nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	if d < 0 {
		d = 0
	}
	return &marked{err: err, kind: markRetryAfter, wait: d}
}

// classifyMarked classifies an error that carries a marker; ok is false when
// it carries none.
func classifyMarked(err error) (Classification, bool) {
	var f facts
	f.gather(err, 0)
	m := f.mark
	if m == nil {
		return Classification{}, false
	}
	if m.kind == markPermanent {
		return Classification{Class: Logic}, true
	}
	c := classifyBuiltin(m.err)
	if c.Class == Logic || c.Class == Canceled {
		c.Class = Unknown
	}
	c.Retryable = true
	c.Marked = true
	if m.kind == markRetryAfter {
		c.RetryAfter = m.wait
	}
	return c, true
}
