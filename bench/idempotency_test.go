package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/postgres"
	"github.com/rebound-go/rebound/idempotency/redis"
	"github.com/rebound-go/rebound/internal/pgtest"
)

// idemStores returns the stores to measure: memory always, PostgreSQL and
// Redis when their addresses are set (as .ci/run does).
func idemStores(b *testing.B) []struct {
	name  string
	store idempotency.Store
} {
	out := []struct {
		name  string
		store idempotency.Store
	}{{"memory", &idempotency.MemoryStore{}}}
	ctx := context.Background()
	if dsn := os.Getenv(pgtest.Env); dsn != "" {
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(pool.Close)
		table := fmt.Sprintf("bench_idem_%d", rand.Uint32())
		s, err := postgres.New(pool, postgres.Config{Table: table})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		if err := s.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			_, _ = pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+table+", "+table+"_schema_version")
		})
		out = append(out, struct {
			name  string
			store idempotency.Store
		}{"postgres", s})
	}
	if addr := os.Getenv("REBOUND_TEST_REDIS"); addr != "" {
		client := goredis.NewClient(&goredis.Options{Addr: addr})
		b.Cleanup(func() { client.Close() })
		prefix := fmt.Sprintf("bench:idem:%d:", rand.Uint32())
		b.Cleanup(func() {
			ctx := context.Background()
			iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				client.Del(ctx, iter.Val())
			}
		})
		s, err := redis.New(client, redis.Config{Prefix: prefix})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		out = append(out, struct {
			name  string
			store idempotency.Store
		}{"redis", s})
	}
	return out
}

var created = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(`{"id":"ord_1","status":"created"}`))
})

func idemRequest(key string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(`{"sku":"X1","qty":2}`))
	r.Header.Set("Idempotency-Key", key)
	return r
}

// BenchmarkIdempotency measures the middleware per first request (a new
// key: claim, run, complete) and per replay (a completed key), next to the
// bare handler, for each store.
func BenchmarkIdempotency(b *testing.B) {
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			created.ServeHTTP(httptest.NewRecorder(), idemRequest("k"))
		}
	})
	for _, s := range idemStores(b) {
		mw, err := idempotency.Middleware(idempotency.Config{Store: s.store})
		if err != nil {
			b.Fatal(err)
		}
		h := mw(created)
		var n atomic.Int64
		b.Run(s.name+"/first", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, idemRequest(fmt.Sprintf("first-%d", n.Add(1))))
				if w.Code != http.StatusCreated {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
		h.ServeHTTP(httptest.NewRecorder(), idemRequest("replayed"))
		b.Run(s.name+"/replay", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, idemRequest("replayed"))
				if w.Header().Get("Idempotent-Replayed") != "true" {
					b.Fatalf("not a replay: %d", w.Code)
				}
			}
		})
	}
}
