package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for MarkTx

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/idempotencytest"
	"github.com/rebound-go/rebound/idempotency/internal/token"
	"github.com/rebound-go/rebound/idempotency/postgres"
	"github.com/rebound-go/rebound/internal/pgtest"
)

func testURL(t testing.TB) string {
	return pgtest.URL(t, "run the PostgreSQL store's tests")
}

func testPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// uniqueTable returns a table name of this run's own, and drops the table
// and its version table when t ends.
func uniqueTable(t testing.TB, pool *pgxpool.Pool) string {
	table := "rebound_idem_test_" + token.New()[:12]
	t.Cleanup(func() {
		_, err := pool.Exec(context.Background(), `DROP TABLE IF EXISTS `+table+`, `+table+`_schema_version`)
		if err != nil {
			t.Errorf("dropping %s: %v", table, err)
		}
	})
	return table
}

func testStore(t testing.TB) (*postgres.Store, *pgxpool.Pool, string) {
	pool := testPool(t)
	table := uniqueTable(t, pool)
	s, err := postgres.New(pool, postgres.Config{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, pool, table
}

// Each subtest gets a schema of its own, holding the store's table (the
// default one) and, for MarkTx, the suite's tables, reached through a
// database/sql handle on the same schema.
func TestConformance(t *testing.T) {
	url := testURL(t)
	idempotencytest.Run(t, func(t *testing.T) idempotencytest.Harness {
		ctx := context.Background()
		_, dsn := pgtest.Schema(t, url, "rebound_idem_test_")
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		s, err := postgres.New(pool, postgres.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return idempotencytest.Harness{Store: s, DB: db}
	})
}

func TestMigrateTwiceRecordsOneVersion(t *testing.T) {
	s, pool, table := testStore(t)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	var n, v int
	err := pool.QueryRow(context.Background(), `SELECT count(*), max(version) FROM `+table+`_schema_version`).Scan(&n, &v)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || v != postgres.SchemaVersion {
		t.Fatalf("version table holds %d rows up to version %d, want 1 row at %d", n, v, postgres.SchemaVersion)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	pool := testPool(t)
	table := uniqueTable(t, pool)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			s, err := postgres.New(pool, postgres.Config{Table: table})
			if err == nil {
				err = s.Migrate(context.Background())
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}
}

func TestMigrateRefusesANewerSchema(t *testing.T) {
	s, pool, table := testStore(t)
	if _, err := pool.Exec(context.Background(), `INSERT INTO `+table+`_schema_version (version) VALUES ($1)`, postgres.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	err := s.Migrate(context.Background())
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Migrate over a newer schema: %v, want an error", err)
	}
}

func TestSchemaQualifiedTable(t *testing.T) {
	schema, _ := pgtest.Schema(t, testURL(t), "rebound_idem_schema_")
	pool := testPool(t)
	ctx := context.Background()
	s, err := postgres.New(pool, postgres.Config{Table: schema + ".keys"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := s.Claim(ctx, "k", "fp", time.Now(), time.Minute, time.Hour)
	if err != nil || !c.Claimed {
		t.Fatalf("claim: %+v, %v", c, err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.keys`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%s.keys holds %d rows (%v), want 1", schema, n, err)
	}
}

func TestNewValidatesTheTable(t *testing.T) {
	// New checks names without a connection; a pool that never connects
	// will do.
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, table := range []string{"", "keys", "app.keys", "_x9"} {
		if _, err := postgres.New(pool, postgres.Config{Table: table}); err != nil {
			t.Errorf("Table %q: %v", table, err)
		}
	}
	for _, table := range []string{"Keys", "1keys", "a.b.c", "keys;drop", `"keys"`, ".keys", "app.", strings.Repeat("k", 49)} {
		_, err := postgres.New(pool, postgres.Config{Table: table})
		var ce *rebound.ConfigError
		if !errors.As(err, &ce) || ce.Field != "idempotency/postgres.Config.Table" {
			t.Errorf("Table %q: %v, want a *rebound.ConfigError naming idempotency/postgres.Config.Table", table, err)
		}
	}
	if _, err := postgres.New(nil, postgres.Config{}); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestNilHeaderAndEmptyBodyRoundTrip(t *testing.T) {
	s, _, _ := testStore(t)
	ctx, now := context.Background(), time.Now()
	c, err := s.Claim(ctx, "k", "fp", now, time.Minute, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, "k", c.Token, idempotency.Response{Status: 204}, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	c, err = s.Claim(ctx, "k", "fp", now, time.Minute, time.Hour)
	if err != nil || c.Claimed {
		t.Fatalf("claim: %+v, %v", c, err)
	}
	if r := c.Existing.Response; r.Status != 204 || r.Header != nil || len(r.Body) != 0 {
		t.Fatalf("replayed %+v, want 204 with no header and no body", r)
	}
}

func BenchmarkClaim(b *testing.B) {
	s, _, _ := testStore(b)
	ctx, now := context.Background(), time.Now()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.Claim(ctx, fmt.Sprint("k", i), "fp", now, time.Minute, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// Close leaves the pool, which is the caller's, open; closing twice is
// fine.
func TestCloseLeavesThePoolOpen(t *testing.T) {
	s, pool, _ := testStore(t)
	for range 2 {
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if err := pool.Ping(context.Background()); err != nil {
		t.Fatalf("the pool after Close: %v", err)
	}
}
