package rebound_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
)

// errReset is a Connection error as the net package returns it.
var errReset = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

// errRefused is a Connection error that proves the request was not sent.
var errRefused = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

// schedule runs fn under p inside the bubble and records when each attempt
// started, relative to the call's start.
func schedule(t *testing.T, ctx context.Context, p rebound.Policy, fn func(attempt int, ctx context.Context) error) ([]time.Duration, error) {
	t.Helper()
	start := time.Now()
	var at []time.Duration
	err := rebound.Run(ctx, p, func(ctx context.Context) error {
		at = append(at, time.Since(start))
		return fn(len(at), ctx)
	})
	return at, err
}

func always(err error) func(int, context.Context) error {
	return func(int, context.Context) error { return err }
}

func equalDurations(t *testing.T, got, want []time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("attempts at %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("attempts at %v, want %v", got, want)
		}
	}
}

func asError(t *testing.T, err error) *rebound.Error {
	t.Helper()
	var e *rebound.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *rebound.Error", err, err)
	}
	return e
}

func TestDoExactScheduleNoJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := rebound.Policy{Backoff: rebound.Exponential{Jitter: rebound.NoJitter}}
		at, err := schedule(t, t.Context(), p, always(errReset))
		equalDurations(t, at, []time.Duration{0, 1 * time.Second, 3 * time.Second})
		e := asError(t, err)
		if e.Reason != rebound.ReasonExhausted || e.Attempts != 3 || e.Elapsed != 3*time.Second {
			t.Fatalf("got reason %v attempts %d elapsed %v, want exhausted 3 3s", e.Reason, e.Attempts, e.Elapsed)
		}
		if !errors.Is(err, rebound.ErrExhausted) || !errors.Is(err, syscall.ECONNRESET) || e.Class != rebound.Connection {
			t.Fatalf("errors.Is does not reach the reason and the last error: %v", err)
		}
	})
}

func TestDoDefaultScheduleUsesFullJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// With every draw 0.5, full jitter waits half the exponential delay:
		// 0.5 s, then 1 s.
		p := rebound.Policy{Rand: func() float64 { return 0.5 }}
		at, _ := schedule(t, t.Context(), p, always(errReset))
		equalDurations(t, at, []time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond})
	})
}

func TestDoCapsWaitsAtMax(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := rebound.Policy{MaxAttempts: 6, Backoff: rebound.Exponential{Jitter: rebound.NoJitter}}
		at, _ := schedule(t, t.Context(), p, always(errReset))
		// Waits 1, 2, 4, 8, then capped at 10.
		equalDurations(t, at, []time.Duration{0, 1 * time.Second, 3 * time.Second, 7 * time.Second, 15 * time.Second, 25 * time.Second})
	})
}

func TestDoSucceedsAfterRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := rebound.Policy{Backoff: rebound.Constant(time.Second)}
		at, err := schedule(t, t.Context(), p, func(n int, _ context.Context) error {
			if n < 3 {
				return errRefused
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		equalDurations(t, at, []time.Duration{0, time.Second, 2 * time.Second})
	})
}

func TestDoReturnsResultAndLastValue(t *testing.T) {
	n := 0
	v, err := rebound.Do(context.Background(), rebound.Policy{Backoff: rebound.Constant(0)}, func(context.Context) (int, error) {
		n++
		if n == 1 {
			return -1, errReset
		}
		return 42, nil
	})
	if err != nil || v != 42 {
		t.Fatalf("got %d, %v; want 42, nil", v, err)
	}
	v, err = rebound.Do(context.Background(), rebound.Policy{MaxAttempts: 1}, func(context.Context) (int, error) {
		return 7, errReset
	})
	if err == nil || v != 7 {
		t.Fatalf("got %d, %v; want the last attempt's value 7 and an error", v, err)
	}
}

