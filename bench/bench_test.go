package bench

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	retrygo "github.com/avast/retry-go/v4"
	"github.com/cenkalti/backoff/v5"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/budget"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	sethretry "github.com/sethvargo/go-retry"
	"github.com/sony/gobreaker/v2"

	"github.com/rebound-go/rebound"
)

// Shared rules for every configuration below:
//
//   - at most 3 attempts (the first one included);
//   - on the happy and composed paths, exponential backoff starting near 1 s,
//     doubling, capped at 10 s, as close to rebound's default
//     (Exponential{}: 1 s doubling to 10 s, full jitter) as each library
//     allows; the happy path never waits, so only the configuration's cost
//     shows, not the waits;
//   - on the failure path, every wait is zero, so only the retry loop's own
//     cost shows;
//   - everything that a library lets the caller build once (policies,
//     executors, breakers, option slices, errors, the operation itself) is
//     built once, outside the timed loop. What a library requires per call
//     (a stateful backoff with no Reset) is built per call, as its
//     documentation does, and said so where it happens.

// The errors are made once, so the benchmarks measure the libraries and not
// the construction of errors.
var (
	// errBoom is the failure of the failure path. Libraries that retry any
	// error (failsafe-go, cenkalti/backoff, retry-go) get it as it is.
	errBoom = errors.New("bench: transient failure")
	// errReboundTransient marks errBoom as retryable for rebound, which
	// otherwise classifies a plain error as Unknown and does not retry it.
	errReboundTransient = rebound.Transient(errBoom)
	// errSethvargoRetryable marks errBoom as retryable for sethvargo/go-retry,
	// which retries only errors wrapped with RetryableError.
	errSethvargoRetryable = sethretry.RetryableError(errBoom)
)

// The happy path's operation, in each library's signature.
func okCtx(context.Context) (int, error) { return 1, nil }
func ok() (int, error)                   { return 1, nil }

// flaky fails its first failures attempts after each reset (n = 0), then
// returns the number of the attempt that succeeded. Each benchmark goroutine
// owns its own flaky, so no state is shared across goroutines.
type flaky struct {
	n        int
	failures int
	err      error
}

func (f *flaky) callCtx(context.Context) (int, error) {
	f.n++
	if f.n <= f.failures {
		return 0, f.err
	}
	return f.n, nil
}

func (f *flaky) call() (int, error) { return f.callCtx(nil) }

// ---------------------------------------------------------------------------
// Configurations. Each is built once per benchmark (or once per goroutine for
// objects that are not safe for concurrent use) and shared by
// TestSameSemantics.

// reboundHappyPolicy: MaxAttempts 3; Backoff left nil, which is
// rebound.Exponential{} (1 s doubling to 10 s, full jitter). No Observer,
// Breaker or Budget.
func reboundHappyPolicy() rebound.Policy {
	return rebound.Policy{MaxAttempts: 3}
}

// reboundFailPolicy: MaxAttempts 3, every wait zero.
func reboundFailPolicy() rebound.Policy {
	return rebound.Policy{MaxAttempts: 3, Backoff: rebound.Constant(0)}
}

