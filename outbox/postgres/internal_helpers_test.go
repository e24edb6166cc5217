package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rebound-go/rebound/internal/pgtest"
)

// testPool returns a pool on a schema of the test's own (named prefix and
// a random suffix), closed when the test ends; it skips the test when
// REBOUND_TEST_POSTGRES is unset. The schema is empty: migrate it as the
// test needs.
func testPool(t *testing.T, prefix string) *pgxpool.Pool {
	t.Helper()
	_, dsn := pgtest.Schema(t, pgtest.URL(t, "run the PostgreSQL outbox's tests"), prefix)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
