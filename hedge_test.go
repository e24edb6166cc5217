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

func newHedger(t *testing.T, cfg rebound.HedgeConfig) *rebound.Hedger {
	t.Helper()
	h, err := rebound.NewHedger(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// hedgeEvents returns the hedge events the recorder kept, as
// "kind/hedge/result".
func hedgeEvents(r *recorder) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		switch e.Kind {
		case rebound.HedgeStarted, rebound.HedgeRejected:
			out = append(out, e.Kind.String()+"/"+string('0'+rune(e.Hedge)))
		case rebound.HedgeFinished:
			out = append(out, e.Kind.String()+"/"+string('0'+rune(e.Hedge))+"/"+e.Result.String())
		}
	}
	return out
}

func equalStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: got %q, want %q", what, got, want)
		}
	}
}

// runs is a scripted function for hedged calls: run i (counting every
// start, hedges included) answers after delays[i] with results[i], or
// when its context ends.
type runs struct {
	delays  []time.Duration
	results []error
	mu      sync.Mutex
	ctxs    []context.Context
	started int
}

func (s *runs) fn(ctx context.Context) (int, error) {
	s.mu.Lock()
	i := s.started
	s.started++
	s.ctxs = append(s.ctxs, ctx)
	s.mu.Unlock()
	t := time.NewTimer(s.delays[i])
	defer t.Stop()
	select {
	case <-t.C:
		return i, s.results[i]
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

func TestHedgeAfterFixedDelayWinsAndCancelsTheSlowAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		s := &runs{delays: []time.Duration{time.Second, 5 * time.Millisecond}, results: []error{nil, nil}}
		p := rebound.Policy{Hedger: newHedger(t, rebound.HedgeConfig{Delay: 10 * time.Millisecond, Ratio: 1}), Observer: rec}
		start := time.Now()
		v, err := rebound.DoHedged(t.Context(), p, s.fn)
		if err != nil || v != 1 {
			t.Fatalf("got %d, %v; want the hedge's answer 1", v, err)
		}
		if d := time.Since(start); d != 15*time.Millisecond {
			t.Fatalf("the call took %v, want 15ms (10ms delay + the hedge's 5ms)", d)
		}
		synctest.Wait()
		if s.ctxs[0].Err() == nil {
			t.Fatal("the slow attempt's context is live after the hedge won")
		}
		if s.ctxs[1].Err() == nil {
			t.Fatal("the winner's context is live after Do returned, though it did not Hold it")
		}
		equalStrings(t, "hedge events", hedgeEvents(rec), []string{"hedge_started/1", "hedge_finished/1/won"})
		for _, e := range rec.events {
			if e.Kind == rebound.HedgeStarted && e.Wait != 10*time.Millisecond {
				t.Fatalf("HedgeStarted.Wait = %v, want the 10ms delay", e.Wait)
			}
		}
	})
}

func TestHedgeWinnerHeldStaysLiveUntilReleased(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var discarded [2]atomic.Int32
		var releases [2]func()
		var ctxs [2]context.Context
		var n atomic.Int32
		fn := func(ctx context.Context) (int, error) {
			i := int(n.Add(1) - 1)
			ctxs[i] = ctx
			d := time.Second
			if i == 1 {
				d = time.Millisecond
			}
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return -1, ctx.Err()
			}
			releases[i] = rebound.Hold(ctx, func() { discarded[i].Add(1) })
			return i, nil
		}
		p := rebound.Policy{Hedger: newHedger(t, rebound.HedgeConfig{Delay: 10 * time.Millisecond, Ratio: 1})}
		v, err := rebound.DoHedged(t.Context(), p, fn)
		if err != nil || v != 1 {
			t.Fatalf("got %d, %v; want the hedge's answer", v, err)
		}
		synctest.Wait()
		if err := ctxs[1].Err(); err != nil {
			t.Fatalf("the winner's context ended (%v) before the caller released it", err)
		}
		if discarded[1].Load() != 0 {
			t.Fatal("the winner's value was discarded")
		}
		releases[1]()
		if ctxs[1].Err() == nil {
			t.Fatal("release did not end the winner's context")
		}
		if ctxs[0].Err() == nil {
			t.Fatal("the loser's context is live")
		}
	})
}