func TestDoNeverRetriesLogicOrUnknown(t *testing.T) {
	errValidation := errors.New("validation failed: name is required")
	cases := []struct {
		name  string
		err   error
		class rebound.Class
	}{
		{"permanent mark", rebound.Permanent(errReset), rebound.Logic},
		{"unknown error", errValidation, rebound.Unknown},
		{"classifier says logic", errValidation, rebound.Logic},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := rebound.Policy{Backoff: rebound.Constant(0)}
			if tc.name == "classifier says logic" {
				p.Classifiers = []rebound.Classifier{rebound.ClassifierFunc(func(err error) (rebound.Classification, bool) {
					if errors.Is(err, errValidation) {
						return rebound.Classification{Class: rebound.Logic}, true
					}
					return rebound.Classification{}, false
				})}
			}
			calls := 0
			err := rebound.Run(context.Background(), p, func(context.Context) error { calls++; return tc.err })
			e := asError(t, err)
			if calls != 1 || e.Reason != rebound.ReasonPermanent || e.Class != tc.class || !errors.Is(err, rebound.ErrPermanent) {
				t.Fatalf("calls=%d reason=%v class=%v, want 1 permanent %v", calls, e.Reason, e.Class, tc.class)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("errors.Is(err, original) is false")
			}
		})
	}
}

func TestDoRetryOnSelectsClasses(t *testing.T) {
	// The guide's policy retries connection errors only: a Response error
	// is returned at once.
	errBadGateway := rebound.ClassifierFunc(func(err error) (rebound.Classification, bool) {
		return rebound.Classification{Class: rebound.Response, Retryable: true}, true
	})
	calls := 0
	p := rebound.Policy{RetryOn: rebound.Classes(rebound.Connection), Classifiers: []rebound.Classifier{errBadGateway}, Backoff: rebound.Constant(0)}
	err := rebound.Run(context.Background(), p, func(context.Context) error { calls++; return errors.New("502") })
	if calls != 1 || !errors.Is(err, rebound.ErrPermanent) {
		t.Fatalf("calls=%d err=%v, want 1 permanent", calls, err)
	}
	// Unknown errors are retried once the policy opts in.
	calls = 0
	p = rebound.Policy{RetryOn: rebound.Classes(rebound.Connection, rebound.Unknown), Backoff: rebound.Constant(0)}
	err = rebound.Run(context.Background(), p, func(context.Context) error { calls++; return errors.New("flaky") })
	if calls != 3 || !errors.Is(err, rebound.ErrExhausted) {
		t.Fatalf("calls=%d err=%v, want 3 exhausted", calls, err)
	}
	// Transient retries an error whatever its class.
	calls = 0
	err = rebound.Run(context.Background(), rebound.Policy{Backoff: rebound.Constant(0)}, func(context.Context) error {
		calls++
		return rebound.Transient(errors.New("row locked"))
	})
	if calls != 3 || !errors.Is(err, rebound.ErrExhausted) {
		t.Fatalf("transient: calls=%d err=%v, want 3 exhausted", calls, err)
	}
}

func TestDoNeverStartsAWaitPastTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
		defer cancel()
		p := rebound.Policy{MaxAttempts: 5, Backoff: rebound.Exponential{Jitter: rebound.NoJitter}}
		start := time.Now()
		at, err := schedule(t, ctx, p, always(errReset))
		// Attempts at 0 and 1 s; the next wait (2 s) would end at 3 s, after
		// the deadline, so Do gives up at 1 s without sleeping.
		equalDurations(t, at, []time.Duration{0, time.Second})
		if got := time.Since(start); got != time.Second {
			t.Fatalf("returned after %v, want 1s", got)
		}
		e := asError(t, err)
		if e.Reason != rebound.ReasonDeadline || e.Wait != 2*time.Second || !errors.Is(err, syscall.ECONNRESET) || !errors.Is(err, rebound.ErrDeadline) {
			t.Fatalf("got %v (wait %v), want deadline with the last error and the refused 2s wait", err, e.Wait)
		}
	})
}

func TestDoMaxElapsed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := rebound.Policy{MaxAttempts: 10, MaxElapsed: 4 * time.Second, Backoff: rebound.Exponential{Jitter: rebound.NoJitter}}
		at, err := schedule(t, t.Context(), p, always(errReset))
		// 0, 1, 3; the next wait of 4 s would end at 7 s > 4 s.
		equalDurations(t, at, []time.Duration{0, time.Second, 3 * time.Second})
		if !errors.Is(err, rebound.ErrDeadline) {
			t.Fatalf("got %v, want deadline", err)
		}
	})
}

func TestDoHonoursRetryAfterWithinCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := rebound.Policy{MaxRetryAfter: 30 * time.Second}
		at, err := schedule(t, t.Context(), p, func(n int, _ context.Context) error {
			if n == 1 {
				return rebound.RetryAfter(errors.New("429 too many requests"), 20*time.Second)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		equalDurations(t, at, []time.Duration{0, 20 * time.Second})

		start := time.Now()
		at, err = schedule(t, t.Context(), p, always(rebound.RetryAfter(errors.New("503"), 31*time.Second)))
		equalDurations(t, at, []time.Duration{0})
		e := asError(t, err)
		if e.Reason != rebound.ReasonWaitTooLong || e.Wait != 31*time.Second || time.Since(start) != 0 {
			t.Fatalf("got %v wait %v after %v, want wait_too_long 31s at once", e.Reason, e.Wait, time.Since(start))
		}
	})
}

func TestDoDefaultRetryAfterCapIs60s(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		at, err := schedule(t, t.Context(), rebound.Policy{}, func(n int, _ context.Context) error {
			if n == 1 {
				return rebound.RetryAfter(errReset, 60*time.Second)
			}
			return rebound.RetryAfter(errReset, 61*time.Second)
		})
		equalDurations(t, at, []time.Duration{0, 60 * time.Second})
		if !errors.Is(err, rebound.ErrWaitTooLong) {
			t.Fatalf("got %v, want wait_too_long", err)
		}
	})
}

func TestDoCancelDuringWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(1500*time.Millisecond, cancel)
		p := rebound.Policy{MaxAttempts: 5, Backoff: rebound.Constant(time.Second)}
		start := time.Now()
		at, err := schedule(t, ctx, p, always(errReset))
		equalDurations(t, at, []time.Duration{0, time.Second})
		if got := time.Since(start); got != 1500*time.Millisecond {
			t.Fatalf("returned after %v, want 1.5s (at the cancel)", got)
		}
		e := asError(t, err)
		if e.Reason != rebound.ReasonCanceled || !errors.Is(err, context.Canceled) || !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("got %v, want canceled reaching context.Canceled and the last error", err)
		}
	})
}

func TestDoCanceledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	err := rebound.Run(ctx, rebound.Policy{}, func(context.Context) error { calls++; return nil })
	e := asError(t, err)
	if calls != 0 || e.Reason != rebound.ReasonCanceled || e.Attempts != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("calls=%d err=%v, want no call and canceled", calls, err)
	}
}

func TestDoAttemptTimeoutIsConnectionButCallerDeadlineIsCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Each attempt blocks until its context ends.
		hang := func(_ int, ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
		p := rebound.Policy{AttemptTimeout: 5 * time.Second, Backoff: rebound.Constant(time.Second)}
		at, err := schedule(t, t.Context(), p, hang)
		// Attempts time out at 5 s and are retried after 1 s.
		equalDurations(t, at, []time.Duration{0, 6 * time.Second, 12 * time.Second})
		e := asError(t, err)
		if e.Reason != rebound.ReasonExhausted || e.Class != rebound.Connection {
			t.Fatalf("got %v class %v, want exhausted connection", e.Reason, e.Class)
		}

		// The caller's own deadline ends the call instead.
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		start := time.Now()
		at, err = schedule(t, ctx, p, hang)
		equalDurations(t, at, []time.Duration{0})
		e = asError(t, err)
		if e.Reason != rebound.ReasonCanceled || e.Class != rebound.Canceled || time.Since(start) != 3*time.Second || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v class %v after %v, want canceled at 3s", e.Reason, e.Class, time.Since(start))
		}
	})
}

