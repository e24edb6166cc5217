package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/rebound-go/rebound/outbox"
)

// TestClaimAndRetryAreHOTUpdates: claiming a message and scheduling its
// retry change no column an index reads, so PostgreSQL updates the rows in
// place (heap-only tuples) and writes no index entry; marking one sent
// must leave the index of unfinished messages, so it is not HOT. An index
// that reads state, or a claim that changes an indexed column, fails this.
func TestClaimAndRetryAreHOTUpdates(t *testing.T) {
	pool := testPool(t, "outbox_hot_")
	ctx := context.Background()
	s, err := New(pool, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// Few enough messages that every row version of this one transaction
	// (which can prune none of them) fits on the first page.
	const n = 8
	now := time.Now()
	var msgs []outbox.Message
	for range n {
		msgs = append(msgs, outbox.Message{Destination: "hook", Payload: []byte(`{"order":42,"total":"19.99"}`)})
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	ids, err := Enqueue(ctx, tx, msgs...)
	if err != nil {
		t.Fatal(err)
	}
	// pg_stat_xact_user_tables counts this transaction's own updates.
	updates := func() (all, hot int) {
		t.Helper()
		if err := tx.QueryRow(ctx, `SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relid = '`+Table+`'::regclass`).Scan(&all, &hot); err != nil {
			t.Fatal(err)
		}
		return all, hot
	}
	// step runs the store's statements and checks the updates they made.
	step := func(what string, want int, hotWanted bool, stmts ...func() (int64, error)) {
		t.Helper()
		all0, hot0 := updates()
		var changed int64
		for _, stmt := range stmts {
			n, err := stmt()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			changed += n
		}
		all, hot := updates()
		all, hot = all-all0, hot-hot0
		wantHot := 0
		if hotWanted {
			wantHot = want
		}
		if int(changed) != want || all != want || hot != wantHot {
			t.Fatalf("%s: %d rows changed, %d updates of which %d HOT; want %d updates, %d HOT", what, changed, all, hot, want, wantHot)
		}
	}
	exec := func(sql string, args ...any) func() (int64, error) {
		return func() (int64, error) {
			tag, err := tx.Exec(ctx, sql, args...)
			return tag.RowsAffected(), err
		}
	}
	step("claim", n, true, exec(claimSQL, nanos(now.Add(time.Second)), []string{}, n, nanos(now.Add(time.Minute))))
	var retries []func() (int64, error)
	for _, id := range ids[:n/2] {
		retries = append(retries, exec(retrySQL, id, 1, nanos(now.Add(time.Minute)), "HTTP 503", 503))
	}
	step("retry", n/2, true, retries...)
	sent := ids[n/2:]
	attempts, at := make([]int32, len(sent)), make([]int64, len(sent))
	for i := range sent {
		attempts[i], at[i] = 1, nanos(now)
	}
	step("mark sent", n/2, false, exec(markSentBatchSQL, sent, attempts, at))
}
