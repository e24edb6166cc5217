package rebound_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
)

func newBreaker(t *testing.T, cfg rebound.BreakerConfig) *rebound.Breaker {
	t.Helper()
	b, err := rebound.NewBreaker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func call(b *rebound.Breaker, err error) error {
	done, aerr := b.Allow()
	if aerr != nil {
		return aerr
	}
	done(err)
	return nil
}

func TestBreakerOpensOnConsecutiveFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		b := newBreaker(t, rebound.BreakerConfig{Name: "pay", ConsecutiveFailures: 3, FailureRate: -1, OpenFor: 10 * time.Second, Observer: rec})
		for i := 0; i < 2; i++ {
			_ = call(b, errReset)
		}
		_ = call(b, nil) // a success breaks the run
		for i := 0; i < 2; i++ {
			_ = call(b, errReset)
		}
		if b.State() != rebound.Closed {
			t.Fatalf("opened before 3 consecutive failures")
		}
		_ = call(b, errReset)
		if b.State() != rebound.Open {
			t.Fatalf("state %v after 3 consecutive failures, want open", b.State())
		}
		if err := call(b, nil); !errors.Is(err, rebound.ErrCircuitOpen) {
			t.Fatalf("open breaker allowed a call: %v", err)
		}
		time.Sleep(10*time.Second - 1)
		if b.State() != rebound.Open {
			t.Fatal("half-open before OpenFor passed")
		}
		time.Sleep(1)
		// Reading the state after the cool-down moves it, with no call.
		if b.State() != rebound.HalfOpen {
			t.Fatalf("state %v after OpenFor, want half_open", b.State())
		}
		if err := call(b, nil); err != nil {
			t.Fatal(err)
		}
		if b.State() != rebound.Closed {
			t.Fatalf("state %v after a good probe, want closed", b.State())
		}
		var got []string
		for _, e := range rec.events {
			if e.Kind != rebound.BreakerStateChanged || e.Endpoint != "pay" {
				t.Fatalf("unexpected event %+v", e)
			}
			got = append(got, e.From.String()+">"+e.To.String())
		}
		if len(got) != 3 || got[0] != "closed>open" || got[1] != "open>half_open" || got[2] != "half_open>closed" {
			t.Fatalf("transitions %v", got)
		}
	})
}

func TestBreakerOpensOnFailureRateWithMinimumCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, rebound.BreakerConfig{ConsecutiveFailures: -1, FailureRate: 0.5, MinCalls: 10, Window: 10 * time.Second})
		// 4 failures out of 8 calls: the rate is met but not the minimum.
		for i := 0; i < 4; i++ {
			_ = call(b, nil)
			_ = call(b, errReset)
		}
		if b.State() != rebound.Closed {
			t.Fatal("opened below MinCalls")
		}
		_ = call(b, nil) // 4/9
		if b.State() != rebound.Closed {
			t.Fatal("opened below the rate")
		}
		_ = call(b, errReset) // 5/10 = 50%
		if b.State() != rebound.Open {
			t.Fatalf("state %v at 50%% of 10 calls, want open", b.State())
		}
	})
}

func TestBreakerIsolatedFailuresCountTowardTheRateOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, rebound.BreakerConfig{ConsecutiveFailures: 3, FailureRate: 0.5, MinCalls: 10, Window: 10 * time.Second, OpenFor: time.Second})
		bad := rebound.Isolated(errReset)
		if !errors.Is(bad, errReset) || rebound.Classify(bad).Class != rebound.Classify(errReset).Class {
			t.Fatal("the mark hides the error from errors.Is or Classify")
		}
		// Two failures of the dependency, then isolated ones: the run
		// neither grows nor ends.
		_ = call(b, errReset)
		_ = call(b, errReset)
		for i := 0; i < 4; i++ {
			_ = call(b, bad)
		}
		if _, f, consec := b.Counts(); b.State() != rebound.Closed || consec != 2 || f != 6 {
			t.Fatalf("state %v, %d consecutive, %d failures; want closed, 2 (isolated failures kept out of the run), 6", b.State(), consec, f)
		}
		_ = call(b, errReset) // the third of the run
		if b.State() != rebound.Open {
			t.Fatalf("state %v, want open: the run reached 3 across isolated failures", b.State())
		}

		// Isolated failures alone open it by rate, over MinCalls.
		b = newBreaker(t, rebound.BreakerConfig{ConsecutiveFailures: 3, FailureRate: 0.5, MinCalls: 10, Window: 10 * time.Second, OpenFor: time.Second})
		for i := 0; i < 9; i++ {
			_ = call(b, bad)
		}
		if b.State() != rebound.Closed {
			t.Fatal("9 isolated failures opened it below MinCalls")
		}
		_ = call(b, bad)
		if b.State() != rebound.Open {
			t.Fatalf("state %v after 10 isolated failures of 10 calls, want open", b.State())
		}
		// Half open, an isolated failure fails the probe.
		time.Sleep(time.Second)
		_ = call(b, bad)
		if b.State() != rebound.Open {
			t.Fatalf("state %v after an isolated failure as the probe, want open", b.State())
		}
		if rebound.Isolated(nil) != nil {
			t.Fatal("Isolated(nil) is not nil")
		}
	})
}

