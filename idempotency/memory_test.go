package idempotency_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/idempotencytest"
)

func TestMemoryStoreConformance(t *testing.T) {
	idempotencytest.Run(t, func(*testing.T) idempotencytest.Harness {
		return idempotencytest.Harness{Store: &idempotency.MemoryStore{}}
	})
}

// A MemoryStore forgets expired keys by itself, a few per write, with no
// Reaper: under steady traffic it holds the keys of the last TTL only.
func TestMemoryStoreSweepsExpiredKeysOnWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &idempotency.MemoryStore{}
		h := newHandler(t, idempotency.Config{Store: store, TTL: time.Hour}, &orders{})
		// A burst of 1000 keys, then an hour and a half of quiet: they
		// have all expired, and are still there, since nothing wrote.
		for i := range 1000 {
			send(h, "POST", fmt.Sprintf("burst-%d", i), `{}`)
		}
		time.Sleep(90 * time.Minute)
		// A request every ten seconds for three hours.
		for i := range 3 * 360 {
			if i > 0 {
				time.Sleep(10 * time.Second)
			}
			if w := send(h, "POST", fmt.Sprintf("steady-%d", i), `{}`); w.Code != 201 {
				t.Fatalf("request %d: %d", i, w.Code)
			}
		}
		ctx := context.Background()
		if n, _ := store.Reap(ctx, time.Now()); n != 0 {
			t.Fatalf("Reap found %d expired keys; want 0, every one swept by the writes after it expired", n)
		}
		// What is left is the last hour's keys, and no more.
		if n, _ := store.Reap(ctx, time.Now().Add(2*time.Hour)); n != 360 {
			t.Fatalf("the store held %d keys; want the 360 of the last hour", n)
		}
	})
}

// BenchmarkMemoryStore is a request's writes: a claim and a completion,
// with a key per request that expires while the benchmark runs.
func BenchmarkMemoryStore(b *testing.B) {
	store := &idempotency.MemoryStore{}
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	keys := make([]string, 1<<12)
	for i := range keys {
		keys[i] = fmt.Sprint("key-", i)
	}
	resp := idempotency.Response{Status: 201, Body: []byte(`{"id":1}`)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(time.Millisecond)
		k := keys[i%len(keys)]
		c, _ := store.Claim(ctx, k, "fp", now, time.Minute, time.Second)
		if c.Claimed {
			_ = store.Complete(ctx, k, c.Token, resp, now, time.Second)
		}
	}
}
