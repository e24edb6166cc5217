package rebound

import (
	"context"
	"time"
)

// EventKind says which decision an Event reports.
type EventKind uint8

const (
	// AttemptFinished: one run of the function ended. Set: Endpoint,
	// Attempt, Class (for a failure), Err, Duration, Elapsed.
	AttemptFinished EventKind = iota + 1
	// RetryScheduled: another attempt will follow after Wait. Set:
	// Endpoint, Attempt (the one that failed), Class, Err, Wait, Elapsed.
	RetryScheduled
	// CallFinished: Do is returning. Set: Endpoint, Result, Reason (when it
	// did not succeed), Attempt (the number of attempts), Class and Err of
	// the last failure, Elapsed.
	CallFinished
	// BreakerStateChanged: a circuit breaker moved From one state To
	// another. Set: Endpoint (the breaker's name), From, To.
	BreakerStateChanged
	// BudgetRejected: a retry budget refused a retry. Set: Endpoint,
	// Attempt (the one that failed), Class, Err, Elapsed.
	BudgetRejected
	// HedgeStarted: an attempt ran longer than the hedger's delay and a
	// hedge of it started. Set: Endpoint, Attempt (the one hedged), Hedge
	// (its number, from 1), Wait (the delay), Elapsed.
	HedgeStarted
	// HedgeFinished: a hedge ended. Result is ResultWon (its answer is
	// the attempt's), ResultLost (another run answered or failed for good
	// first, and this one was canceled or dropped) or ResultFailure (it
	// failed; Class and Err are set). Set: Endpoint, Attempt, Hedge,
	// Result, Duration (the hedge's own), Elapsed.
	HedgeFinished
	// HedgeRejected: the hedger's budget refused a hedge. Set: Endpoint,
	// Attempt, Hedge (the number it would have had), Elapsed.
	HedgeRejected
)

var eventKindNames = [...]string{"", "attempt_finished", "retry_scheduled", "call_finished", "breaker_state_changed", "budget_rejected", "hedge_started", "hedge_finished", "hedge_rejected"}

// String returns the kind's snake_case name.
func (k EventKind) String() string {
	if int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return "event(?)"
}

// Result is how a call ended.
type Result uint8

const (
	// ResultSuccess: an attempt succeeded.
	ResultSuccess Result = iota + 1
	// ResultFailure: the call stopped on an error that retrying could not
	// fix (ReasonPermanent) or because the caller canceled (ReasonCanceled).
	ResultFailure
	// ResultGaveUp: the last error was retryable, but a limit stopped the
	// retries: the attempt cap, the budget, a deadline, a wait too long, or
	// an open breaker after at least one attempt.
	ResultGaveUp
	// ResultRejected: the breaker refused the call before any attempt.
	ResultRejected
	// ResultRetrying: the call failed, and a later call will retry its
	// work. Do never reports it; the outbox relay does, for a delivery
	// attempt whose message is scheduled to be tried again.
	ResultRetrying
	// ResultWon: a hedge answered first (HedgeFinished only).
	ResultWon
	// ResultLost: a hedge was canceled or dropped because another run of
	// its attempt decided it (HedgeFinished only).
	ResultLost
)

var resultNames = [...]string{"", "success", "failure", "gave_up", "rejected", "retrying", "won", "lost"}

// String returns the result's name as used in logs and metric labels.
func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "result(?)"
}

// Event reports one decision. Which fields are set depends on Kind. (The
// small fields come first so that the struct, copied to every observer,
// stays small.)
type Event struct {
	Kind   EventKind
	Class  Class
	Result Result
	Reason Reason
	From   BreakerState
	To     BreakerState
	// Hedge numbers the hedges of an attempt from 1 (hedge events).
	Hedge uint8
	// Attempt counts from 1.
	Attempt  int
	Endpoint string
	Err      error
	// Duration is the attempt's own duration (AttemptFinished).
	Duration time.Duration
	// Elapsed is the time since the call started.
	Elapsed time.Duration
	// Wait is the wait before the next attempt (RetryScheduled).
	Wait time.Duration
}

// An Observer receives every event once, synchronously, on the goroutine
// that made the decision and never under a lock of this package. It must be
// safe for concurrent use, should return quickly, and cannot change the
// decision it observes.
//
// An Observer that reads no event's Duration or Elapsed may say so with a
// method Untimed() bool that returns true: Do then reads no clock for it
// when the first attempt succeeds, and the events of such a call carry 0
// for both (reboundotel's Observer does, over no-op providers). Observers
// of several is untimed when all of them are.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// timedObserver reports whether o reads the durations of events.
func timedObserver(o Observer) bool {
	u, ok := o.(interface{ Untimed() bool })
	return !ok || !u.Untimed()
}

// ObserverFunc adapts a function to the Observer interface.
type ObserverFunc func(ctx context.Context, e Event)

// Observe calls f(ctx, e).
func (f ObserverFunc) Observe(ctx context.Context, e Event) { f(ctx, e) }

// Observers returns an Observer that passes each event to every non-nil
// observer in turn.
func Observers(obs ...Observer) Observer {
	var list multiObserver
	for _, o := range obs {
		if o != nil {
			list = append(list, o)
		}
	}
	if len(list) == 1 {
		return list[0]
	}
	return list
}

type multiObserver []Observer

// Untimed reports whether none of the observers reads durations.
func (m multiObserver) Untimed() bool {
	for _, o := range m {
		if timedObserver(o) {
			return false
		}
	}
	return true
}

func (m multiObserver) Observe(ctx context.Context, e Event) {
	for _, o := range m {
		o.Observe(ctx, e)
	}
}
