package postgres_test

import (
	"context"
	"database/sql"
	neturl "net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/rebound-go/rebound/internal/pgtest"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/postgres"
)

// testURL returns the database of REBOUND_TEST_POSTGRES, or skips t.
func testURL(t testing.TB) string {
	t.Helper()
	return pgtest.URL(t, "run the PostgreSQL outbox's tests")
}

// env is an outbox of a test's own: the table is fixed, so each env lives
// in a schema of its own, dropped when the test ends.
type env struct {
	schema string
	pool   *pgxpool.Pool // search_path is the schema
	db     *sql.DB       // through pool
	store  *postgres.Store
}

// newEnv creates a schema, a pool and a database/sql handle whose every
// connection uses it, and a migrated Store. cfg, if not nil, adjusts the
// pool's configuration.
func newEnv(t testing.TB, cfg func(*pgxpool.Config)) *env {
	t.Helper()
	return newEnvAt(t, testURL(t), cfg)
}

// ownDatabase creates a database of the test's own, dropped when it ends,
// and returns its URL. Notifications are per database: tests that assert
// when Wait wakes need one, or other packages' tests enqueueing in the
// shared database at the same time would wake them.
func ownDatabase(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	base := testURL(t)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	name := "outbox_wtest_" + outbox.NewID(time.Now())[20:]
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer admin.Close(context.Background())
		if _, err := admin.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
	})
	u, err := neturl.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// newEnvAt is newEnv in the database at url.
func newEnvAt(t testing.TB, url string, cfg func(*pgxpool.Config)) *env {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	schema := "outbox_test_" + outbox.NewID(time.Now())[20:]
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	pc.ConnConfig.RuntimeParams["search_path"] = schema
	if cfg != nil {
		cfg(pc)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	db := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { _ = db.Close() })
	s, err := postgres.New(pool, postgres.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return &env{schema: schema, pool: pool, db: db, store: s}
}

// enqueueSQL enqueues msgs through database/sql in a committed
// transaction.
func (e *env) enqueueSQL(t testing.TB, msgs ...outbox.Message) []string {
	t.Helper()
	ctx := context.Background()
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := outbox.Enqueue(ctx, tx, msgs...)
	if err != nil {
		_ = tx.Rollback()
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return ids
}