// reboundComposedPolicy: the happy policy plus a breaker (defaults: opens on
// 5 consecutive failures or a 50% failure rate over 60 s with at least 20
// calls, 30 s open, 1 probe), a retry budget (defaults: 20% of calls plus 3
// per second over 10 s) and a slog observer writing to io.Discard (a
// first-attempt success logs nothing).
func reboundComposedPolicy(tb testing.TB) rebound.Policy {
	br, err := rebound.NewBreaker(rebound.BreakerConfig{Name: "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	bu, err := rebound.NewBudget(rebound.BudgetConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	return rebound.Policy{
		MaxAttempts: 3,
		Breaker:     br,
		Budget:      bu,
		Observer:    rebound.NewSlogObserver(slog.New(slog.NewTextHandler(io.Discard, nil))),
	}
}

// failsafeHappy: a retry policy with 3 attempts and exponential backoff 1 s
// doubling to 10 s. failsafe-go has no full-jitter mode; jitter would only
// apply to a wait, and the happy path has none, so none is set. The executor
// is safe for concurrent use and is built once. Its context is the default
// context.Background(), like the ctx given to the others; setting one per
// call with WithContext would copy the executor.
func failsafeHappy() failsafe.Executor[int] {
	rp := retrypolicy.NewBuilder[int]().
		WithMaxAttempts(3).
		WithBackoff(time.Second, 10*time.Second).
		Build()
	return failsafe.With[int](rp)
}

// failsafeFail: 3 attempts and no delay (failsafe-go's default delay is 0).
// Any error is retried by default.
func failsafeFail() failsafe.Executor[int] {
	rp := retrypolicy.NewBuilder[int]().WithMaxAttempts(3).Build()
	return failsafe.With[int](rp)
}

// failsafeComposedKind chooses the failsafe-go circuit breaker, since it
// takes one thresholding rule where rebound applies two.
type failsafeComposedKind int

const (
	// failsafeCount opens on 5 failures out of the last 5 executions, i.e.
	// rebound's 5-consecutive-failures rule. It is failsafe-go's cheapest
	// breaker: a fixed ring of outcomes, no clock.
	failsafeCount failsafeComposedKind = iota
	// failsafeRate opens on a 50% failure rate over at least 20 executions
	// in 1 minute, i.e. rebound's time-windowed failure-rate rule.
	failsafeRate
	// failsafeRateBudget is failsafeRate plus failsafe-go's retry budget
	// (defaults: retries at most 20% of in-flight executions, at least 3),
	// the nearest thing to rebound's Budget.
	failsafeRateBudget
)

// failsafeComposed: retry policy as in failsafeHappy, composed around a
// circuit breaker (open for 30 s), so that the breaker guards each attempt as
// rebound's does: failsafe.With(retryPolicy, breaker) runs
// RetryPolicy(CircuitBreaker(fn)).
func failsafeComposed(kind failsafeComposedKind) failsafe.Executor[int] {
	rpb := retrypolicy.NewBuilder[int]().
		WithMaxAttempts(3).
		WithBackoff(time.Second, 10*time.Second)
	cbb := circuitbreaker.NewBuilder[int]().WithDelay(30 * time.Second)
	switch kind {
	case failsafeCount:
		cbb = cbb.WithFailureThreshold(5)
	case failsafeRate:
		cbb = cbb.WithFailureRateThreshold(0.5, 20, time.Minute)
	case failsafeRateBudget:
		cbb = cbb.WithFailureRateThreshold(0.5, 20, time.Minute)
		rpb = rpb.WithBudget(budget.New())
	}
	return failsafe.With[int](rpb.Build(), cbb.Build())
}

// cenkaltiHappyOpts: 3 tries; ExponentialBackOff from 1 s doubling to 10 s
// with its default ±50% randomization (it has no full-jitter mode); no
// MaxElapsedTime (its default is 15 min; rebound's default is none). The
// ExponentialBackOff is not safe for concurrent use, so each benchmark
// goroutine gets its own slice; Retry resets the backoff at the start of each
// call, so reusing it across sequential calls is correct.
func cenkaltiHappyOpts() []backoff.RetryOption {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     time.Second,
		RandomizationFactor: backoff.DefaultRandomizationFactor,
		Multiplier:          2,
		MaxInterval:         10 * time.Second,
	}
	return []backoff.RetryOption{
		backoff.WithBackOff(b),
		backoff.WithMaxTries(3),
		backoff.WithMaxElapsedTime(0),
	}
}

// cenkaltiFailOpts: 3 tries, ZeroBackOff (every wait zero), no
// MaxElapsedTime. Any error that is not Permanent is retried.
func cenkaltiFailOpts() []backoff.RetryOption {
	return []backoff.RetryOption{
		backoff.WithBackOff(&backoff.ZeroBackOff{}),
		backoff.WithMaxTries(3),
		backoff.WithMaxElapsedTime(0),
	}
}

// retryGoHappyOpts: 3 attempts, FullJitterBackoffDelay (exponential with full
// jitter, like rebound's default) with base 500 ms, because retry-go computes
// the first retry's ceiling as base·2¹ = 1 s; capped at 10 s. LastErrorOnly
// avoids building the joined error when attempts run out (not reached on
// these paths). The option slice is built once; retry-go still builds its
// Config per call, which is its design.
func retryGoHappyOpts(ctx context.Context) []retrygo.Option {
	return []retrygo.Option{
		retrygo.Attempts(3),
		retrygo.Delay(500 * time.Millisecond),
		retrygo.MaxDelay(10 * time.Second),
		retrygo.DelayType(retrygo.FullJitterBackoffDelay),
		retrygo.LastErrorOnly(true),
		retrygo.Context(ctx),
	}
}

// retryGoFailOpts: 3 attempts, FixedDelay of 0 (every wait zero). Any error
// is retried by default.
func retryGoFailOpts(ctx context.Context) []retrygo.Option {
	return []retrygo.Option{
		retrygo.Attempts(3),
		retrygo.Delay(0),
		retrygo.DelayType(retrygo.FixedDelay),
		retrygo.LastErrorOnly(true),
		retrygo.Context(ctx),
	}
}

