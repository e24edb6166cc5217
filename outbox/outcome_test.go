package outbox

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rebound-go/rebound"
)

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lim := limits{maxAttempts: 5, maxAge: time.Hour, backoff: rebound.Exponential{Initial: 5 * time.Second, Max: time.Hour}}
	boom := errors.New("boom")
	retryable := rebound.Classification{Class: rebound.Response, Retryable: true}
	at := func(attempt int, age time.Duration) Delivery {
		return Delivery{Record{Attempt: attempt, CreatedAt: t0.Add(-age)}}
	}
	for _, c := range []struct {
		name string
		d    Delivery
		err  error
		cl   rebound.Classification
		draw float64
		want verdict
	}{
		{"success", at(1, 0), nil, rebound.Classification{}, 0, verdict{state: Sent}},
		{"success on the last attempt", at(5, 0), nil, rebound.Classification{}, 0, verdict{state: Sent}},
		{"logic error", at(1, 0), boom, rebound.Classification{Class: rebound.Logic}, 0, verdict{state: Dead, reason: "permanent", why: rebound.ReasonPermanent}},
		{"not retryable", at(1, 0), boom, rebound.Classification{Class: rebound.Unknown}, 0, verdict{state: Dead, reason: "permanent", why: rebound.ReasonPermanent}},
		{"marked transient", at(1, 0), boom, rebound.Classification{Class: rebound.Unknown, Marked: true}, 1, verdict{state: Retrying, wait: 5 * time.Second}},
		{"first failure, full jitter draw", at(1, 0), boom, retryable, 1, verdict{state: Retrying, wait: 5 * time.Second}},
		{"third failure doubles twice", at(3, 0), boom, retryable, 1, verdict{state: Retrying, wait: 20 * time.Second}},
		{"half draw", at(3, 0), boom, retryable, 0.5, verdict{state: Retrying, wait: 10 * time.Second}},
		{"last attempt", at(5, 0), boom, retryable, 1, verdict{state: Dead, reason: "exhausted", why: rebound.ReasonExhausted}},
		{"receiver asks for a wait", at(1, 0), boom, rebound.Classification{Class: rebound.Response, Retryable: true, RetryAfter: 90 * time.Second}, 1, verdict{state: Retrying, wait: 90 * time.Second}},
		{"a wait asked past the cap", at(1, 0), boom, rebound.Classification{Class: rebound.Response, Retryable: true, RetryAfter: 3 * time.Hour}, 1, verdict{state: Retrying, wait: 10 * time.Minute}},
		{"retry at the maximum age", at(2, time.Hour-10*time.Second), boom, retryable, 1, verdict{state: Dead, reason: "deadline", why: rebound.ReasonDeadline}},
		{"retry just before the maximum age", at(1, time.Hour-10*time.Second), boom, retryable, 1, verdict{state: Retrying, wait: 5 * time.Second}},
	} {
		if got := decide(c.d, c.err, c.cl, lim, 10*time.Minute, c.draw, t0); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

type statusErr int

func (s statusErr) Error() string   { return "status" }
func (s statusErr) HTTPStatus() int { return int(s) }

func TestBreakerOutcome(t *testing.T) {
	resp := rebound.Classification{Class: rebound.Response, Retryable: true}
	conn := rebound.Classification{Class: rebound.Connection, Retryable: true}
	first := Delivery{Record{Attempt: 1}}
	poisonRetry := Delivery{Record{Attempt: 3, LastStatus: 500, LastError: "receiver answered 500"}}
	downRetry := Delivery{Record{Attempt: 3, LastStatus: 503, LastError: "receiver answered 503"}}
	netRetry := Delivery{Record{Attempt: 2, LastError: "connection refused"}}
	for _, c := range []struct {
		name string
		d    Delivery
		err  error
		cl   rebound.Classification
		want string // "as is", "isolated", "ignored"
	}{
		{"success", first, nil, rebound.Classification{}, "as is"},
		{"first attempt, 500", first, statusErr(500), resp, "isolated"},
		{"first attempt, 503", first, statusErr(503), resp, "as is"},
		{"first attempt, 429", first, statusErr(429), resp, "as is"},
		{"first attempt, 408", first, statusErr(408), resp, "as is"},
		{"first attempt, connection refused", first, errors.New("refused"), conn, "as is"},
		{"first attempt, 400", first, statusErr(400), rebound.Classification{Class: rebound.Logic}, "as is"},
		{"poison retry, 500 again", poisonRetry, statusErr(500), resp, "ignored"},
		{"poison retry meets a 502", poisonRetry, statusErr(502), resp, "as is"},
		{"poison retry meets a timeout", poisonRetry, errors.New("timeout"), conn, "as is"},
		{"retry after a 503, now 500", downRetry, statusErr(500), resp, "ignored"},
	} {
		got := breakerOutcome(c.d, c.err, c.cl)
		kind := "as is"
		switch {
		case errors.Is(got, context.Canceled):
			kind = "ignored"
		case got != c.err && errors.Is(got, c.err): // wrapped: rebound.Isolated
			kind = "isolated"
		case got != c.err:
			kind = "changed"
		}
		if kind != c.want {
			t.Errorf("%s: %s (%v), want %s", c.name, kind, got, c.want)
		}
	}
	for _, c := range []struct {
		d    Delivery
		want bool
	}{
		{first, false},
		{poisonRetry, true},
		{downRetry, false},
		{netRetry, false},
		{Delivery{Record{Attempt: 2}}, false}, // released, never failed
	} {
		if got := ownFailure(c.d); got != c.want {
			t.Errorf("ownFailure(attempt %d, last status %d, %q) = %v, want %v", c.d.Attempt, c.d.LastStatus, c.d.LastError, got, c.want)
		}
	}
}
