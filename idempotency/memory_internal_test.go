package idempotency

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Each write does a bounded amount of sweeping: a burst of keys that
// expire together is swept over the next writes, sweepPerWrite keys each.
func TestMemoryStoreSweepIsBounded(t *testing.T) {
	store := &MemoryStore{}
	ctx := context.Background()
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for i := range 1000 {
		if _, err := store.Claim(ctx, fmt.Sprint("old-", i), "fp", t0, time.Minute, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	later := t0.Add(2 * time.Hour)
	for i := range 10 {
		if _, err := store.Claim(ctx, fmt.Sprint("new-", i), "fp", later, time.Minute, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := len(store.recs), 1000-10*sweepPerWrite+10; got != want {
		t.Fatalf("after 10 writes the store holds %d keys; want %d (each write sweeps %d)", got, want, sweepPerWrite)
	}
	// The expiry queue shrinks as it is swept, and holds no more than
	// the writes it has not yet swept.
	if got, want := len(store.expiry), 1000-10*sweepPerWrite+10; got != want {
		t.Fatalf("the expiry queue holds %d entries; want %d", got, want)
	}
}
