package outboxtest

import (
	"context"
	"testing"
	"time"

	"github.com/rebound-go/rebound/outbox"
)

// StartRelay makes and starts a relay with cfg, and stops it when t ends;
// an error ends t.
func StartRelay(t testing.TB, cfg outbox.RelayConfig) *outbox.Relay {
	t.Helper()
	r, err := outbox.NewRelay(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return r
}

// WaitFinished polls store until it counts sent messages sent and dead
// dead, over all destinations, and ends t if that takes longer than
// within.
func WaitFinished(t testing.TB, store outbox.Store, sent, dead int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		stats, err := store.Stats(context.Background(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		s, d := 0, 0
		for _, st := range stats {
			s += st.Sent
			d += st.Dead
		}
		if s == sent && d == dead {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %d sent, %d dead; want %d and %d", within, s, d, sent, dead)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
