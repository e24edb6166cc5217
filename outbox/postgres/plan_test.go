package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rebound-go/rebound/internal/pgtest"
	"github.com/rebound-go/rebound/outbox"
)

// TestClaimsDoNotReadTheTableAsItGrows: a relay started on an empty
// table claims and records deliveries hundreds of times while the table
// is small. Those statements must not keep a plan made then, which reads
// every row of the table to find the few claimed: once the table holds
// thousands of sent messages, claiming and marking sent must still read
// no row by a sequential scan. (A generic plan kept by a prepared
// statement did: claims took 9 ms at 40,000 rows instead of 1 ms.) The
// same holds whatever query mode the pool is set to, such as PgBouncer
// users' simple protocol.
func TestClaimsDoNotReadTheTableAsItGrows(t *testing.T) {
	for _, params := range []string{
		"",
		"default_query_exec_mode=simple_protocol",
		"default_query_exec_mode=exec",
		"default_query_exec_mode=cache_describe",
		"description_cache_capacity=0",
	} {
		name := params
		if name == "" {
			name = "defaults"
		}
		t.Run(name, func(t *testing.T) { testClaimsDoNotReadTheTable(t, params) })
	}
}

func testClaimsDoNotReadTheTable(t *testing.T, params string) {
	ctx := context.Background()
	_, dsn := pgtest.Schema(t, pgtest.URL(t, "run the PostgreSQL outbox's tests"), "outbox_plan_")
	if params != "" {
		dsn += "&" + params
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1 // every statement in one backend, whose statistics the test flushes
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var version int
	if err := pool.QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version < 150000 {
		t.Skipf("PostgreSQL %d: pg_stat_force_next_flush needs 15 or later", version)
	}
	s, err := New(pool, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	n := 0
	enqueue := func(count int) {
		t.Helper()
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		msgs := make([]outbox.Message, count)
		for i := range msgs {
			msgs[i] = outbox.Message{ID: fmt.Sprintf("m%06d", n), Destination: "hook", Payload: []byte(`{}`)}
			n++
		}
		if _, err := Enqueue(ctx, tx, msgs...); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// deliver claims what is due and marks it sent, as a relay does.
	deliver := func() {
		t.Helper()
		ds, err := s.Claim(ctx, time.Now(), time.Minute, 64, nil)
		if err != nil {
			t.Fatal(err)
		}
		cs := make([]outbox.Completion, len(ds))
		for i, d := range ds {
			cs[i] = outbox.Completion{ID: d.ID, Attempt: d.Attempt, At: time.Now()}
		}
		if _, err := s.MarkSentBatch(ctx, cs); err != nil {
			t.Fatal(err)
		}
	}
	// Rows read by sequential scans of the outbox table so far.
	seqRead := func() int64 {
		t.Helper()
		if _, err := pool.Exec(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
			t.Fatal(err)
		}
		var read int64
		if err := pool.QueryRow(ctx, `SELECT coalesce(seq_tup_read, 0) FROM pg_stat_user_tables WHERE relid = '`+Table+`'::regclass`).Scan(&read); err != nil {
			t.Fatal(err)
		}
		return read
	}
	// A young relay: many small claims on a small table.
	for range 20 {
		enqueue(2)
		deliver()
	}
	// The table grows: thousands of sent messages.
	for range 10 {
		enqueue(500)
		for range 8 {
			deliver()
		}
	}
	before := seqRead()
	for range 10 {
		enqueue(5)
		deliver()
	}
	if read := seqRead() - before; read != 0 {
		t.Fatalf("10 claims and marks on a table of %d messages read %d rows by sequential scan, want 0: a plan made for the empty table was kept", n, read)
	}
}
