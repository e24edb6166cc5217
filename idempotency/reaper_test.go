package idempotency_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/idempotency"
)

func TestReaperDeletesExpiredKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &idempotency.MemoryStore{}
		ctx := context.Background()
		c, _ := store.Claim(ctx, "k", "fp", time.Now(), time.Minute, time.Hour)
		_ = store.Complete(ctx, "k", c.Token, idempotency.Response{Status: 201}, time.Now(), 90*time.Minute)
		r, err := idempotency.NewReaper(store, idempotency.ReaperConfig{Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx); err == nil {
			t.Fatal("started twice")
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if n, _ := store.Reap(ctx, time.Now().Add(-time.Second)); n != 0 {
			t.Fatal("unexpected expired key")
		}
		// The key expires at 1h30; the reap at 2h deletes it.
		time.Sleep(time.Hour)
		synctest.Wait()
		if c, _ := store.Claim(ctx, "k", "fp", time.Now().Add(-time.Hour), time.Minute, time.Hour); !c.Claimed {
			t.Fatal("the expired key was not reaped")
		}
		if err := r.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx); err == nil || !strings.Contains(err.Error(), "stopped") {
			t.Fatalf("Start after Stop: %v, want an error saying the reaper was stopped", err)
		}
	})
}

// blockingStore's Reap ignores its context and returns only when release
// is closed, as a store stuck in a slow DELETE would.
type blockingStore struct {
	idempotency.MemoryStore
	entered chan struct{} // receives when a Reap begins
	release chan struct{}
}

func (s *blockingStore) Reap(context.Context, time.Time) (int, error) {
	s.entered <- struct{}{}
	<-s.release
	return 0, nil
}

// Stop returns only once the reaper's goroutine has ended: while a Reap
// runs, Stop waits, past its own context's end if need be, and then
// reports that context's error.
func TestReaperStopWaitsForItsGoroutine(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration // of Stop's context; 0 for none
		want    error
	}{
		{"UntilTheReapReturns", 0, nil},
		{"PastItsContext", time.Second, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := &blockingStore{entered: make(chan struct{}), release: make(chan struct{})}
				r, err := idempotency.NewReaper(store, idempotency.ReaperConfig{})
				if err != nil {
					t.Fatal(err)
				}
				if err := r.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				<-store.entered
				stopCtx := context.Background()
				if tc.timeout > 0 {
					var cancel context.CancelFunc
					stopCtx, cancel = context.WithTimeout(stopCtx, tc.timeout)
					defer cancel()
				}
				stopped := make(chan error, 1)
				go func() { stopped <- r.Stop(stopCtx) }()
				time.Sleep(time.Minute)
				synctest.Wait()
				select {
				case err := <-stopped:
					t.Fatalf("Stop returned %v while Reap was still running", err)
				default:
				}
				close(store.release)
				synctest.Wait()
				select {
				case err := <-stopped:
					if !errors.Is(err, tc.want) {
						t.Fatalf("Stop: %v, want %v", err, tc.want)
					}
				default:
					t.Fatal("Stop did not return once Reap had")
				}
				if err := r.Stop(context.Background()); err != nil {
					t.Fatalf("second Stop: %v", err)
				}
			})
		})
	}
}

// A Reap that heeds its context ends at Stop, which then returns at once.
func TestReaperStopCancelsTheReap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &cancelableStore{entered: make(chan struct{})}
		r, err := idempotency.NewReaper(store, idempotency.ReaperConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		<-store.entered
		start := time.Now()
		if err := r.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("Stop took %v, want 0", d)
		}
	})
}

type cancelableStore struct {
	idempotency.MemoryStore
	entered chan struct{}
}

func (s *cancelableStore) Reap(ctx context.Context, _ time.Time) (int, error) {
	s.entered <- struct{}{}
	<-ctx.Done()
	return 0, ctx.Err()
}

func TestNewReaperValidates(t *testing.T) {
	for _, tc := range []struct {
		store idempotency.Store
		cfg   idempotency.ReaperConfig
		field string
	}{
		{nil, idempotency.ReaperConfig{}, "idempotency.NewReaper store"},
		{&idempotency.MemoryStore{}, idempotency.ReaperConfig{Interval: -time.Second}, "idempotency.ReaperConfig.Interval"},
	} {
		_, err := idempotency.NewReaper(tc.store, tc.cfg)
		var ce *rebound.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("NewReaper(%v, %+v): %v, want a *rebound.ConfigError naming %s", tc.store, tc.cfg, err, tc.field)
		}
	}
	if _, err := idempotency.NewReaper(&idempotency.MemoryStore{}, idempotency.ReaperConfig{}); err != nil {
		t.Fatalf("the zero ReaperConfig: %v", err)
	}
}
