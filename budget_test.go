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

func newBudget(t *testing.T, cfg rebound.BudgetConfig) *rebound.Budget {
	t.Helper()
	b, err := rebound.NewBudget(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBudgetRatioAndFloor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Floor: 1 per second over 10 s = 10 retries with no calls at all.
		b := newBudget(t, rebound.BudgetConfig{Ratio: 0.2, MinPerSecond: 1, Window: 10 * time.Second})
		for i := 0; i < 10; i++ {
			if !b.AllowRetry() {
				t.Fatalf("retry %d refused within the floor", i+1)
			}
		}
		if b.AllowRetry() {
			t.Fatal("retry past the floor allowed")
		}
		// 100 calls earn 20 more retries.
		for i := 0; i < 100; i++ {
			b.RecordCall()
		}
		for i := 0; i < 20; i++ {
			if !b.AllowRetry() {
				t.Fatalf("retry %d refused within the ratio", i+1)
			}
		}
		if b.AllowRetry() {
			t.Fatal("retry past the ratio allowed")
		}
		calls, retries := b.Counts()
		if calls != 100 || retries != 30 {
			t.Fatalf("counts %d calls %d retries", calls, retries)
		}
		// Everything slides out after the window.
		time.Sleep(10 * time.Second)
		if calls, retries := b.Counts(); calls != 0 || retries != 0 {
			t.Fatalf("counts after the window: %d %d", calls, retries)
		}
		if !b.AllowRetry() {
			t.Fatal("budget did not recover")
		}
	})
}

func TestBudgetNoFloor(t *testing.T) {
	b := newBudget(t, rebound.BudgetConfig{MinPerSecond: -1})
	if b.AllowRetry() {
		t.Fatal("retry allowed with no calls and no floor")
	}
	for i := 0; i < 5; i++ {
		b.RecordCall()
	}
	if !b.AllowRetry() || b.AllowRetry() {
		t.Fatal("5 calls at 20% must allow exactly one retry")
	}
}

func TestDoStopsARetryStormWithABudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, rebound.BudgetConfig{Ratio: 0.1, MinPerSecond: -1})
		rec := &recorder{}
		p := rebound.Policy{Budget: b, Observer: rec, MaxAttempts: 3, Backoff: rebound.Constant(0)}
		// A dependency that always fails: 100 calls may make at most 10
		// retries between them, instead of 200.
		var attempts int
		for i := 0; i < 100; i++ {
			_ = rebound.Run(t.Context(), p, func(context.Context) error { attempts++; return errReset })
		}
		if attempts != 110 {
			t.Fatalf("%d attempts for 100 calls, want 110 (10%% retries)", attempts)
		}
		var rejections, budgetGiveUps int
		for _, e := range rec.events {
			if e.Kind == rebound.BudgetRejected {
				rejections++
			}
			if e.Kind == rebound.CallFinished && e.Reason == rebound.ReasonBudget && e.Result == rebound.ResultGaveUp {
				budgetGiveUps++
			}
		}
		// Every tenth call earns one retry, whose failure then asks for a
		// second one that is refused: every call ends on the budget.
		if rejections != 100 || budgetGiveUps != 100 {
			t.Fatalf("%d budget rejections and %d budget give-ups, want 100 each", rejections, budgetGiveUps)
		}
		err := rebound.Run(t.Context(), p, func(context.Context) error { return errReset })
		if !errors.Is(err, rebound.ErrBudget) {
			t.Fatalf("got %v, want ErrBudget", err)
		}
	})
}

func TestBudgetConfigErrors(t *testing.T) {
	for _, cfg := range []rebound.BudgetConfig{{Ratio: -0.1}, {Ratio: 11}, {Window: -1}} {
		if _, err := rebound.NewBudget(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	c := newBudget(t, rebound.BudgetConfig{}).Config()
	if c.Ratio != 0.2 || c.MinPerSecond != 3 || c.Window != 10*time.Second {
		t.Fatalf("defaults %+v", c)
	}
}

// Concurrent retries overshoot the limit by at most the number of callers.
func TestBudgetConcurrent(t *testing.T) {
	b := newBudget(t, rebound.BudgetConfig{Ratio: 0.5, MinPerSecond: -1, Window: time.Hour})
	for i := 0; i < 1000; i++ {
		b.RecordCall()
	}
	var wg sync.WaitGroup
	var allowed atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if b.AllowRetry() {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := allowed.Load(); n < 500 || n > 508 {
		t.Fatalf("%d retries allowed, want 500 (at most 8 over)", n)
	}
}
