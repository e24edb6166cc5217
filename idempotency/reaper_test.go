package idempotency_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/idempotency"
)

func TestReaperDeletesExpiredKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &idempotency.MemoryStore{}
		ctx := context.Background()
		c, _ := store.Claim(ctx, "k", "fp", time.Now(), time.Minute, time.Hour)
		_ = store.Complete(ctx, "k", c.Token, idempotency.Response{Status: 201}, time.Now(), 90*time.Minute)
		r := &idempotency.Reaper{Store: store, Interval: time.Hour}
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
	})
}
