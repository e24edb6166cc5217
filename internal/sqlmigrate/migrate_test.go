package sqlmigrate_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	_ "modernc.org/sqlite"

	"github.com/rebound-go/rebound/internal/sqlitetest"
	"github.com/rebound-go/rebound/internal/sqlmigrate"
)

// openDB opens path with the SQLite stores' settings.
func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	return sqlitetest.OpenPath(t, path)
}

// files returns a schema of the given migrations, numbered from 1.
func files(sqls ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i, sql := range sqls {
		fsys[fmt.Sprintf("migrations/%03d_step.sql", i+1)] = &fstest.MapFile{Data: []byte(sql)}
	}
	return fsys
}

const table = "things"

func spec(fsys fstest.MapFS) sqlmigrate.Spec {
	return sqlmigrate.Spec{
		Files:        fsys,
		Render:       strings.NewReplacer("{{table}}", `"`+table+`"`).Replace,
		VersionTable: `"` + table + `_schema_version"`,
		Prefix:       "sqlmigrate_test",
		Subject:      table,
	}
}

// steps is a schema whose second file needs the first.
var steps = []string{
	`CREATE TABLE {{table}} (id INTEGER PRIMARY KEY)`,
	`ALTER TABLE {{table}} ADD COLUMN name TEXT NOT NULL DEFAULT 'x'; CREATE INDEX things_name_idx ON {{table}} (name)`,
}

// versions returns the versions s.VersionTable lists, in order.
func versions(t *testing.T, db *sql.DB, s sqlmigrate.Spec) []int {
	t.Helper()
	rows, err := db.Query(`SELECT version FROM ` + s.VersionTable + ` ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
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

// tableExists reports whether the test's table is in db.
func tableExists(t *testing.T, db *sql.DB) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1`, table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func TestRunAppliesInOrder(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "m.db"))
	s := spec(files(steps...))
	if err := sqlmigrate.Run(context.Background(), db, s); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(versions(t, db, s)); got != "[1 2]" {
		t.Fatalf("versions %s, want [1 2]", got)
	}
	// The second file ran after the first: the column it adds is there.
	if _, err := db.Exec(`INSERT INTO ` + table + ` (id, name) VALUES (1, 'a')`); err != nil {
		t.Fatal(err)
	}
}

func TestRunIsIdempotent(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "m.db"))
	ctx := context.Background()
	s := spec(files(steps...))
	for range 2 {
		if err := sqlmigrate.Run(ctx, db, s); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(versions(t, db, s)); got != "[1 2]" {
		t.Fatalf("versions %s, want [1 2]", got)
	}
	// A new file is applied alone.
	s.Files = files(append(steps[:len(steps):len(steps)], `ALTER TABLE {{table}} ADD COLUMN note TEXT`)...)
	if err := sqlmigrate.Run(ctx, db, s); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(versions(t, db, s)); got != "[1 2 3]" {
		t.Fatalf("versions %s, want [1 2 3]", got)
	}
}

func TestConcurrentRuns(t *testing.T) {
	// Each Run has a database handle of its own, as processes sharing
	// the file would.
	path := filepath.Join(t.TempDir(), "m.db")
	dbs := make([]*sql.DB, 8)
	for i := range dbs {
		dbs[i] = openDB(t, path)
	}
	s := spec(files(steps...))
	var wg sync.WaitGroup
	errs := make(chan error, len(dbs))
	for _, db := range dbs {
		wg.Go(func() { errs <- sqlmigrate.Run(context.Background(), db, s) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Run: %v", err)
		}
	}
	if got := fmt.Sprint(versions(t, dbs[0], s)); got != "[1 2]" {
		t.Fatalf("versions %s, want [1 2]", got)
	}
}

func TestRunRefusesANewerSchema(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "m.db"))
	s := spec(files(steps...))
	if _, err := db.Exec(`CREATE TABLE ` + s.VersionTable + ` (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
INSERT INTO ` + s.VersionTable + ` (version) VALUES (3)`); err != nil {
		t.Fatal(err)
	}
	err := sqlmigrate.Run(context.Background(), db, s)
	want := "sqlmigrate_test: migrate: things is at schema version 3, newer than this package's 2"
	if err == nil || err.Error() != want {
		t.Fatalf("Run over a newer schema: %v, want %q", err, want)
	}
	if tableExists(t, db) {
		t.Fatalf("Run over a newer schema created %s", table)
	}
}

func TestRunRollsBackAFailedFile(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "m.db"))
	s := spec(files(
		`CREATE TABLE {{table}} (id INTEGER PRIMARY KEY)`,
		`ALTER TABLE nosuchtable ADD COLUMN note TEXT`,
	))
	err := sqlmigrate.Run(context.Background(), db, s)
	if err == nil || !strings.HasPrefix(err.Error(), "sqlmigrate_test: migrate: 002_step.sql: ") {
		t.Fatalf("Run with a broken file: %v, want an error naming 002_step.sql", err)
	}
	if tableExists(t, db) {
		t.Fatalf("a failed Run left %s behind", table)
	}
	// The connection went back to the pool outside a transaction.
	s.Files = files(steps...)
	if err := sqlmigrate.Run(context.Background(), db, s); err != nil {
		t.Fatal(err)
	}
}

func TestRunRefusesAGapInTheFiles(t *testing.T) {
	// The files are checked before the database is touched.
	fsys := fstest.MapFS{
		"migrations/001_a.sql": &fstest.MapFile{Data: []byte(`SELECT 1`)},
		"migrations/003_c.sql": &fstest.MapFile{Data: []byte(`SELECT 3`)},
	}
	err := sqlmigrate.Run(context.Background(), nil, sqlmigrate.Spec{Files: fsys, Prefix: "sqlmigrate_test"})
	want := "sqlmigrate_test: migration 003_c.sql: want version 2 first in its name"
	if err == nil || err.Error() != want {
		t.Fatalf("Run over a gap: %v, want %q", err, want)
	}
}
