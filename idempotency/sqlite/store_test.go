package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rebound-go/rebound/internal/sqlitetest"

	_ "modernc.org/sqlite"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/idempotencytest"
	"github.com/rebound-go/rebound/idempotency/sqlite"
)

// openDB opens a database file in t's temporary directory the way the
// package doc recommends: WAL, so that readers never wait for the writer,
// and a busy timeout, so that writers queue for SQLite's single write lock
// instead of failing with SQLITE_BUSY. A file, not :memory:, because every
// connection of the pool must see the same database.
func openDB(t testing.TB) *sql.DB { return sqlitetest.Open(t) }

func testStore(t testing.TB, db *sql.DB) *sqlite.Store {
	s, err := sqlite.New(db, sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// Each subtest gets a database file of its own, which MarkTx's tests use
// too. MarkTx's INSERT … VALUES ($1, $2, $3) ON CONFLICT (scope, id) DO
// NOTHING runs as is on modernc.org/sqlite, which binds $N to the Nth
// argument.
func TestConformance(t *testing.T) {
	idempotencytest.Run(t, func(t *testing.T) idempotencytest.Harness {
		db := openDB(t)
		return idempotencytest.Harness{Store: testStore(t, db), DB: db}
	})
}

func TestJournalModeIsWAL(t *testing.T) {
	var mode string
	if err := openDB(t).QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q, %v; want wal", mode, err)
	}
}

func TestMigrateTwiceRecordsOneVersion(t *testing.T) {
	db := openDB(t)
	s := testStore(t, db)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	var n, v int
	if err := db.QueryRow(`SELECT count(*), max(version) FROM rebound_idempotency_schema_version`).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != 1 || v != sqlite.SchemaVersion {
		t.Fatalf("version table holds %d rows up to version %d, want 1 row at %d", n, v, sqlite.SchemaVersion)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	db := openDB(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			// Half share a Store, half build their own, as processes do.
			s, err := sqlite.New(db, sqlite.Config{Table: fmt.Sprint("t", i%2)})
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
	db := openDB(t)
	s := testStore(t, db)
	if _, err := db.Exec(`INSERT INTO rebound_idempotency_schema_version (version) VALUES (?)`, sqlite.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	err := s.Migrate(context.Background())
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Migrate over a newer schema: %v, want an error", err)
	}
	// The failed Migrate rolled back and released the write lock.
	if _, err := s.Claim(context.Background(), "k", "fp", time.Now(), time.Minute, time.Hour); err != nil {
		t.Fatalf("claim after a failed Migrate: %v", err)
	}
}

func TestNewValidatesTheTable(t *testing.T) {
	db := openDB(t)
	for _, table := range []string{"", "keys", "_x9"} {
		if _, err := sqlite.New(db, sqlite.Config{Table: table}); err != nil {
			t.Errorf("Table %q: %v", table, err)
		}
	}
	for _, table := range []string{"Keys", "1keys", "main.keys", "keys;drop", `"keys"`, strings.Repeat("k", 49)} {
		_, err := sqlite.New(db, sqlite.Config{Table: table})
		var ce *rebound.ConfigError
		if !errors.As(err, &ce) || ce.Field != "idempotency/sqlite.Config.Table" {
			t.Errorf("Table %q: %v, want a *rebound.ConfigError naming idempotency/sqlite.Config.Table", table, err)
		}
	}
	if _, err := sqlite.New(nil, sqlite.Config{}); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestNilHeaderAndEmptyBodyRoundTrip(t *testing.T) {
	s := testStore(t, openDB(t))
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

// Times are kept to the nanosecond: a lease ends exactly at now+lease.
func TestTimesAreExact(t *testing.T) {
	s := testStore(t, openDB(t))
	ctx := context.Background()
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 123456789, time.UTC)
	c, err := s.Claim(ctx, "k", "fp", t0, time.Nanosecond, time.Hour)
	if err != nil || !c.Claimed {
		t.Fatalf("claim: %+v, %v", c, err)
	}
	c2, err := s.Claim(ctx, "k", "fp", t0, time.Minute, time.Hour)
	if err != nil || c2.Claimed || !c2.Existing.LockedUntil.Equal(t0.Add(time.Nanosecond)) {
		t.Fatalf("claim within the lease: %+v, %v", c2, err)
	}
	if c3, err := s.Claim(ctx, "k", "fp", t0.Add(time.Nanosecond), time.Minute, time.Hour); err != nil || !c3.Claimed {
		t.Fatalf("claim as the lease ends: %+v, %v", c3, err)
	}
}

func BenchmarkClaim(b *testing.B) {
	s := testStore(b, openDB(b))
	ctx, now := context.Background(), time.Now()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.Claim(ctx, fmt.Sprint("k", i), "fp", now, time.Minute, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// Close leaves the database, which is the caller's, open; closing twice is
// fine.
func TestCloseLeavesTheDatabaseOpen(t *testing.T) {
	db := openDB(t)
	s := testStore(t, db)
	for range 2 {
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if err := db.Ping(); err != nil {
		t.Fatalf("the database after Close: %v", err)
	}
}
