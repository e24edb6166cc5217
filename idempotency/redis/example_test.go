package redis_test

import (
	"context"
	"fmt"
	"log"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/redis"
)

// Every process sharing the Redis server sends invoice 42 once. (Not run:
// it needs a Redis server.)
func Example() {
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close() // after the store's Close, which leaves it open
	store, err := redis.New(client, redis.Config{Prefix: "billing:idem:"})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	ran, err := idempotency.Once(context.Background(), store, "invoice-42", idempotency.OnceOptions{TTL: 7 * 24 * time.Hour},
		func(ctx context.Context) error {
			// Send the invoice: this runs once across every process
			// sharing the Redis server, unless it fails.
			return nil
		})
	fmt.Println(ran, err)
}
