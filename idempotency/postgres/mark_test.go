package postgres_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/rebound-go/rebound/idempotency"
)

// markDB returns a database/sql handle (the pgx stdlib driver) whose
// search_path is a schema of this run's own, holding the mark table and a
// business table, so that runs sharing the database do not meet.
func markDB(t *testing.T) *sql.DB {
	ctx := context.Background()
	pool := testPool(t)
	schema := "rebound_mark_test_" + idempotency.NewToken()[:12]
	if _, err := pool.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	cfg, err := pgx.ParseConfig(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { _ = db.Close() })
	if err := idempotency.CreateMarkTable(ctx, db); err != nil {
		t.Fatalf("CreateMarkTable: %v", err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE orders (id TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// markAndInsert marks (scope, id) and, if it is new, inserts the order
// scope/id, in one transaction that it commits or rolls back.
func markAndInsert(t *testing.T, db *sql.DB, scope, id string, commit bool) bool {
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
		if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id) VALUES ($1)`, scope+"/"+id); err != nil {
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

func count(t *testing.T, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMarkTx(t *testing.T) {
	db := markDB(t)
	if !markAndInsert(t, db, "orders", "m1", true) {
		t.Fatal("first mark of m1: false, want true")
	}
	if markAndInsert(t, db, "orders", "m1", true) {
		t.Fatal("second mark of m1: true, want false")
	}
	if !markAndInsert(t, db, "refunds", "m1", true) {
		t.Fatal("m1 in another scope: false, want true")
	}
	if n := count(t, db, `SELECT count(*) FROM orders WHERE id = 'orders/m1'`); n != 1 {
		t.Fatalf("%d orders orders/m1, want 1", n)
	}

	if !markAndInsert(t, db, "orders", "m2", false) {
		t.Fatal("first mark of m2: false, want true")
	}
	if n := count(t, db, `SELECT count(*) FROM rebound_processed WHERE scope = 'orders' AND id = 'm2'`); n != 0 {
		t.Fatal("a rolled-back mark stayed")
	}
	if n := count(t, db, `SELECT count(*) FROM orders WHERE id = 'orders/m2'`); n != 0 {
		t.Fatal("a rolled-back order stayed")
	}
	if !markAndInsert(t, db, "orders", "m2", true) {
		t.Fatal("mark of m2 after a rollback: false, want true")
	}

	n, err := idempotency.ReapMarks(context.Background(), db, time.Now().Add(time.Minute))
	if err != nil || n != 3 {
		t.Fatalf("ReapMarks: %d, %v; want the 3 marks", n, err)
	}
}

// Two transactions marking one id: the second waits for the first and,
// once it commits, sees the id taken.
func TestMarkTxConcurrentTransactionsWait(t *testing.T) {
	db := markDB(t)
	ctx := context.Background()
	tx1, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx1.Rollback() }()
	if fresh, err := idempotency.MarkTx(ctx, tx1, "orders", "m"); err != nil || !fresh {
		t.Fatalf("first MarkTx: %v, %v", fresh, err)
	}
	tx2, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx2.Rollback() }()
	type result struct {
		fresh bool
		err   error
	}
	done := make(chan result, 1)
	go func() {
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
}
