package reboundtest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rebound-go/rebound"
)

// A Recorder is a rebound.Observer that keeps every event, for tests to
// assert what a call did: how many attempts, why each retry, how long each
// wait, how the call ended. Put it in Policy.Observer (reboundhttp's
// Config.Policy.Observer for a client). The zero value is ready to use; a
// Recorder is safe for concurrent use.
//
// The Expect methods fail the test with a message that lists every event
// recorded, one per line.
type Recorder struct {
	mu     sync.Mutex
	events []rebound.Event
}

// Observe records e.
func (r *Recorder) Observe(_ context.Context, e rebound.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Events returns the events recorded, in order.
func (r *Recorder) Events() []rebound.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// Clear forgets every event.
func (r *Recorder) Clear() {
	r.mu.Lock()
	r.events = nil
	r.mu.Unlock()
}

func (r *Recorder) filter(keep func(rebound.Event) bool) []rebound.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []rebound.Event
	for _, e := range r.events {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// Attempts returns the number of attempts made for endpoint (its
// AttemptFinished events); the empty endpoint counts those of every
// endpoint.
func (r *Recorder) Attempts(endpoint string) int {
	return len(r.filter(func(e rebound.Event) bool {
		return e.Kind == rebound.AttemptFinished && (endpoint == "" || e.Endpoint == endpoint)
	}))
}

// Retries returns the RetryScheduled events, in order.
func (r *Recorder) Retries() []rebound.Event {
	return r.filter(func(e rebound.Event) bool { return e.Kind == rebound.RetryScheduled })
}

// RetryReasons returns the class of the failure behind each retry, in
// order: "connection", "response"...
func (r *Recorder) RetryReasons() []string {
	var out []string
	for _, e := range r.Retries() {
		out = append(out, e.Class.String())
	}
	return out
}

// Waits returns the wait before each retry, in order: the backoff's, or
// what the server asked with Retry-After.
func (r *Recorder) Waits() []time.Duration {
	var out []time.Duration
	for _, e := range r.Retries() {
		out = append(out, e.Wait)
	}
	return out
}

// Last returns the last CallFinished event, and false when no call has
// finished.
func (r *Recorder) Last() (rebound.Event, bool) {
	calls := r.filter(func(e rebound.Event) bool { return e.Kind == rebound.CallFinished })
	if len(calls) == 0 {
		return rebound.Event{}, false
	}
	return calls[len(calls)-1], true
}

// ExpectAttempts fails t unless n attempts were made, over every
// endpoint.
func (r *Recorder) ExpectAttempts(t testing.TB, n int) {
	t.Helper()
	if got := r.Attempts(""); got != n {
		t.Errorf("reboundtest: %d attempts, want %d; events:\n%s", got, n, r)
	}
}

// ExpectRetryReasons fails t unless the retries were, in order, for
// failures of these classes ("connection", "response"...). With no
// classes it expects no retry.
func (r *Recorder) ExpectRetryReasons(t testing.TB, classes ...string) {
	t.Helper()
	if got := r.RetryReasons(); !slices.Equal(got, classes) {
		t.Errorf("reboundtest: retries for %q, want %q; events:\n%s", got, classes, r)
	}
}

// ExpectWaits fails t unless the waits before the retries were, in
// order, these.
func (r *Recorder) ExpectWaits(t testing.TB, waits ...time.Duration) {
	t.Helper()
	if got := r.Waits(); !slices.Equal(got, waits) {
		t.Errorf("reboundtest: waits %v, want %v; events:\n%s", got, waits, r)
	}
}

// ExpectResult fails t unless the last call finished with result and
// reason (rebound.ReasonNone for a success).
func (r *Recorder) ExpectResult(t testing.TB, result rebound.Result, reason rebound.Reason) {
	t.Helper()
	e, ok := r.Last()
	switch {
	case !ok:
		t.Errorf("reboundtest: no call finished, want %s; events:\n%s", outcome(result, reason), r)
	case e.Result != result || e.Reason != reason:
		t.Errorf("reboundtest: the call finished %s, want %s; events:\n%s", outcome(e.Result, e.Reason), outcome(result, reason), r)
	}
}

func outcome(result rebound.Result, reason rebound.Reason) string {
	if reason == rebound.ReasonNone {
		return result.String()
	}
	return result.String() + " (" + reason.String() + ")"
}

// String lists the events, one per line.
func (r *Recorder) String() string {
	var b strings.Builder
	for i, e := range r.Events() {
		fmt.Fprintf(&b, "  %d. %s\n", i+1, FormatEvent(e))
	}
	if b.Len() == 0 {
		return "  (none)\n"
	}
	return b.String()
}

// FormatEvent writes e on one line with the fields its kind sets, such as
// `retry_scheduled "GET example.test" attempt=1 class=response wait=0s
// err=503 Service Unavailable`.
func FormatEvent(e rebound.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q", e.Kind, e.Endpoint)
	switch e.Kind {
	case rebound.BreakerStateChanged:
		fmt.Fprintf(&b, " %s→%s", e.From, e.To)
		return b.String()
	case rebound.HedgeStarted, rebound.HedgeFinished, rebound.HedgeRejected:
		fmt.Fprintf(&b, " attempt=%d hedge=%d", e.Attempt, e.Hedge)
	default:
		fmt.Fprintf(&b, " attempt=%d", e.Attempt)
	}
	if e.Result != 0 {
		fmt.Fprintf(&b, " result=%s", e.Result)
	}
	if e.Reason != rebound.ReasonNone {
		fmt.Fprintf(&b, " reason=%s", e.Reason)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, " class=%s", e.Class)
	}
	if e.Kind == rebound.RetryScheduled || e.Kind == rebound.HedgeStarted {
		fmt.Fprintf(&b, " wait=%s", e.Wait)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, " err=%v", e.Err)
	}
	return b.String()
}
