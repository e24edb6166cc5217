package idempotency_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rebound-go/rebound/idempotency"
)

func TestOnce(t *testing.T) {
	store := &idempotency.MemoryStore{}
	ctx := context.Background()
	var runs atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := idempotency.Once(ctx, store, "msg-1", idempotency.OnceOptions{}, func(context.Context) error {
				runs.Add(1)
				return nil
			})
			if err != nil && !errors.Is(err, idempotency.ErrInFlight) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if runs.Load() != 1 {
		t.Fatalf("fn ran %d times", runs.Load())
	}
	ran, err := idempotency.Once(ctx, store, "msg-1", idempotency.OnceOptions{}, func(context.Context) error { runs.Add(1); return nil })
	if ran || err != nil || runs.Load() != 1 {
		t.Fatalf("done key: ran %v, %v", ran, err)
	}
	// A failure releases the key: the redelivery runs it again.
	boom := errors.New("boom")
	if ran, err := idempotency.Once(ctx, store, "msg-2", idempotency.OnceOptions{}, func(context.Context) error { return boom }); !ran || !errors.Is(err, boom) {
		t.Fatalf("failing fn: %v %v", ran, err)
	}
	if ran, err := idempotency.Once(ctx, store, "msg-2", idempotency.OnceOptions{}, func(context.Context) error { return nil }); !ran || err != nil {
		t.Fatalf("after a failure: %v %v", ran, err)
	}
}
