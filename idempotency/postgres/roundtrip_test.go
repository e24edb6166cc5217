package postgres_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/postgres"
)

// queryCounter counts the statements sent to the server.
type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (*queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// The middleware costs two round trips for a first request (claim,
// complete) and one for a replay.
func TestMiddlewareRoundTrips(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	counter := &queryCounter{}
	cfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, err := postgres.New(pool, postgres.Config{Table: uniqueTable(t, pool)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	mw, err := idempotency.Middleware(idempotency.Config{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))
	send := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/orders", strings.NewReader(`{}`))
		r.Header.Set("Idempotency-Key", "round-trips")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	before := counter.n.Load()
	if w := send(); w.Code != 201 {
		t.Fatalf("first: %d", w.Code)
	}
	if n := counter.n.Load() - before; n != 2 {
		t.Fatalf("first request took %d round trips, want 2", n)
	}
	before = counter.n.Load()
	if w := send(); w.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("not a replay: %d", w.Code)
	}
	if n := counter.n.Load() - before; n != 1 {
		t.Fatalf("replay took %d round trips, want 1", n)
	}
}