// sethvargoHappyBackoff: at most 2 retries (3 attempts) of exponential
// backoff from 1 s, capped at 10 s, with full jitter. go-retry's backoffs are
// stateful and have no Reset, so its documented use builds one per call; the
// benchmarks do the same, inside the timed loop.
func sethvargoHappyBackoff() sethretry.Backoff {
	return sethretry.WithMaxRetries(2,
		sethretry.WithFullJitter(
			sethretry.WithCappedDuration(10*time.Second,
				sethretry.NewExponential(time.Second))))
}

// sethvargoZero waits zero before every retry (NewConstant and NewExponential
// refuse a zero duration). It holds no state, so it is built once.
var sethvargoZero = sethretry.BackoffFunc(func() (time.Duration, bool) { return 0, false })

// sethvargoFailBackoff: at most 2 retries (3 attempts), every wait zero.
// WithMaxRetries counts retries, so it is built per call.
func sethvargoFailBackoff() sethretry.Backoff {
	return sethretry.WithMaxRetries(2, sethvargoZero)
}

// gobreakerComposed: a gobreaker closed-state policy matching rebound's
// breaker defaults: a rolling 60 s window in 6 s buckets (rebound: 10
// buckets over 60 s), open on 5 consecutive failures or a 50% failure rate
// over at least 20 requests, 30 s open, 1 half-open probe. It is composed
// inside a retry library's loop so that it guards each attempt, as rebound's
// breaker does; on the happy path the nesting order does not change the work
// done (one retry call, one breaker call).
func gobreakerComposed() *gobreaker.CircuitBreaker[int] {
	return gobreaker.NewCircuitBreaker[int](gobreaker.Settings{
		Name:         "bench",
		MaxRequests:  1,
		Interval:     time.Minute,
		BucketPeriod: 6 * time.Second,
		Timeout:      30 * time.Second,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= 5 ||
				(c.Requests >= 20 && 2*uint64(c.TotalFailures) >= uint64(c.Requests))
		},
	})
}

// ---------------------------------------------------------------------------
// Benchmarks.

func BenchmarkHappy(b *testing.B) {
	ctx := context.Background()

	// baseline: the operation called directly, with no library, to show the
	// floor of the loop itself. Not a peer.
	b.Run("baseline-direct-call", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if v, err := okCtx(ctx); err != nil || v != 1 {
				b.Fatal(v, err)
			}
		}
	})

	b.Run("rebound", func(b *testing.B) {
		p := reboundHappyPolicy()
		b.ReportAllocs()
		for b.Loop() {
			if v, err := rebound.Do(ctx, p, okCtx); err != nil || v != 1 {
				b.Fatal(v, err)
			}
		}
	})

	b.Run("failsafe-go", func(b *testing.B) {
		ex := failsafeHappy()
		b.ReportAllocs()
		for b.Loop() {
			if v, err := ex.Get(ok); err != nil || v != 1 {
				b.Fatal(v, err)
			}
		}
	})

	b.Run("cenkalti-backoff", func(b *testing.B) {
		opts := cenkaltiHappyOpts()
		b.ReportAllocs()
		for b.Loop() {
			if v, err := backoff.Retry(ctx, ok, opts...); err != nil || v != 1 {
				b.Fatal(v, err)
			}
		}
	})

	b.Run("retry-go", func(b *testing.B) {
		opts := retryGoHappyOpts(ctx)
		b.ReportAllocs()
		for b.Loop() {
			if v, err := retrygo.DoWithData(ok, opts...); err != nil || v != 1 {
				b.Fatal(v, err)
			}
		}
	})

	b.Run("sethvargo-go-retry", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			// The backoff is stateful with no Reset: one per call, as
			// documented (see sethvargoHappyBackoff).
			if v, err := sethretry.DoValue(ctx, sethvargoHappyBackoff(), okCtx); err != nil || v != 1 {
				b.Fatal(v, err)
			}
		}
	})
}