func TestBreakerWindowSlides(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, rebound.BreakerConfig{ConsecutiveFailures: -1, FailureRate: 0.5, MinCalls: 4, Window: 10 * time.Second})
		_ = call(b, errReset)
		_ = call(b, errReset)
		_ = call(b, nil)
		// The failures slide out of the window.
		time.Sleep(11 * time.Second)
		if n, f, _ := b.Counts(); n != 0 || f != 0 {
			t.Fatalf("counts %d/%d after the window, want 0/0", n, f)
		}
		_ = call(b, nil)
		_ = call(b, nil)
		_ = call(b, nil)
		_ = call(b, errReset) // 1 of 4
		if b.State() != rebound.Closed {
			t.Fatal("old failures were still counted")
		}
	})
}

func TestBreakerLogicAndCanceledAreNotFailures(t *testing.T) {
	b := newBreaker(t, rebound.BreakerConfig{ConsecutiveFailures: 2, FailureRate: -1})
	for i := 0; i < 10; i++ {
		_ = call(b, rebound.Permanent(errors.New("400 bad request")))
		_ = call(b, context.Canceled)
	}
	if b.State() != rebound.Closed {
		t.Fatal("logic or canceled outcomes opened the breaker")
	}
	_ = call(b, errReset)
	_ = call(b, context.Canceled) // does not break the run
	_ = call(b, errReset)
	if b.State() != rebound.Open {
		t.Fatal("canceled outcome reset the failure run")
	}
}

func TestBreakerHalfOpenProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, rebound.BreakerConfig{ConsecutiveFailures: 1, FailureRate: -1, OpenFor: time.Second, HalfOpenProbes: 2})
		_ = call(b, errReset)
		time.Sleep(time.Second)
		d1, err1 := b.Allow()
		d2, err2 := b.Allow()
		_, err3 := b.Allow()
		if err1 != nil || err2 != nil || !errors.Is(err3, rebound.ErrCircuitOpen) {
			t.Fatalf("half-open allowed %v %v %v, want 2 probes then refusal", err1, err2, err3)
		}
		d1(nil)
		if b.State() != rebound.HalfOpen {
			t.Fatal("closed after one of two probes")
		}
		d2(errReset)
		if b.State() != rebound.Open {
			t.Fatalf("state %v after a failed probe, want open", b.State())
		}
		// A new cool-down starts at the failed probe.
		time.Sleep(time.Second - 1)
		if b.State() != rebound.Open {
			t.Fatal("reopened breaker did not wait a full OpenFor")
		}
	})
}

func TestBreakerLostProbeReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, rebound.BreakerConfig{ConsecutiveFailures: 1, FailureRate: -1, OpenFor: time.Second})
		_ = call(b, errReset)
		time.Sleep(time.Second)
		lost, err := b.Allow() // a probe whose outcome never arrives
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second - 1)
		if _, err := b.Allow(); err == nil || b.State() != rebound.HalfOpen {
			t.Fatal("a second probe was allowed while the first may still report")
		}
		time.Sleep(1)
		if _, err := b.Allow(); err == nil || b.State() != rebound.Open {
			t.Fatalf("state %v after the probe stayed silent for OpenFor, want open", b.State())
		}
		lost(nil) // too late: ignored
		if b.State() != rebound.Open {
			t.Fatal("a late probe outcome changed the state")
		}
		time.Sleep(time.Second)
		if err := call(b, nil); err != nil || b.State() != rebound.Closed {
			t.Fatalf("breaker did not recover: %v %v", err, b.State())
		}
	})
}

func TestBreakerDoneCountsOnce(t *testing.T) {
	b := newBreaker(t, rebound.BreakerConfig{ConsecutiveFailures: 2, FailureRate: -1})
	done, _ := b.Allow()
	done(errReset)
	done(errReset)
	if b.State() != rebound.Closed {
		t.Fatal("a second done call was counted")
	}
}

