package redis_test

import (
	"context"
	"os"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/idempotencytest"
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
	prefix := "rebound-test:" + idempotency.NewToken() + ":"
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

func TestConformance(t *testing.T) {
	client, prefix := testClient(t)
	idempotencytest.Run(t, func(*testing.T) idempotency.Store {
		return redis.New(client, redis.Options{Prefix: prefix})
	}, idempotencytest.Options{NativeExpiry: true})
}
