package postgres_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/postgres"
)

// An API whose replicas share their Idempotency-Keys in PostgreSQL: a
// retried POST that reaches another replica gets the first answer, not a
// second order. A Reaper deletes the keys once they expire. (Not run: it
// needs a database, named by DATABASE_URL.)
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close() // after the store's Close, which leaves the pool open

	store, err := postgres.New(pool, postgres.Config{}) // table rebound_idempotency
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil { // safe at every start
		log.Fatal(err)
	}

	reaper, err := idempotency.NewReaper(store, idempotency.ReaperConfig{Interval: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	if err := reaper.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer reaper.Stop(context.Background())

	mw, err := idempotency.Middleware(idempotency.Config{Store: store, TTL: 24 * time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Create the order: this runs once per key, across every replica.
		w.WriteHeader(http.StatusCreated)
	})
	srv := &http.Server{Addr: ":8080", Handler: mw(orders), ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		log.Print(err) // then the reaper stops, and the store and pool close
	}
}
