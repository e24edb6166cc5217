package pgmigrate_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rebound-go/rebound/internal/pgmigrate"
	"github.com/rebound-go/rebound/internal/pgtest"
)

// testPool returns a pool on REBOUND_TEST_POSTGRES, or skips t.
func testPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	url := pgtest.URL(t, "run the PostgreSQL migration tests")
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// files returns a schema of the given migrations, numbered from 1.
func files(sqls ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i, sql := range sqls {
		fsys[fmt.Sprintf("migrations/%03d_step.sql", i+1)] = &fstest.MapFile{Data: []byte(sql)}
	}
	return fsys
}

// spec returns a Spec of this test's own table, lock and version table,
// and drops both tables when t ends.
func spec(t *testing.T, pool *pgxpool.Pool, fsys fstest.MapFS) pgmigrate.Spec {
	table := fmt.Sprintf("rebound_pgmigrate_test_%016x", rand.Uint64())
	t.Cleanup(func() {
		_, err := pool.Exec(context.Background(), `DROP TABLE IF EXISTS `+table+`, `+table+`_schema_version`)
		if err != nil {
			t.Errorf("dropping %s: %v", table, err)
		}
	})
	return pgmigrate.Spec{
		Files:        fsys,
		Render:       strings.NewReplacer("{{table}}", table).Replace,
		VersionTable: table + "_schema_version",
		LockKey:      rand.Int64(),
		Prefix:       "pgmigrate_test",
		Subject:      table,
	}
}

// steps is a schema whose second file needs the first.
var steps = []string{
	`CREATE TABLE {{table}} (id INTEGER PRIMARY KEY)`,
	`ALTER TABLE {{table}} ADD COLUMN name TEXT NOT NULL DEFAULT 'x'; CREATE INDEX ON {{table}} (name)`,
}

// versions returns the versions s.VersionTable lists, in order.
func versions(t *testing.T, pool *pgxpool.Pool, s pgmigrate.Spec) []int {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT version FROM `+s.VersionTable+` ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestRunAppliesInOrder(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	s := spec(t, pool, files(steps...))
	if err := pgmigrate.Run(ctx, pool, s); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(versions(t, pool, s)); got != "[1 2]" {
		t.Fatalf("versions %s, want [1 2]", got)
	}
	// The second file ran after the first: the column it adds is there.
	if _, err := pool.Exec(ctx, `INSERT INTO `+s.Subject+` (id, name) VALUES (1, 'a')`); err != nil {
		t.Fatal(err)
	}
}

func TestRunIsIdempotent(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	s := spec(t, pool, files(steps...))
	for range 2 {
		if err := pgmigrate.Run(ctx, pool, s); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(versions(t, pool, s)); got != "[1 2]" {
		t.Fatalf("versions %s, want [1 2]", got)
	}
	// A new file is applied alone.
	s.Files = files(append(steps[:len(steps):len(steps)], `ALTER TABLE {{table}} ADD COLUMN note TEXT`)...)
	if err := pgmigrate.Run(ctx, pool, s); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(versions(t, pool, s)); got != "[1 2 3]" {
		t.Fatalf("versions %s, want [1 2 3]", got)
	}
}

func TestConcurrentRuns(t *testing.T) {
	pool := testPool(t)
	s := spec(t, pool, files(steps...))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- pgmigrate.Run(context.Background(), pool, s) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Run: %v", err)
		}
	}
	if got := fmt.Sprint(versions(t, pool, s)); got != "[1 2]" {
		t.Fatalf("versions %s, want [1 2]", got)
	}
}

func TestRunRefusesANewerSchema(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	s := spec(t, pool, files(steps...))
	if _, err := pool.Exec(ctx, `CREATE TABLE `+s.VersionTable+` (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
INSERT INTO `+s.VersionTable+` (version) VALUES (3)`); err != nil {
		t.Fatal(err)
	}
	err := pgmigrate.Run(ctx, pool, s)
	want := "pgmigrate_test: migrate: " + s.Subject + " is at schema version 3, newer than this package's 2"
	if err == nil || err.Error() != want {
		t.Fatalf("Run over a newer schema: %v, want %q", err, want)
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.Subject).Scan(&exists); err != nil || exists {
		t.Fatalf("Run over a newer schema created %s (%v)", s.Subject, err)
	}
}

func TestRunRollsBackAFailedFile(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	s := spec(t, pool, files(
		`CREATE TABLE {{table}} (id INTEGER PRIMARY KEY)`,
		`ALTER TABLE {{table}} ADD COLUMN broken NOSUCHTYPE`,
	))
	err := pgmigrate.Run(ctx, pool, s)
	if err == nil || !strings.HasPrefix(err.Error(), "pgmigrate_test: migrate: 002_step.sql: ") {
		t.Fatalf("Run with a broken file: %v, want an error naming 002_step.sql", err)
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.Subject).Scan(&exists); err != nil || exists {
		t.Fatalf("a failed Run left %s behind (%v)", s.Subject, err)
	}
}

func TestRunRefusesAGapInTheFiles(t *testing.T) {
	// The files are checked before the database is touched.
	fsys := fstest.MapFS{
		"migrations/001_a.sql": &fstest.MapFile{Data: []byte(`SELECT 1`)},
		"migrations/003_c.sql": &fstest.MapFile{Data: []byte(`SELECT 3`)},
	}
	err := pgmigrate.Run(context.Background(), nil, pgmigrate.Spec{Files: fsys, Prefix: "pgmigrate_test"})
	want := "pgmigrate_test: migration 003_c.sql: want version 2 first in its name"
	if err == nil || err.Error() != want {
		t.Fatalf("Run over a gap: %v, want %q", err, want)
	}
}
