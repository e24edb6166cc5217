package rebound

import (
	"math"
	"time"
)

// A Backoff computes the wait before a retry. Delay must be a pure function
// of its arguments so that schedules can be tested exactly:
//
//   - retry is 1 for the wait before the second attempt, 2 before the third…
//   - prev is the wait chosen before the previous retry (0 before the first);
//     only decorrelated jitter uses it.
//   - u is a uniform random draw in [0, 1).
//
// A Backoff must be safe for concurrent use; the ones in this package are
// immutable values.
type Backoff interface {
	Delay(retry int, prev time.Duration, u float64) time.Duration
}

// Jitter chooses how Exponential spreads its waits.
type Jitter uint8

const (
	// FullJitter waits a uniform draw in [0, d), where d is the exponential
	// delay. It spreads a crowd of clients best and is the default.
	FullJitter Jitter = iota
	// EqualJitter waits d/2 plus a uniform draw in [0, d/2).
	EqualJitter
	// DecorrelatedJitter waits a uniform draw in [Initial, 3·prev), capped at
	// Max, where prev is the previous wait.
	DecorrelatedJitter
	// NoJitter waits exactly d.
	NoJitter
)

// String returns the jitter's name.
func (j Jitter) String() string {
	switch j {
	case FullJitter:
		return "full"
	case EqualJitter:
		return "equal"
	case DecorrelatedJitter:
		return "decorrelated"
	case NoJitter:
		return "none"
	}
	return "jitter(?)"
}

// Exponential is the backoff d = min(Max, Initial·Multiplier^(retry-1)),
// spread by Jitter. Its zero value is the default: 1 s doubling up to 10 s
// with full jitter.
type Exponential struct {
	// Initial is the delay before the first retry. Default 1 s.
	Initial time.Duration
	// Max caps every delay. Default 10 s.
	Max time.Duration
	// Multiplier is the growth factor per retry, at least 1. Default 2.
	Multiplier float64
	// Jitter spreads the delays. Default FullJitter.
	Jitter Jitter
}

// Delay implements Backoff.
func (e Exponential) Delay(retry int, prev time.Duration, u float64) time.Duration {
	initial, maxD, mult := e.Initial, e.Max, e.Multiplier
	if initial <= 0 {
		initial = time.Second
	}
	if maxD <= 0 {
		maxD = 10 * time.Second
	}
	if maxD < initial {
		maxD = initial
	}
	if mult < 1 {
		mult = 2
	}
	if retry < 1 {
		retry = 1
	}
	if e.Jitter == DecorrelatedJitter {
		if prev < initial {
			prev = initial
		}
		hi := 3 * float64(prev)
		if hi > float64(maxD) {
			hi = float64(maxD)
		}
		return time.Duration(float64(initial) + u*(hi-float64(initial)))
	}
	// Compute in float64 so huge retry counts saturate at Max instead of
	// overflowing.
	d := float64(initial) * math.Pow(mult, float64(retry-1))
	if d > float64(maxD) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(maxD)
	}
	return spread(time.Duration(d), e.Jitter, u)
}

func spread(d time.Duration, j Jitter, u float64) time.Duration {
	switch j {
	case FullJitter:
		return time.Duration(u * float64(d))
	case EqualJitter:
		half := d / 2
		return half + time.Duration(u*float64(d-half))
	}
	return d
}

// Constant waits the same duration before every retry, with no jitter. To
// spread a constant wait, use Exponential with Multiplier 1.
type Constant time.Duration

// Delay implements Backoff.
func (c Constant) Delay(int, time.Duration, float64) time.Duration { return time.Duration(c) }

// BackoffFunc adapts a function to the Backoff interface.
type BackoffFunc func(retry int, prev time.Duration, u float64) time.Duration

// Delay calls f.
func (f BackoffFunc) Delay(retry int, prev time.Duration, u float64) time.Duration {
	return f(retry, prev, u)
}
