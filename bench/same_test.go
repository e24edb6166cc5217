package bench

import (
	"context"
	"testing"

	retrygo "github.com/avast/retry-go/v4"
	"github.com/cenkalti/backoff/v5"
	sethretry "github.com/sethvargo/go-retry"

	"github.com/rebound-go/rebound"
)

// TestSameSemantics checks that every configuration the benchmarks use
// retries the failure path exactly as the benchmarks assume: an operation
// that fails twice runs 3 times and its success is returned, and an
// operation that always fails runs exactly 3 times and fails. It also checks
// that each composed stack passes a first-attempt success through once.
func TestSameSemantics(t *testing.T) {
	ctx := context.Background()

	type failCase struct {
		name string
		err  error // the failure this library is given on the failure path
		call func(f *flaky) (int, error)
	}
	cases := []failCase{
		{"rebound", errReboundTransient, func(f *flaky) (int, error) {
			return rebound.Do(ctx, reboundFailPolicy(), f.callCtx)
		}},
		{"failsafe-go", errBoom, func(f *flaky) (int, error) {
			return failsafeFail().Get(f.call)
		}},
		{"cenkalti-backoff", errBoom, func(f *flaky) (int, error) {
			return backoff.Retry(ctx, f.call, cenkaltiFailOpts()...)
		}},
		{"retry-go", errBoom, func(f *flaky) (int, error) {
			return retrygo.DoWithData(f.call, retryGoFailOpts(ctx)...)
		}},
		{"sethvargo-go-retry", errSethvargoRetryable, func(f *flaky) (int, error) {
			return sethretry.DoValue(ctx, sethvargoFailBackoff(), f.callCtx)
		}},
	}
	for _, c := range cases {
		t.Run(c.name+"/fail-twice", func(t *testing.T) {
			f := &flaky{failures: 2, err: c.err}
			v, err := c.call(f)
			if err != nil || v != 3 || f.n != 3 {
				t.Fatalf("got (%d, %v) after %d attempts; want (3, nil) after 3", v, err, f.n)
			}
		})
		t.Run(c.name+"/always-fail", func(t *testing.T) {
			f := &flaky{failures: 1 << 30, err: c.err}
			_, err := c.call(f)
			if err == nil || f.n != 3 {
				t.Fatalf("got err %v after %d attempts; want an error after 3", err, f.n)
			}
		})
	}

	// The happy-path configurations must not retry a success either.
	happy := []failCase{
		{"rebound", nil, func(f *flaky) (int, error) {
			return rebound.Do(ctx, reboundHappyPolicy(), f.callCtx)
		}},
		{"failsafe-go", nil, func(f *flaky) (int, error) {
			return failsafeHappy().Get(f.call)
		}},
		{"cenkalti-backoff", nil, func(f *flaky) (int, error) {
			return backoff.Retry(ctx, f.call, cenkaltiHappyOpts()...)
		}},
		{"retry-go", nil, func(f *flaky) (int, error) {
			return retrygo.DoWithData(f.call, retryGoHappyOpts(ctx)...)
		}},
		{"sethvargo-go-retry", nil, func(f *flaky) (int, error) {
			return sethretry.DoValue(ctx, sethvargoHappyBackoff(), f.callCtx)
		}},
	}
	for _, c := range happy {
		t.Run(c.name+"/happy", func(t *testing.T) {
			f := &flaky{}
			v, err := c.call(f)
			if err != nil || v != 1 || f.n != 1 {
				t.Fatalf("got (%d, %v) after %d attempts; want (1, nil) after 1", v, err, f.n)
			}
		})
	}

	for _, c := range composedCases() {
		t.Run(c.name+"/composed", func(t *testing.T) {
			call := c.setup(t)()
			for range 3 {
				if v, err := call(ctx); err != nil || v != 1 {
					t.Fatalf("got (%d, %v); want (1, nil)", v, err)
				}
			}
		})
	}
}
