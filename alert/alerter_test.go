package alert_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/alert"
)

// inbox records notifications with the time they were sent.
type inbox struct {
	mu  sync.Mutex
	got []alert.Alert
	at  []time.Time
}

func (b *inbox) Name() string { return "inbox" }

func (b *inbox) Notify(_ context.Context, a alert.Alert) error {
	b.mu.Lock()
	b.got = append(b.got, a)
	b.at = append(b.at, time.Now())
	b.mu.Unlock()
	return nil
}

// list returns what was notified so far, once every goroutine of the
// bubble (evaluator, notifier) has settled.
func (b *inbox) list() ([]alert.Alert, []time.Time) {
	synctest.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]alert.Alert(nil), b.got...), append([]time.Time(nil), b.at...)
}

func start(t *testing.T, cfg alert.Config) (*alert.Alerter, *inbox) {
	t.Helper()
	box := &inbox{}
	cfg.Notifiers = append(cfg.Notifiers, box)
	a, err := alert.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	return a, box
}

func calls(a *alert.Alerter, endpoint string, n, failed, attempts int) {
	for i := 0; i < n; i++ {
		e := rebound.Event{Kind: rebound.CallFinished, Endpoint: endpoint, Attempt: attempts, Result: rebound.ResultSuccess}
		if i < failed {
			e.Result, e.Class = rebound.ResultGaveUp, rebound.Connection
		}
		a.Observe(context.Background(), e)
	}
}

// run feeds traffic every 10 s for d.
func run(d time.Duration, step func()) {
	for end := time.Now().Add(d); time.Now().Before(end); {
		step()
		time.Sleep(10 * time.Second)
	}
}

func TestHighFailureRateFiresOnceAndResolves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, box := start(t, alert.Config{})
		t0 := time.Now()
		// 30% of 10 calls every 10 s for 10 minutes, then healthy traffic.
		run(10*time.Minute, func() { calls(a, "api/v1/user", 10, 3, 1) })
		run(15*time.Minute, func() { calls(a, "api/v1/user", 10, 0, 1) })
		got, at := box.list()
		if len(got) != 2 || got[0].Name != alert.HighFailureRate || got[0].State != alert.Firing || got[1].State != alert.Resolved {
			t.Fatalf("notifications %+v, want one firing and one resolved", got)
		}
		// The evaluation at 30 s is the first to see MinCalls (the calls of
		// 0, 10 and 20 s: those at 30 s count from the next one); the
		// condition holds from then and must hold For 2 m.
		if fired := at[0].Sub(t0); fired != 2*time.Minute+30*time.Second {
			t.Fatalf("fired after %v, want 2m30s", fired)
		}
		if got[0].Value != 0.3 || got[0].Summary != "api/v1/user: 30.0% of calls failing" {
			t.Fatalf("firing alert %+v", got[0])
		}
		// The last failures are at 9m50s; at 11m40s a third of the window
		// is healthy and the ratio is 20%, no longer over the threshold;
		// KeepFiringFor holds the alert 5 m more.
		if resolved := at[1].Sub(t0); resolved != 16*time.Minute+40*time.Second {
			t.Fatalf("resolved after %v, want 16m40s", resolved)
		}
		if got[1].EndsAt.IsZero() || !got[1].StartsAt.Equal(got[0].StartsAt) {
			t.Fatalf("resolved alert %+v", got[1])
		}
	})
}

// repeats is an inbox that also receives the refresh of each firing
// alert, every RepeatInterval.
type repeats struct{ inbox }

func (*repeats) Repeats() {}

// Calls reported at an evaluation's instant, by several goroutines racing
// the evaluator, count from the next evaluation: every evaluation sees whole
// batches, whatever the order the scheduler picks.
func TestEvaluationDoesNotDependOnOrderAtTheSameInstant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		box := &repeats{}
		a, _ := start(t, alert.Config{Notifiers: []alert.Notifier{box}, RepeatInterval: 10 * time.Second})
		t0 := time.Now()
		run(5*time.Minute, func() {
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() { calls(a, "api/v1/user", 10, 3, 1) })
			}
			wg.Wait()
		})
		got, at := box.list()
		// 40 calls per bucket: MinCalls is reached at 10 s, fired at 2m10s,
		// then refreshed at every evaluation.
		if len(got) != 18 {
			t.Fatalf("%d notifications, want 18: %+v", len(got), got)
		}
		for i, n := range got {
			if want := 2*time.Minute + 10*time.Second + time.Duration(i)*10*time.Second; at[i].Sub(t0) != want || n.Value != 0.3 || n.State != alert.Firing || n.Repeat != (i > 0) {
				t.Errorf("notification %d at %v: %+v, want value 0.3 at %v", i, at[i].Sub(t0), n, want)
			}
		}
	})
}

