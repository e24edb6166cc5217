package idempotencytest

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/rebound-go/rebound/idempotency"
)

// effects is the table of the business effects that the MarkTx tests
// record next to their marks.
const effects = "idempotencytest_effects"

// runMarkTx runs the tests of MarkTx and ReapMarks on the harness's DB.
// Like Run it is a list of independent subtests, long on purpose.
func runMarkTx(t *testing.T, newHarness func(t *testing.T) Harness) {
	ctx := context.Background()

	t.Run("MarkTxCommitsWithTheEffect", func(t *testing.T) {
		db := markDB(t, newHarness)
		if !markAndApply(t, db, "orders", "m1", true) {
			t.Fatal("first mark of m1: false, want true")
		}
		if markAndApply(t, db, "orders", "m1", true) {
			t.Fatal("second mark of m1: true, want false")
		}
		if !markAndApply(t, db, "refunds", "m1", true) {
			t.Fatal("m1 in another scope: false, want true")
		}
		if n := count(t, db, `SELECT count(*) FROM `+effects+` WHERE id = 'orders/m1'`); n != 1 {
			t.Fatalf("the effect orders/m1 was applied %d times, want 1", n)
		}

		if !markAndApply(t, db, "orders", "m2", false) {
			t.Fatal("first mark of m2: false, want true")
		}
		if n := count(t, db, `SELECT count(*) FROM rebound_processed WHERE scope = 'orders' AND id = 'm2'`); n != 0 {
			t.Fatal("a rolled-back mark stayed")
		}
		if n := count(t, db, `SELECT count(*) FROM `+effects+` WHERE id = 'orders/m2'`); n != 0 {
			t.Fatal("a rolled-back effect stayed")
		}
		if !markAndApply(t, db, "orders", "m2", true) {
			t.Fatal("mark of m2 after a rollback: false, want true")
		}
	})

	t.Run("MarkTxRefusesBadIDs", func(t *testing.T) {
		db := markDB(t, newHarness)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		long := strings.Repeat("x", idempotency.MaxMarkIDLength+1)
		for _, c := range [][2]string{{"", "m"}, {"orders", ""}, {long, "m"}, {"orders", long}} {
			if fresh, err := idempotency.MarkTx(ctx, tx, c[0], c[1]); err == nil {
				t.Errorf("MarkTx(%.20q, %.20q): %v, nil; want an error", c[0], c[1], fresh)
			}
		}
		if fresh, err := idempotency.MarkTx(ctx, tx, strings.Repeat("s", idempotency.MaxMarkIDLength), strings.Repeat("i", idempotency.MaxMarkIDLength)); err != nil || !fresh {
			t.Fatalf("MarkTx with the longest scope and id: %v, %v; want true", fresh, err)
		}
	})

	// ReapMarks compares processed_at with a bound time; on SQLite both are
	// text, which orders correctly because MarkTx and ReapMarks both write
	// UTC in one format.
	t.Run("ReapMarks", func(t *testing.T) {
		db := markDB(t, newHarness)
		markAndApply(t, db, "orders", "m1", true)
		markAndApply(t, db, "refunds", "m1", true)
		n, err := idempotency.ReapMarks(ctx, db, time.Now().Add(-time.Minute))
		if err != nil || n != 0 {
			t.Fatalf("ReapMarks before the marks: %d, %v; want 0", n, err)
		}
		n, err = idempotency.ReapMarks(ctx, db, time.Now().Add(time.Minute))
		if err != nil || n != 2 {
			t.Fatalf("ReapMarks after the marks: %d, %v; want the 2 marks", n, err)
		}
		if n := count(t, db, `SELECT count(*) FROM rebound_processed`); n != 0 {
			t.Fatalf("%d marks left after ReapMarks, want 0", n)
		}
	})

	// Two transactions marking one id: the second waits for the first and,
	// once it commits, sees the id taken. The database must be opened as
	// the store's documentation says (for SQLite, sqlite.Open's settings).
	t.Run("MarkTxConcurrentTransactionsWait", func(t *testing.T) {
		db := markDB(t, newHarness)
		tx1, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx1.Rollback() }()
		if fresh, err := idempotency.MarkTx(ctx, tx1, "orders", "m"); err != nil || !fresh {
			t.Fatalf("first MarkTx: %v, %v", fresh, err)
		}
		type result struct {
			fresh bool
			err   error
		}
		done := make(chan result, 1)
		// The second transaction begins in its own goroutine: depending on
		// the engine it waits at BEGIN (SQLite's immediate transactions,
		// as sqlite.Open sets them) or at the insert (PostgreSQL).
		go func() {
			tx2, err := db.BeginTx(ctx, nil)
			if err != nil {
				done <- result{err: err}
				return
			}
			defer func() { _ = tx2.Rollback() }()
			fresh, err := idempotency.MarkTx(ctx, tx2, "orders", "m")
			done <- result{fresh, err}
		}()
		select {
		case r := <-done:
			t.Fatalf("second MarkTx returned %+v while the first transaction was open", r)
		case <-time.After(200 * time.Millisecond):
		}
		if err := tx1.Commit(); err != nil {
			t.Fatal(err)
		}
		if r := <-done; r.err != nil || r.fresh {
			t.Fatalf("second MarkTx after the first committed: %+v, want false", r)
		}
	})
}

// markDB returns the harness's database, holding the mark table and the
// table of effects, or skips t if MarkTx does not apply to the store.
func markDB(t *testing.T, newHarness func(t *testing.T) Harness) *sql.DB {
	t.Helper()
	db := newHarness(t).DB
	if db == nil {
		t.Skip("MarkTx does not apply: the harness has no DB")
	}
	ctx := context.Background()
	if err := idempotency.CreateMarkTable(ctx, db); err != nil {
		t.Fatalf("CreateMarkTable: %v", err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE `+effects+` (id TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// markAndApply marks (scope, id) and, if it is new, applies the effect
// scope/id, in one transaction that it commits or rolls back. It reports
// what MarkTx did.
func markAndApply(t *testing.T, db *sql.DB, scope, id string, commit bool) bool {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	fresh, err := idempotency.MarkTx(ctx, tx, scope, id)
	if err != nil {
		t.Fatalf("MarkTx: %v", err)
	}
	if fresh {
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+effects+` (id) VALUES ($1)`, scope+"/"+id); err != nil {
			t.Fatal(err)
		}
	}
	if commit {
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	return fresh
}

func count(t *testing.T, db *sql.DB, query string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