func TestHedgeLoserThatAnswersLateIsDiscarded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The hedge ignores its context and answers after the attempt
		// won: its value must be discarded, never leaked.
		var discarded atomic.Int32
		var n atomic.Int32
		rec := &recorder{}
		fn := func(ctx context.Context) (int, error) {
			i := int(n.Add(1) - 1)
			if i == 0 {
				time.Sleep(15 * time.Millisecond)
			} else {
				time.Sleep(100 * time.Millisecond) // deaf to ctx
			}
			rebound.Hold(ctx, func() { discarded.Add(1) })
			return i, nil
		}
		p := rebound.Policy{Hedger: newHedger(t, rebound.HedgeConfig{Delay: 10 * time.Millisecond, Ratio: 1}), Observer: rec}
		v, err := rebound.DoHedged(t.Context(), p, fn)
		if err != nil || v != 0 {
			t.Fatalf("got %d, %v; want the attempt's own answer", v, err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if discarded.Load() != 1 {
			t.Fatalf("the late hedge's value was discarded %d times, want 1", discarded.Load())
		}
		equalStrings(t, "hedge events", hedgeEvents(rec), []string{"hedge_started/1", "hedge_finished/1/lost"})
	})
}

func TestHedgeFatalFailureEndsTheAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logic := rebound.Permanent(errors.New("bad request"))
		s := &runs{delays: []time.Duration{time.Second, time.Millisecond}, results: []error{nil, logic}}
		rec := &recorder{}
		p := rebound.Policy{Hedger: newHedger(t, rebound.HedgeConfig{Delay: 10 * time.Millisecond, Ratio: 1}), Observer: rec}
		start := time.Now()
		_, err := rebound.DoHedged(t.Context(), p, s.fn)
		if e := asError(t, err); e.Reason != rebound.ReasonPermanent || e.Attempts != 1 {
			t.Fatalf("got %v; want a permanent failure after 1 attempt", err)
		}
		if d := time.Since(start); d != 11*time.Millisecond {
			t.Fatalf("the call took %v, want 11ms: a fatal failure does not wait for the other run", d)
		}
		equalStrings(t, "hedge events", hedgeEvents(rec), []string{"hedge_started/1", "hedge_finished/1/failure"})
	})
}

func TestHedgeRetryableFailureWaitsForTheOtherRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &runs{delays: []time.Duration{30 * time.Millisecond, time.Millisecond}, results: []error{nil, errReset}}
		p := rebound.Policy{Hedger: newHedger(t, rebound.HedgeConfig{Delay: 10 * time.Millisecond, Ratio: 1})}
		start := time.Now()
		v, err := rebound.DoHedged(t.Context(), p, s.fn)
		if err != nil || v != 0 {
			t.Fatalf("got %d, %v; want the attempt's own answer once the hedge failed", v, err)
		}
		if d := time.Since(start); d != 30*time.Millisecond {
			t.Fatalf("the call took %v, want 30ms", d)
		}
	})
}

func TestHedgedAttemptsThatAllFailAreRetriedWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var discarded atomic.Int32
		var n atomic.Int32
		fn := func(ctx context.Context) (int, error) {
			i := int(n.Add(1) - 1)
			d := 20 * time.Millisecond
			if i >= 2 {
				d = time.Millisecond
			}
			time.Sleep(d)
			rebound.Hold(ctx, func() { discarded.Add(1) })
			if i < 2 {
				return i, errReset
			}
			return i, nil
		}
		p := rebound.Policy{
			Hedger:  newHedger(t, rebound.HedgeConfig{Delay: 10 * time.Millisecond, Ratio: 1}),
			Backoff: rebound.Constant(time.Second),
		}
		start := time.Now()
		v, err := rebound.DoHedged(t.Context(), p, fn)
		if err != nil || v != 2 {
			t.Fatalf("got %d, %v; want the second attempt's answer", v, err)
		}
		// Attempt 1 and its hedge fail at 20 and 30 ms; 1 s of backoff.
		if d := time.Since(start); d != 30*time.Millisecond+time.Second+time.Millisecond {
			t.Fatalf("the call took %v, want 1.031s", d)
		}
		if discarded.Load() != 2 {
			t.Fatalf("%d failed values discarded, want both of the first attempt's", discarded.Load())
		}
	})
}

