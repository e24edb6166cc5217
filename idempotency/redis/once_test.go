package redis_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/redis"
)

// TestOnce runs idempotency.Once from 50 goroutines on one key: one runs
// fn, which holds the key until the other 49 have been turned away with
// ErrInFlight; once it is done, Once reports the key as done.
func TestOnce(t *testing.T) {
	client, prefix := testClient(t)
	store := newStore(t, client, redis.Config{Prefix: prefix})
	ctx := context.Background()
	const n = 50

	var runs atomic.Int64
	turnedAway := make(chan struct{})
	fn := func(context.Context) error {
		runs.Add(1)
		select {
		case <-turnedAway:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("the other callers were not all turned away")
		}
	}

	type result struct {
		ran bool
		err error
	}
	results := make(chan result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ran, err := idempotency.Once(ctx, store, "job-1", idempotency.OnceOptions{}, fn)
			results <- result{ran, err}
		}()
	}
	close(start)
	var ran []result
	for i := range n {
		r := <-results
		if r.ran {
			ran = append(ran, r)
			continue
		}
		if !errors.Is(r.err, idempotency.ErrInFlight) {
			t.Errorf("a caller that did not run fn got %v, want ErrInFlight", r.err)
		}
		if i-len(ran) == n-2 {
			close(turnedAway) // every caller but the runner has returned
		}
	}
	wg.Wait()
	if len(ran) != 1 || ran[0].err != nil {
		t.Fatalf("callers that ran fn: %+v, want exactly one, without error", ran)
	}
	if runs.Load() != 1 {
		t.Fatalf("fn ran %d times, want 1", runs.Load())
	}

	did, err := idempotency.Once(ctx, store, "job-1", idempotency.OnceOptions{}, fn)
	if did || err != nil {
		t.Fatalf("Once after the key is done: (%v, %v), want (false, nil)", did, err)
	}
	if runs.Load() != 1 {
		t.Fatalf("fn ran %d times, want 1", runs.Load())
	}
}

// TestOnceFailureReleases checks that a failing fn releases the key, so
// the next Once runs fn again.
func TestOnceFailureReleases(t *testing.T) {
	client, prefix := testClient(t)
	store := newStore(t, client, redis.Config{Prefix: prefix})
	ctx := context.Background()
	errBoom := errors.New("boom")

	calls := 0
	fail := func(context.Context) error { calls++; return errBoom }
	succeed := func(context.Context) error { calls++; return nil }

	if ran, err := idempotency.Once(ctx, store, "job-2", idempotency.OnceOptions{}, fail); !ran || !errors.Is(err, errBoom) {
		t.Fatalf("failing fn: (%v, %v), want (true, boom)", ran, err)
	}
	if ran, err := idempotency.Once(ctx, store, "job-2", idempotency.OnceOptions{}, succeed); !ran || err != nil {
		t.Fatalf("Once after a failure: (%v, %v), want (true, nil)", ran, err)
	}
	if ran, err := idempotency.Once(ctx, store, "job-2", idempotency.OnceOptions{}, succeed); ran || err != nil {
		t.Fatalf("Once after a success: (%v, %v), want (false, nil)", ran, err)
	}
	if calls != 2 {
		t.Fatalf("fn ran %d times, want 2", calls)
	}
}
