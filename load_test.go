package rebound_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rebound-go/rebound"
)

// Many goroutines share one policy, breaker, budget and observer while their
// calls fail and retry; run with -race. Every call must end exactly once and
// the event counts must balance.
func TestDoParallelLoadSharedPolicy(t *testing.T) {
	br, _ := rebound.NewBreaker(rebound.BreakerConfig{ConsecutiveFailures: -1, FailureRate: 1, MinCalls: 1 << 30})
	bu, _ := rebound.NewBudget(rebound.BudgetConfig{Ratio: 10})
	var attempts, retries, finished, succeeded atomic.Int64
	obs := rebound.ObserverFunc(func(_ context.Context, e rebound.Event) {
		switch e.Kind {
		case rebound.AttemptFinished:
			attempts.Add(1)
		case rebound.RetryScheduled:
			retries.Add(1)
		case rebound.CallFinished:
			finished.Add(1)
			if e.Result == rebound.ResultSuccess {
				succeeded.Add(1)
			}
		}
	})
	p := rebound.Policy{Endpoint: "load", Breaker: br, Budget: bu, Observer: obs, Backoff: rebound.Constant(0)}
	const goroutines, calls = 8, 500
	var wg sync.WaitGroup
	var ran atomic.Int64
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				n := 0
				_ = rebound.Run(context.Background(), p, func(context.Context) error {
					ran.Add(1)
					n++
					if (i+n)%3 != 0 {
						return errReset
					}
					return nil
				})
			}
		}()
	}
	wg.Wait()
	if finished.Load() != goroutines*calls {
		t.Fatalf("%d calls finished, want %d", finished.Load(), goroutines*calls)
	}
	if attempts.Load() != ran.Load() || attempts.Load()-retries.Load() != goroutines*calls {
		t.Fatalf("attempts %d, runs %d, retries %d: attempts must equal runs and calls + retries", attempts.Load(), ran.Load(), retries.Load())
	}
	// (i+n)%3 == 0 within 3 attempts for every i: all calls succeed.
	if succeeded.Load() != goroutines*calls {
		t.Fatalf("%d calls succeeded, want all %d", succeeded.Load(), goroutines*calls)
	}
	outcomes, failures, _ := br.Counts()
	if outcomes != attempts.Load() || failures != retries.Load() {
		t.Fatalf("breaker counted %d outcomes and %d failures, want %d and %d", outcomes, failures, attempts.Load(), retries.Load())
	}
}
