package redis_test

import (
	"context"
	"os"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rebound-go/rebound/idempotency/idempotencytest"
	"github.com/rebound-go/rebound/idempotency/internal/token"
	"github.com/rebound-go/rebound/idempotency/redis"
)

// testClient connects to the Redis named by REBOUND_TEST_REDIS, or skips
// the test. It returns the client and a random key prefix whose keys are
// deleted when the test ends.
func testClient(tb testing.TB) (*goredis.Client, string) {
	tb.Helper()
	addr := os.Getenv("REBOUND_TEST_REDIS")
	if addr == "" {
		tb.Skip("REBOUND_TEST_REDIS is not set; set it to a Redis address such as 127.0.0.1:6379 to run the Redis store tests")
	}
	client := goredis.NewClient(&goredis.Options{Addr: addr})
	ctx := context.Background()
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		tb.Fatalf("REBOUND_TEST_REDIS=%s: %v", addr, err)
	}
	prefix := "rebound-test:" + token.New() + ":"
	tb.Cleanup(func() {
		defer client.Close()
		iter := client.Scan(ctx, 0, prefix+"*", 100).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("scanning test keys: %v", err)
			return
		}
		if len(keys) > 0 {
			if err := client.Del(ctx, keys...).Err(); err != nil {
				tb.Errorf("deleting test keys: %v", err)
			}
		}
	})
	return client, prefix
}

// newStore returns a Store on client, closed when tb ends.
func newStore(tb testing.TB, client goredis.UniversalClient, cfg redis.Config) *redis.Store {
	tb.Helper()
	s, err := redis.New(client, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// Each subtest gets a key prefix of its own. Redis has no MarkTx: the
// harness has no DB.
func TestConformance(t *testing.T) {
	idempotencytest.Run(t, func(t *testing.T) idempotencytest.Harness {
		client, prefix := testClient(t)
		return idempotencytest.Harness{Store: newStore(t, client, redis.Config{Prefix: prefix}), NativeExpiry: true}
	})
}

func TestNewNeedsAClient(t *testing.T) {
	if _, err := redis.New(nil, redis.Config{}); err == nil {
		t.Fatal("New(nil) succeeded")
	}
}

// Close leaves the client, which is the caller's, open; closing twice is
// fine.
func TestCloseLeavesTheClientOpen(t *testing.T) {
	client, prefix := testClient(t)
	s := newStore(t, client, redis.Config{Prefix: prefix})
	for range 2 {
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if err := client.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("the client after Close: %v", err)
	}
}