func TestResultsCountedAsFailures(t *testing.T) {
	for _, tc := range []struct {
		result rebound.Result
		class  rebound.Class
		fails  bool
	}{
		{rebound.ResultSuccess, 0, false},
		{rebound.ResultFailure, rebound.Logic, true},
		{rebound.ResultGaveUp, rebound.Connection, true},
		{rebound.ResultRejected, rebound.Response, true},
		{rebound.ResultRetrying, rebound.Response, true}, // an outbox delivery attempt to be tried again
		{rebound.ResultFailure, rebound.Canceled, false},
	} {
		t.Run(tc.result.String()+"/"+tc.class.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, box := start(t, alert.Config{Rules: alert.Rules{ConsecutiveFailures: alert.Rule{Threshold: 3, For: -1}}})
				for range 3 {
					a.Observe(context.Background(), rebound.Event{Kind: rebound.CallFinished, Endpoint: "hooks", Attempt: 1, Result: tc.result, Class: tc.class})
				}
				time.Sleep(10 * time.Second)
				got, _ := box.list()
				if fired := len(got) == 1 && got[0].Name == alert.ConsecutiveFailures; fired != tc.fails || len(got) > 1 {
					t.Fatalf("notifications %+v, want a failure: %v", got, tc.fails)
				}
			})
		})
	}
}

func TestNoAlertOnLowOrZeroTraffic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, box := start(t, alert.Config{})
		// Every call fails, but 1 call a minute: 5 in the window, under 30.
		i := 0
		run(30*time.Minute, func() {
			if i%6 == 0 {
				calls(a, "rare", 1, 1, 1)
			}
			i++
		})
		// An endpoint seen once and then silent.
		calls(a, "idle", 1, 0, 1)
		time.Sleep(30 * time.Minute)
		got, _ := box.list()
		for _, n := range got {
			if n.Name == alert.HighFailureRate {
				t.Fatalf("unexpected %+v", n)
			}
		}
	})
}

func TestConsecutiveFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, box := start(t, alert.Config{Rules: alert.Rules{HighFailureRate: alert.Rule{Disabled: true}}})
		t0 := time.Now()
		calls(a, "pay", 4, 4, 1)
		time.Sleep(5 * time.Minute)
		if got, _ := box.list(); len(got) != 0 {
			t.Fatalf("fired at 4 failures: %+v", got)
		}
		// The fifth failure, at the instant of an evaluation, counts from
		// the next one (5m10s) and must last For 1 m.
		calls(a, "pay", 1, 1, 1)
		time.Sleep(2 * time.Minute)
		got, at := box.list()
		if len(got) != 1 || got[0].Name != alert.ConsecutiveFailures || got[0].Value != 5 || at[0].Sub(t0) != 6*time.Minute+10*time.Second {
			t.Fatalf("notifications %+v at %v, want one at 6m10s", got, at)
		}
		calls(a, "pay", 1, 0, 1) // a success, at 7m
		time.Sleep(20 * time.Second)
		got, at = box.list()
		if len(got) != 2 || got[1].State != alert.Resolved || at[1].Sub(t0) != 7*time.Minute+10*time.Second {
			t.Fatalf("notifications %+v at %v, want resolved at 7m10s", got, at)
		}
	})
}

func TestRetryStormNeedsRatioAndRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, box := start(t, alert.Config{Rules: alert.Rules{HighFailureRate: alert.Rule{Disabled: true}}})
		run(10*time.Minute, func() {
			calls(a, "storm", 20, 0, 3) // 2 retries per call, 4 per second
			calls(a, "slow", 1, 0, 3)   // 2 per call, 0.2 per second
			calls(a, "busy", 100, 0, 1) // none
			calls(a, "busy", 20, 0, 2)  // 20 per 120 calls, 2 per second
		})
		got, _ := box.list()
		if len(got) != 1 || got[0].Name != alert.RetryStorm || got[0].Endpoint != "storm" || got[0].Value != 2 {
			t.Fatalf("notifications %+v", got)
		}
	})
}

func TestBudgetExhausted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, box := start(t, alert.Config{})
		run(8*time.Minute, func() {
			a.Observe(context.Background(), rebound.Event{Kind: rebound.BudgetRejected, Endpoint: "search"})
		})
		time.Sleep(12 * time.Minute)
		got, _ := box.list()
		if len(got) != 2 || got[0].Name != alert.BudgetExhausted || got[0].State != alert.Firing || got[1].State != alert.Resolved {
			t.Fatalf("notifications %+v", got)
		}
	})
}

func TestCircuitOpenFromBreakerEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, box := start(t, alert.Config{})
		b, _ := rebound.NewBreaker(rebound.BreakerConfig{Name: "inventory", ConsecutiveFailures: 1, FailureRate: -1, OpenFor: 30 * time.Second, Observer: a})
		fail := func() {
			if done, err := b.Allow(); err == nil {
				done(&timeoutErr{})
			}
		}
		fail()
		t0 := time.Now()
		// Probes keep failing for 8 minutes: open, half-open, open…
		run(8*time.Minute, fail)
		got, at := box.list()
		if len(got) != 1 || got[0].Name != alert.CircuitOpen || got[0].Endpoint != "inventory" {
			t.Fatalf("notifications %+v", got)
		}
		if d := at[0].Sub(t0); d != 5*time.Minute {
			t.Fatalf("fired after %v, want 5m", d)
		}
		time.Sleep(30 * time.Second)
		if done, err := b.Allow(); err == nil {
			done(nil) // a good probe closes it, at 8m30s
		}
		time.Sleep(10 * time.Second)
		// The evaluation at 8m30s sees the breaker as it was just before;
		// the next one sees it closed.
		got, at = box.list()
		if len(got) != 2 || got[1].State != alert.Resolved || at[1].Sub(t0) != 8*time.Minute+40*time.Second {
			t.Fatalf("notifications %+v at %v, want resolved at 8m40s", got, at)
		}
	})
}

type timeoutErr struct{}

func (*timeoutErr) Error() string { return "timeout" }
func (*timeoutErr) Timeout() bool { return true }

func TestEndpointsAreBounded(t *testing.T) {
	a, err := alert.New(alert.Config{MaxEndpoints: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		calls(a, string(rune('a'+i%26))+string(rune('a'+i/26)), 1, 0, 1)
	}
	if n := testing.AllocsPerRun(1000, func() { calls(a, "unseen-endpoint", 1, 1, 2) }); n != 0 {
		t.Fatalf("%v allocations per event for an overflowing endpoint", n)
	}
}

func TestObserveAllocatesNothing(t *testing.T) {
	a, _ := alert.New(alert.Config{})
	e := rebound.Event{Kind: rebound.CallFinished, Endpoint: "x", Attempt: 1, Result: rebound.ResultSuccess}
	a.Observe(context.Background(), e)
	if n := testing.AllocsPerRun(1000, func() { a.Observe(context.Background(), e) }); n != 0 {
		t.Fatalf("%v allocations per event", n)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []alert.Config{
		{Window: -1},
		{Interval: time.Hour},
		{Rules: alert.Rules{HighFailureRate: alert.Rule{Threshold: -1}}},
		{MaxEndpoints: -1},
	} {
		if _, err := alert.New(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

func TestStartStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _ := alert.New(alert.Config{})
		if err := a.Stop(t.Context()); err != nil {
			t.Fatal("stopping an unstarted alerter:", err)
		}
		if err := a.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := a.Start(t.Context()); err == nil {
			t.Fatal("started twice")
		}
		if err := a.Stop(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := a.Stop(t.Context()); err != nil {
			t.Fatal("second stop:", err)
		}
		// synctest fails the test if a goroutine is left behind.
	})
}

func BenchmarkObserve(b *testing.B) {
	a, _ := alert.New(alert.Config{})
	ok := rebound.Event{Kind: rebound.CallFinished, Endpoint: "api/v1/user", Attempt: 1, Result: rebound.ResultSuccess}
	failed := rebound.Event{Kind: rebound.CallFinished, Endpoint: "api/v1/user", Attempt: 3, Result: rebound.ResultGaveUp, Class: rebound.Connection}
	b.Run("success", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a.Observe(context.Background(), ok)
		}
	})
	b.Run("gave_up", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a.Observe(context.Background(), failed)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				a.Observe(context.Background(), ok)
			}
		})
	})
}

// hung is a notifier that never answers until its context ends.
type hung struct{ ended chan time.Time }

func (h *hung) Name() string { return "hung" }
func (h *hung) Notify(ctx context.Context, _ alert.Alert) error {
	<-ctx.Done()
	h.ended <- time.Now()
	return ctx.Err()
}

// Stop waits for a notification in flight until its context ends, then
// cancels it, and returns only once the notifier has returned.
func TestStopCancelsAHungNotifierAndWaitsForIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hung{ended: make(chan time.Time, 1)}
		a, err := alert.New(alert.Config{Notifiers: []alert.Notifier{h}, Rules: alert.Rules{HighFailureRate: alert.Rule{Disabled: true}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		calls(a, "pay", 5, 5, 1)
		time.Sleep(2 * time.Minute) // the alert fires; its notification hangs
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		stopAt := time.Now()
		if err := a.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stop: %v, want the deadline's error", err)
		}
		select {
		case at := <-h.ended:
			if at.Sub(stopAt) != 3*time.Second || time.Since(stopAt) != 3*time.Second {
				t.Fatalf("the notifier ended %v after Stop, Stop returned after %v; want both 3s", at.Sub(stopAt), time.Since(stopAt))
			}
		default:
			t.Fatal("Stop returned while the notifier still ran")
		}
		if err := a.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "was stopped") {
			t.Fatalf("Start after Stop: %v, want an error saying it was stopped", err)
		}
	})
}