func TestHedgeBudgetKeepsHedgesUnderTheRatio(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		h := newHedger(t, rebound.HedgeConfig{Delay: 10 * time.Millisecond, Ratio: 0.1})
		p := rebound.Policy{Hedger: h, Observer: rec}
		for range 100 {
			s := &runs{delays: []time.Duration{50 * time.Millisecond, time.Millisecond}, results: []error{nil, nil}}
			if _, err := rebound.DoHedged(t.Context(), p, s.fn); err != nil {
				t.Fatal(err)
			}
		}
		var started, rejected int
		for _, e := range rec.events {
			switch e.Kind {
			case rebound.HedgeStarted:
				started++
			case rebound.HedgeRejected:
				rejected++
			}
		}
		if started != 10 || rejected != 90 {
			t.Fatalf("%d hedges started and %d rejected over 100 slow calls, want 10 and 90 (Ratio 0.1)", started, rejected)
		}
		if a, hs := h.Counts(); a != 100 || hs != 10 {
			t.Fatalf("Counts() = %d attempts, %d hedges; want 100, 10", a, hs)
		}
	})
}

func TestHedgeDelayFromLivePercentile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		h := newHedger(t, rebound.HedgeConfig{Percentile: 0.9, MinSamples: 20, Ratio: 1})
		p := rebound.Policy{Hedger: h, Observer: rec}
		if _, ok := h.Delay(); ok {
			t.Fatal("a hedger with no samples knows a delay")
		}
		// 20 calls: 18 take 1 ms, 2 take 5 ms. No hedge yet: too few samples.
		for i := range 20 {
			d := time.Millisecond
			if i%10 == 0 {
				d = 5 * time.Millisecond
			}
			s := &runs{delays: []time.Duration{d}, results: []error{nil}}
			if _, err := rebound.DoHedged(t.Context(), p, s.fn); err != nil {
				t.Fatal(err)
			}
		}
		if ev := hedgeEvents(rec); len(ev) != 0 {
			t.Fatalf("hedges %q before MinSamples were measured", ev)
		}
		d, ok := h.Delay()
		if !ok || d < time.Millisecond || d > time.Millisecond+time.Millisecond/8 {
			t.Fatalf("Delay() = %v, %v; want the p90, 1ms (within a bucket's 12.5%%)", d, ok)
		}
		s := &runs{delays: []time.Duration{time.Second, time.Millisecond}, results: []error{nil, nil}}
		start := time.Now()
		if v, err := rebound.DoHedged(t.Context(), p, s.fn); err != nil || v != 1 {
			t.Fatalf("got %d, %v; want the hedge's answer", v, err)
		}
		if got := time.Since(start); got != d+time.Millisecond {
			t.Fatalf("the call took %v, want the delay %v + 1ms", got, d)
		}
	})
}

func TestHedgeNeverForNonIdempotentCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		s := &runs{delays: []time.Duration{time.Second}, results: []error{nil}}
		p := rebound.Policy{Hedger: newHedger(t, rebound.HedgeConfig{Delay: time.Millisecond, Ratio: 1}), NonIdempotent: true, Observer: rec}
		if _, err := rebound.DoHedged(t.Context(), p, s.fn); err != nil {
			t.Fatal(err)
		}
		if s.started != 1 || len(hedgeEvents(rec)) != 0 {
			t.Fatalf("%d runs of a non-idempotent call, events %q; want 1 and none", s.started, hedgeEvents(rec))
		}
	})
}

func TestHedgeMaxHedgesEachAfterTheDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		s := &runs{delays: []time.Duration{time.Second, time.Second, time.Second, 5 * time.Millisecond}, results: []error{nil, nil, nil, nil}}
		p := rebound.Policy{Hedger: newHedger(t, rebound.HedgeConfig{Delay: 10 * time.Millisecond, MaxHedges: 3, Ratio: 3}), Observer: rec}
		start := time.Now()
		if v, err := rebound.DoHedged(t.Context(), p, s.fn); err != nil || v != 3 {
			t.Fatalf("got %d, %v; want the third hedge's answer", v, err)
		}
		if d := time.Since(start); d != 35*time.Millisecond {
			t.Fatalf("took %v, want 35ms (hedges at 10, 20, 30ms)", d)
		}
		equalStrings(t, "hedge events", hedgeEvents(rec), []string{
			"hedge_started/1", "hedge_started/2", "hedge_started/3",
			"hedge_finished/1/lost", "hedge_finished/2/lost", "hedge_finished/3/won",
		})
	})
}

func TestHedgeCallerCancelEndsEveryRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		s := &runs{delays: []time.Duration{time.Second, time.Second}, results: []error{nil, nil}}
		p := rebound.Policy{Hedger: newHedger(t, rebound.HedgeConfig{Delay: 10 * time.Millisecond, Ratio: 1})}
		_, err := rebound.DoHedged(ctx, p, s.fn)
		if e := asError(t, err); e.Reason != rebound.ReasonCanceled {
			t.Fatalf("got %v, want canceled", err)
		}
		synctest.Wait()
		for i, c := range s.ctxs {
			if c.Err() == nil {
				t.Fatalf("run %d is still live", i)
			}
		}
	})
}

func TestHedgeConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		cfg   rebound.HedgeConfig
		field string
	}{
		{rebound.HedgeConfig{Delay: -1}, "HedgeConfig.Delay"},
		{rebound.HedgeConfig{Percentile: 1}, "HedgeConfig.Percentile"},
		{rebound.HedgeConfig{Percentile: -0.5}, "HedgeConfig.Percentile"},
		{rebound.HedgeConfig{MinSamples: -1}, "HedgeConfig.MinSamples"},
		{rebound.HedgeConfig{MaxHedges: 11}, "HedgeConfig.MaxHedges"},
		{rebound.HedgeConfig{Ratio: 10.5}, "HedgeConfig.Ratio"},
		{rebound.HedgeConfig{Window: -time.Second}, "HedgeConfig.Window"},
	} {
		_, err := rebound.NewHedger(tc.cfg)
		var ce *rebound.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%+v: got %v, want a ConfigError on %s", tc.cfg, err, tc.field)
		}
	}
	if _, err := rebound.NewHedgers(rebound.HedgeConfig{}, -1); err == nil {
		t.Error("NewHedgers accepted a negative limit")
	}
}

func TestHedgersGiveEachKeyItsOwnHedger(t *testing.T) {
	g, err := rebound.NewHedgers(rebound.HedgeConfig{Delay: time.Millisecond}, 2)
	if err != nil {
		t.Fatal(err)
	}
	a, b := g.Get("a"), g.Get("b")
	if a == b || g.Get("a") != a || a.Name() != "a" || a.Config().Delay != time.Millisecond {
		t.Fatalf("Get gave %p %p, names %q %q", a, b, a.Name(), b.Name())
	}
	g.Get("c")
	if g.Len() != 2 {
		t.Fatalf("Len() = %d, want the limit 2", g.Len())
	}
}

func TestDoRefusesAHedgerAndNamesDoHedged(t *testing.T) {
	calls := 0
	p := rebound.Policy{Hedger: newHedger(t, rebound.HedgeConfig{})}
	err := rebound.Run(t.Context(), p, func(context.Context) error { calls++; return nil })
	var ce *rebound.ConfigError
	if !errors.As(err, &ce) || ce.Field != "Policy.Hedger" || calls != 0 {
		t.Fatalf("got %v after %d calls, want a ConfigError on Policy.Hedger and no call", err, calls)
	}
}

func TestHedgedRunPanicReachesTheCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int32
		s := &runs{delays: []time.Duration{time.Second, time.Second}, results: []error{nil, nil}}
		p := rebound.Policy{Hedger: newHedger(t, rebound.HedgeConfig{Delay: 10 * time.Millisecond, Ratio: 1})}
		defer func() {
			if x := recover(); x != "boom" {
				t.Fatalf("recovered %v, want the run's panic value", x)
			}
			synctest.Wait()
			if s.ctxs[0].Err() == nil {
				t.Fatal("the other run is live after the panic")
			}
		}()
		_, _ = rebound.DoHedged(t.Context(), p, func(ctx context.Context) (int, error) {
			if n.Add(1) == 2 {
				panic("boom")
			}
			return s.fn(ctx)
		})
		t.Fatal("DoHedged returned")
	})
}
