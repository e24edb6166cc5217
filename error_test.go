package rebound_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
)

func TestErrorText(t *testing.T) {
	errInvalid := errors.New("quantity must be positive")
	cases := []struct {
		name string
		err  *rebound.Error
		want string
	}{
		{"permanent: failed, not gave up",
			&rebound.Error{Endpoint: "orders", Reason: rebound.ReasonPermanent, Attempts: 1, Elapsed: 1234567, Last: errInvalid},
			"rebound: orders: failed (permanent) after 1 attempt in 1.2ms: quantity must be positive"},
		{"two significant digits",
			&rebound.Error{Reason: rebound.ReasonExhausted, Attempts: 3, Elapsed: 3140 * time.Millisecond, Last: errReset},
			"rebound: gave up (exhausted) after 3 attempts in 3.1s: " + errReset.Error()},
		{"under a millisecond",
			&rebound.Error{Reason: rebound.ReasonExhausted, Attempts: 2, Elapsed: 45678 * time.Nanosecond},
			"rebound: gave up (exhausted) after 2 attempts in 46µs"},
		{"whole units stay whole",
			&rebound.Error{Reason: rebound.ReasonDeadline, Attempts: 2, Elapsed: 90 * time.Second},
			"rebound: gave up (deadline) after 2 attempts in 1m30s"},
		{"no attempt",
			&rebound.Error{Endpoint: "pay", Reason: rebound.ReasonCircuitOpen, Last: rebound.ErrCircuitOpen},
			"rebound: pay: gave up (circuit_open) after 0 attempts in 0s: rebound: circuit_open"},
	}
	for _, tc := range cases {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

// A call that fails at once says "failed" and gives its real duration when
// it was measured; when it was not (no observer: the happy path reads no
// clock), it gives none rather than a wrong one.
func TestErrorTextOfAFirstAttemptFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errInvalid := errors.New("quantity must be positive")
		slow := func(context.Context) error {
			time.Sleep(1234567 * time.Nanosecond)
			return rebound.Permanent(errInvalid)
		}
		err := rebound.Run(t.Context(), rebound.Policy{Endpoint: "orders"}, slow)
		if got, want := err.Error(), "rebound: orders: failed (permanent) after 1 attempt: quantity must be positive"; got != want {
			t.Errorf("untimed:\n got %q\nwant %q", got, want)
		}
		p := rebound.Policy{Endpoint: "orders", Observer: rebound.ObserverFunc(func(context.Context, rebound.Event) {})}
		err = rebound.Run(t.Context(), p, slow)
		if got, want := err.Error(), "rebound: orders: failed (permanent) after 1 attempt in 1.2ms: quantity must be positive"; got != want {
			t.Errorf("timed:\n got %q\nwant %q", got, want)
		}
		// Later attempts are timed either way.
		n := 0
		err = rebound.Run(t.Context(), rebound.Policy{Backoff: rebound.Constant(time.Second)}, func(context.Context) error {
			if n++; n == 1 {
				return errReset
			}
			time.Sleep(200 * time.Millisecond)
			return rebound.Permanent(errInvalid)
		})
		if got, want := err.Error(), "rebound: failed (permanent) after 2 attempts in 1.2s: quantity must be positive"; got != want {
			t.Errorf("two attempts:\n got %q\nwant %q", got, want)
		}
	})
}