func BenchmarkFailTwice(b *testing.B) {
	ctx := context.Background()

	b.Run("rebound", func(b *testing.B) {
		p := reboundFailPolicy()
		f := &flaky{failures: 2, err: errReboundTransient}
		op := f.callCtx
		b.ReportAllocs()
		for b.Loop() {
			f.n = 0
			if v, err := rebound.Do(ctx, p, op); err != nil || v != 3 {
				b.Fatal(v, err)
			}
		}
	})

	b.Run("failsafe-go", func(b *testing.B) {
		ex := failsafeFail()
		f := &flaky{failures: 2, err: errBoom}
		op := f.call
		b.ReportAllocs()
		for b.Loop() {
			f.n = 0
			if v, err := ex.Get(op); err != nil || v != 3 {
				b.Fatal(v, err)
			}
		}
	})

	b.Run("cenkalti-backoff", func(b *testing.B) {
		opts := cenkaltiFailOpts()
		f := &flaky{failures: 2, err: errBoom}
		op := f.call
		b.ReportAllocs()
		for b.Loop() {
			f.n = 0
			if v, err := backoff.Retry(ctx, op, opts...); err != nil || v != 3 {
				b.Fatal(v, err)
			}
		}
	})

	b.Run("retry-go", func(b *testing.B) {
		opts := retryGoFailOpts(ctx)
		f := &flaky{failures: 2, err: errBoom}
		op := f.call
		b.ReportAllocs()
		for b.Loop() {
			f.n = 0
			if v, err := retrygo.DoWithData(op, opts...); err != nil || v != 3 {
				b.Fatal(v, err)
			}
		}
	})

	b.Run("sethvargo-go-retry", func(b *testing.B) {
		f := &flaky{failures: 2, err: errSethvargoRetryable}
		op := f.callCtx
		b.ReportAllocs()
		for b.Loop() {
			f.n = 0
			// Per call: WithMaxRetries counts retries and has no Reset.
			if v, err := sethretry.DoValue(ctx, sethvargoFailBackoff(), op); err != nil || v != 3 {
				b.Fatal(v, err)
			}
		}
	})
}

// composedCase is one library's retry-plus-breaker stack. setup builds the
// shared objects once; perG builds, once per benchmark goroutine, a function
// that makes one call through the stack (objects that are not safe for
// concurrent use, such as a cenkalti ExponentialBackOff, live in perG's
// closure). The extra indirect call costs every case the same.
type composedCase struct {
	name  string
	setup func(tb testing.TB) (perG func() func(ctx context.Context) (int, error))
}

func composedCases() []composedCase {
	failsafeCase := func(name string, kind failsafeComposedKind) composedCase {
		return composedCase{name, func(testing.TB) func() func(context.Context) (int, error) {
			ex := failsafeComposed(kind)
			return func() func(context.Context) (int, error) {
				return func(context.Context) (int, error) { return ex.Get(ok) }
			}
		}}
	}
	return []composedCase{
		{"rebound", func(tb testing.TB) func() func(context.Context) (int, error) {
			p := reboundComposedPolicy(tb)
			return func() func(context.Context) (int, error) {
				return func(ctx context.Context) (int, error) { return rebound.Do(ctx, p, okCtx) }
			}
		}},
		failsafeCase("failsafe-go", failsafeCount),
		failsafeCase("failsafe-go-rate", failsafeRate),
		failsafeCase("failsafe-go-rate-budget", failsafeRateBudget),
		{"gobreaker-cenkalti-backoff", func(testing.TB) func() func(context.Context) (int, error) {
			cb := gobreakerComposed()
			attempt := func() (int, error) { return cb.Execute(ok) }
			return func() func(context.Context) (int, error) {
				opts := cenkaltiHappyOpts() // its backoff is per goroutine
				return func(ctx context.Context) (int, error) { return backoff.Retry(ctx, attempt, opts...) }
			}
		}},
		{"gobreaker-sethvargo-go-retry", func(testing.TB) func() func(context.Context) (int, error) {
			cb := gobreakerComposed()
			attempt := func(context.Context) (int, error) { return cb.Execute(ok) }
			return func() func(context.Context) (int, error) {
				return func(ctx context.Context) (int, error) {
					return sethretry.DoValue(ctx, sethvargoHappyBackoff(), attempt)
				}
			}
		}},
	}
}

func BenchmarkComposed(b *testing.B) {
	ctx := context.Background()
	for _, c := range composedCases() {
		b.Run(c.name, func(b *testing.B) {
			call := c.setup(b)()
			b.ReportAllocs()
			for b.Loop() {
				if v, err := call(ctx); err != nil || v != 1 {
					b.Fatal(v, err)
				}
			}
		})
	}
}

func BenchmarkComposedParallel(b *testing.B) {
	ctx := context.Background()
	for _, c := range composedCases() {
		b.Run(c.name, func(b *testing.B) {
			perG := c.setup(b)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				call := perG()
				for pb.Next() {
					if v, err := call(ctx); err != nil || v != 1 {
						b.Error(v, err)
						return
					}
				}
			})
		})
	}
}