func TestBreakerIgnoresStaleOutcomes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, rebound.BreakerConfig{ConsecutiveFailures: 2, FailureRate: -1, OpenFor: time.Second})
		slow, _ := b.Allow() // allowed while closed, finishes much later
		_ = call(b, errReset)
		_ = call(b, errReset)
		time.Sleep(time.Second)
		_ = call(b, nil) // probe closes it
		if b.State() != rebound.Closed {
			t.Fatal("not closed")
		}
		_ = call(b, errReset)
		slow(errReset) // from the previous closed period: must not count
		if b.State() != rebound.Closed {
			t.Fatal("a stale outcome opened the breaker")
		}
	})
}

func TestBreakerObserverRunsOutsideLocks(t *testing.T) {
	var b *rebound.Breaker
	var states []rebound.BreakerState
	obs := rebound.ObserverFunc(func(_ context.Context, e rebound.Event) {
		// Reading the breaker from its own listener would deadlock if the
		// listener ran under the breaker's lock.
		states = append(states, b.State())
		_, _ = b.Allow()
	})
	b = newBreaker(t, rebound.BreakerConfig{ConsecutiveFailures: 1, FailureRate: -1, Observer: obs})
	_ = call(b, errReset)
	if len(states) != 1 || states[0] != rebound.Open {
		t.Fatalf("listener saw %v", states)
	}
}

func TestBreakerConfigErrors(t *testing.T) {
	cases := []struct {
		cfg   rebound.BreakerConfig
		field string
	}{
		{rebound.BreakerConfig{FailureRate: 1.5}, "BreakerConfig.FailureRate"},
		{rebound.BreakerConfig{MinCalls: -1}, "BreakerConfig.MinCalls"},
		{rebound.BreakerConfig{Window: -1}, "BreakerConfig.Window"},
		{rebound.BreakerConfig{OpenFor: -1}, "BreakerConfig.OpenFor"},
		{rebound.BreakerConfig{HalfOpenProbes: -1}, "BreakerConfig.HalfOpenProbes"},
		{rebound.BreakerConfig{ConsecutiveFailures: -1, FailureRate: -1}, "BreakerConfig.ConsecutiveFailures"},
	}
	for _, tc := range cases {
		_, err := rebound.NewBreaker(tc.cfg)
		var ce *rebound.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%+v: got %v, want an error on %s", tc.cfg, err, tc.field)
		}
	}
	b := newBreaker(t, rebound.BreakerConfig{})
	c := b.Config()
	if c.ConsecutiveFailures != 5 || c.FailureRate != 0.5 || c.MinCalls != 20 || c.Window != time.Minute || c.OpenFor != 30*time.Second || c.HalfOpenProbes != 1 {
		t.Fatalf("defaults %+v", c)
	}
}

func TestDoWithBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		b := newBreaker(t, rebound.BreakerConfig{ConsecutiveFailures: 2, FailureRate: -1, OpenFor: time.Minute})
		p := rebound.Policy{Breaker: b, Observer: rec, MaxAttempts: 5, Backoff: rebound.Constant(time.Second)}
		calls := 0
		err := rebound.Run(t.Context(), p, func(context.Context) error { calls++; return errReset })
		// Two failures open the breaker; the third attempt is refused.
		e := asError(t, err)
		if calls != 2 || e.Reason != rebound.ReasonCircuitOpen || e.Attempts != 2 || !errors.Is(err, errReset) {
			t.Fatalf("calls=%d err=%v, want 2 calls then circuit_open with the last error", calls, err)
		}
		if last := rec.events[len(rec.events)-1]; last.Result != rebound.ResultGaveUp {
			t.Fatalf("result %v, want gave_up", last.Result)
		}
		// While open, a call is rejected without running.
		calls = 0
		err = rebound.Run(t.Context(), p, func(context.Context) error { calls++; return nil })
		e = asError(t, err)
		if calls != 0 || e.Reason != rebound.ReasonCircuitOpen || !errors.Is(err, rebound.ErrCircuitOpen) {
			t.Fatalf("calls=%d err=%v, want a rejection", calls, err)
		}
		if last := rec.events[len(rec.events)-1]; last.Result != rebound.ResultRejected {
			t.Fatalf("result %v, want rejected", last.Result)
		}
	})
}

// Many goroutines hammer one breaker; run with -race.
func TestBreakerConcurrentLoad(t *testing.T) {
	b := newBreaker(t, rebound.BreakerConfig{ConsecutiveFailures: 1000000, FailureRate: 0.9, MinCalls: 1000000})
	var wg sync.WaitGroup
	var ok atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				var err error
				if i%3 == 0 {
					err = errReset
				}
				if rebound.Run(context.Background(), rebound.Policy{Breaker: b, MaxAttempts: 1}, func(context.Context) error { return err }) == nil {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	n, f, _ := b.Counts()
	if n != 16000 || f != 8*667 || ok.Load() != 16000-8*667 {
		t.Fatalf("outcomes %d failures %d successes %d", n, f, ok.Load())
	}
}
