package rebound

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Reason says why a call stopped retrying.
type Reason uint8

const (
	// ReasonNone is the zero Reason: the call has not given up.
	ReasonNone Reason = iota
	// ReasonExhausted: the attempt cap was reached.
	ReasonExhausted
	// ReasonPermanent: the last error was not retryable (a Logic error, a
	// class outside Policy.RetryOn, a Permanent mark, or a failure that may
	// have been processed by a Policy.NonIdempotent operation).
	ReasonPermanent
	// ReasonBudget: the retry budget refused another retry.
	ReasonBudget
	// ReasonDeadline: the next wait would end after the context deadline or
	// after Policy.MaxElapsed.
	ReasonDeadline
	// ReasonCircuitOpen: the circuit breaker refused the attempt.
	ReasonCircuitOpen
	// ReasonWaitTooLong: the server asked for a wait above
	// Policy.MaxRetryAfter.
	ReasonWaitTooLong
	// ReasonCanceled: the caller's context was canceled or its deadline
	// passed.
	ReasonCanceled

	numReasons
)

var reasonNames = [numReasons]string{"", "exhausted", "permanent", "budget", "deadline", "circuit_open", "wait_too_long", "canceled"}

// String returns the snake_case name used in logs and metric labels.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// The reason sentinels: errors.Is(err, ErrBudget) reports whether a call gave
// up because of its retry budget, and so on.
var (
	ErrExhausted   = &reasonError{ReasonExhausted}
	ErrPermanent   = &reasonError{ReasonPermanent}
	ErrBudget      = &reasonError{ReasonBudget}
	ErrDeadline    = &reasonError{ReasonDeadline}
	ErrCircuitOpen = &reasonError{ReasonCircuitOpen}
	ErrWaitTooLong = &reasonError{ReasonWaitTooLong}
	ErrCanceled    = &reasonError{ReasonCanceled}
)

// reasonSentinels holds the one sentinel of each Reason.
var reasonSentinels = [numReasons]error{nil, ErrExhausted, ErrPermanent, ErrBudget, ErrDeadline, ErrCircuitOpen, ErrWaitTooLong, ErrCanceled}

// sentinel returns the sentinel error of r, or nil for ReasonNone.
func (r Reason) sentinel() error {
	if r < numReasons {
		return reasonSentinels[r]
	}
	return nil
}

type reasonError struct{ r Reason }

func (e *reasonError) Error() string { return "rebound: " + e.r.String() }

// Error is the one error Do returns when a call fails. It says why retrying
// stopped and what failed last. errors.Is(err, ErrExhausted) and its siblings
// match the Reason; errors.Is and errors.As also reach Last, and, for
// ReasonCanceled, the context's cause.
type Error struct {
	// Endpoint is Policy.Endpoint.
	Endpoint string
	// Reason says why retrying stopped.
	Reason Reason
	// Attempts is how many times the function ran (0 when the breaker
	// refused the first attempt or the context was done before it).
	Attempts int
	// Elapsed is the time from the start of the call to giving up. When
	// nothing needs the clock up front (no Observer, Breaker, Budget,
	// MaxElapsed or AttemptTimeout) the clock is first read when the first
	// attempt fails, so Elapsed leaves that attempt's own duration out (and
	// Error does not print it when that attempt was the only one): a clock
	// read would cost the happy path more than the rest of the call.
	Elapsed time.Duration
	// Class is the classification of Last.
	Class Class
	// Last is the last attempt's error; for ReasonCircuitOpen or
	// ReasonCanceled before any attempt it is the refusal or the context's
	// cause.
	Last error
	// Wait is, for ReasonDeadline and ReasonWaitTooLong, the wait that was
	// refused.
	Wait time.Duration

	cause   error // the context's cause, for ReasonCanceled
	untimed bool  // Elapsed leaves the first attempt out
}

// Error reads "rebound: <endpoint>: gave up (<reason>) after <n> attempts
// in <elapsed>: <last error>", with "failed" instead of "gave up" for
// ReasonPermanent (nothing was left to retry). The elapsed time keeps two
// significant digits (1.2ms, 3.1s); it is left out when it was not
// measured (a single attempt, see Elapsed).
func (e *Error) Error() string {
	s := "rebound: "
	if e.Endpoint != "" {
		s += e.Endpoint + ": "
	}
	if e.Reason == ReasonPermanent {
		s += "failed ("
	} else {
		s += "gave up ("
	}
	s += e.Reason.String() + ") after " + strconv.Itoa(e.Attempts) + " attempt"
	if e.Attempts != 1 {
		s += "s"
	}
	if !e.untimed || e.Attempts > 1 {
		s += " in " + roundElapsed(e.Elapsed).String()
	}
	if e.Last != nil {
		s += ": " + e.Last.Error()
	}
	return s
}

// roundElapsed rounds d to two significant digits: 1.234567ms is 1.2ms,
// 3.0004s is 3s, 87ns stays 87ns.
func roundElapsed(d time.Duration) time.Duration {
	if d < 0 {
		return -roundElapsed(-d)
	}
	unit := time.Duration(1)
	for d/unit >= 100 {
		unit *= 10
	}
	return d.Round(unit)
}

// Unwrap returns Last.
func (e *Error) Unwrap() error { return e.Last }

// Is matches the sentinel of the error's Reason and, for ReasonCanceled, the
// context's cause (context.Canceled or context.DeadlineExceeded).
func (e *Error) Is(target error) bool {
	if target == e.Reason.sentinel() {
		return true
	}
	if e.cause != nil && e.cause != e.Last {
		return errors.Is(e.cause, target)
	}
	return false
}

// canceledCause is context.Cause(ctx), never nil once ctx is done.
func canceledCause(ctx context.Context) error {
	if c := context.Cause(ctx); c != nil {
		return c
	}
	return ctx.Err()
}

// ConfigError reports an invalid configuration field.
type ConfigError struct {
	// Field names the offending field, such as "Policy.MaxAttempts".
	Field string
	// Problem says what was expected.
	Problem string
}

func (e *ConfigError) Error() string { return "rebound: invalid " + e.Field + ": " + e.Problem }
