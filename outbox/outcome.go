package outbox

// What a delivery attempt leads to, as pure functions: the next state and
// wait, and what the destination's breaker is told.

import (
	"context"
	"net/http"
	"time"

	"github.com/rebound-go/rebound"
)

// verdict is what a delivery attempt leads to.
type verdict struct {
	state  State          // Sent, Retrying or Dead
	reason string         // Dead: permanent, exhausted or deadline
	why    rebound.Reason // Dead: the same, as the call's reason
	wait   time.Duration  // Retrying: until the next attempt
}

// decide is the relay's outcome rule. A success is sent. A Logic error, or
// one neither retryable nor marked, kills the message at once (permanent);
// so does its last allowed attempt failing (exhausted), or a retry that
// would start at or past its maximum age (deadline). Otherwise it retries
// after the wait its receiver asked for, or its backoff's for this attempt
// with draw as the jitter, capped at maxRetryAfter.
func decide(d Delivery, err error, cl rebound.Classification, lim limits, maxRetryAfter time.Duration, draw float64, now time.Time) verdict {
	switch {
	case err == nil:
		return verdict{state: Sent}
	case cl.Class == rebound.Logic || (!cl.Retryable && !cl.Marked):
		return verdict{state: Dead, reason: "permanent", why: rebound.ReasonPermanent}
	case d.Attempt >= lim.maxAttempts:
		return verdict{state: Dead, reason: "exhausted", why: rebound.ReasonExhausted}
	}
	wait := cl.RetryAfter
	if wait <= 0 {
		wait = lim.backoff.Delay(d.Attempt, 0, draw)
	}
	wait = min(max(wait, 0), maxRetryAfter)
	if now.Add(wait).Sub(d.CreatedAt) >= lim.maxAge {
		return verdict{state: Dead, reason: "deadline", why: rebound.ReasonDeadline}
	}
	return verdict{state: Retrying, wait: wait}
}

// callAttempts is the Attempt of the call a delivery reports: 1 for a
// message's first delivery, 2 for a redelivery, which is one retry.
func callAttempts(d Delivery) int { return min(d.Attempt, 2) }

// destinationFault reports whether a failure says the destination itself
// is unwell (unreachable, timing out, overloaded or behind a failing
// gateway) rather than rejecting this one message.
func destinationFault(class rebound.Class, status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case 0:
		return class == rebound.Connection
	}
	return false
}

// ownFailure reports whether a message's last attempt failed on the
// message's own account: a retry of such a message says little about its
// destination.
func ownFailure(d Delivery) bool {
	if d.Attempt <= 1 || d.LastError == "" {
		return false
	}
	// The stored outcome has no class; an error without a status was the
	// network's (a store keeps a status for every answer).
	return d.LastStatus != 0 && !destinationFault(rebound.Response, d.LastStatus)
}

// breakerOutcome is what a delivery tells its destination's breaker. A
// success, and a failure of the destination, count as they are. A message
// failing on its own account counts toward the failure rate on its first
// attempt only, so that failures spread over many messages open the
// breaker while a few messages failing again and again (poison) do not.
func breakerOutcome(d Delivery, err error, cl rebound.Classification) error {
	switch {
	case err == nil || cl.Class == rebound.Logic || destinationFault(cl.Class, statusOf(err)):
		return err
	case d.Attempt <= 1:
		return rebound.Isolated(err)
	}
	return context.Canceled // not counted
}
