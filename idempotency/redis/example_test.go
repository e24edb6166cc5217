package redis_test

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/redis"
)

// This example needs a Redis server, so it is compiled but not run.
func Example() {
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()
	store := redis.New(client, redis.Options{Prefix: "billing:idem:"})

	ran, err := idempotency.Once(context.Background(), store, "invoice-42", idempotency.OnceOptions{TTL: 7 * 24 * time.Hour},
		func(ctx context.Context) error {
			// Send the invoice: this runs once across every process
			// sharing the Redis server, unless it fails.
			return nil
		})
	fmt.Println(ran, err)
}