func TestDoRejectsInvalidPolicy(t *testing.T) {
	cases := []struct {
		p     rebound.Policy
		field string
	}{
		{rebound.Policy{MaxAttempts: -1}, "Policy.MaxAttempts"},
		{rebound.Policy{MaxAttempts: rebound.MaxAttemptsLimit + 1}, "Policy.MaxAttempts"},
		{rebound.Policy{MaxElapsed: -time.Second}, "Policy.MaxElapsed"},
		{rebound.Policy{AttemptTimeout: -1}, "Policy.AttemptTimeout"},
		{rebound.Policy{MaxRetryAfter: -1}, "Policy.MaxRetryAfter"},
		{rebound.Policy{RetryOn: 1 << 7}, "Policy.RetryOn"},
		{rebound.Policy{Backoff: rebound.Exponential{Multiplier: 0.5}}, "Exponential.Multiplier"},
		{rebound.Policy{Backoff: rebound.Exponential{Initial: -1}}, "Exponential.Initial"},
	}
	for _, tc := range cases {
		calls := 0
		err := rebound.Run(context.Background(), tc.p, func(context.Context) error { calls++; return nil })
		var ce *rebound.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field || calls != 0 {
			t.Errorf("policy %+v: got %v after %d calls, want a ConfigError on %s and no call", tc.p, err, calls, tc.field)
		}
	}
}

// recorder is an Observer that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []rebound.Event
}

func (r *recorder) Observe(_ context.Context, e rebound.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) kinds() []rebound.EventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ks []rebound.EventKind
	for _, e := range r.events {
		ks = append(ks, e.Kind)
	}
	return ks
}

func TestDoEmitsEveryDecisionOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		p := rebound.Policy{Endpoint: "api/v1/user", Observer: rec, Backoff: rebound.Constant(time.Second)}
		_, err := schedule(t, t.Context(), p, func(n int, _ context.Context) error {
			time.Sleep(100 * time.Millisecond)
			if n < 2 {
				return errReset
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []rebound.EventKind{rebound.AttemptFinished, rebound.RetryScheduled, rebound.AttemptFinished, rebound.CallFinished}
		got := rec.kinds()
		if len(got) != len(want) {
			t.Fatalf("events %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("events %v, want %v", got, want)
			}
		}
		e := rec.events
		if e[0].Attempt != 1 || e[0].Class != rebound.Connection || e[0].Duration != 100*time.Millisecond || e[0].Endpoint != "api/v1/user" {
			t.Errorf("first attempt event %+v", e[0])
		}
		if e[1].Wait != time.Second || e[1].Elapsed != 100*time.Millisecond || e[1].Attempt != 1 {
			t.Errorf("retry event %+v", e[1])
		}
		if e[3].Result != rebound.ResultSuccess || e[3].Attempt != 2 || e[3].Elapsed != 1200*time.Millisecond {
			t.Errorf("call event %+v", e[3])
		}
	})
}

func TestDoGiveUpEventCarriesReasonAndResult(t *testing.T) {
	cases := []struct {
		err    error
		result rebound.Result
		reason rebound.Reason
	}{
		{errReset, rebound.ResultGaveUp, rebound.ReasonExhausted},
		{rebound.Permanent(errReset), rebound.ResultFailure, rebound.ReasonPermanent},
	}
	for _, tc := range cases {
		rec := &recorder{}
		p := rebound.Policy{Observer: rec, Backoff: rebound.Constant(0)}
		_ = rebound.Run(context.Background(), p, func(context.Context) error { return tc.err })
		last := rec.events[len(rec.events)-1]
		if last.Kind != rebound.CallFinished || last.Result != tc.result || last.Reason != tc.reason {
			t.Errorf("%v: last event %+v, want call finished %v %v", tc.err, last, tc.result, tc.reason)
		}
	}
}

func TestDoNonIdempotentRetriesOnlyWhatWasNotSent(t *testing.T) {
	p := rebound.Policy{NonIdempotent: true, Backoff: rebound.Constant(0)}
	cases := []struct {
		name     string
		err      error
		attempts int
	}{
		{"refused: not sent, retried", errRefused, 3},
		{"reset after writing: maybe processed, not retried", errReset, 1},
		{"marked transient by the caller, retried", rebound.Transient(errReset), 3},
	}
	for _, tc := range cases {
		calls := 0
		err := rebound.Run(context.Background(), p, func(context.Context) error { calls++; return tc.err })
		if calls != tc.attempts {
			t.Errorf("%s: %d attempts (%v), want %d", tc.name, calls, err, tc.attempts)
		}
	}
}
