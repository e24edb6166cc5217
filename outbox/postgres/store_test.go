package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/outboxtest"
	"github.com/rebound-go/rebound/outbox/postgres"
)

func TestConformance(t *testing.T) {
	testURL(t)
	outboxtest.Run(t, func(t *testing.T) outboxtest.Harness {
		e := newEnv(t, nil)
		return outboxtest.Harness{Store: e.store, DB: e.db}
	})
}

func TestTraceRunsFromEnqueueToReceiverAcrossARelayRestart(t *testing.T) {
	testURL(t)
	outboxtest.RunTracing(t, func(t *testing.T) outboxtest.Harness {
		e := newEnv(t, nil)
		return outboxtest.Harness{Store: e.store, DB: e.db}
	})
}

func TestMigrateTwiceRecordsOneVersion(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if err := e.store.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	var n, v int
	if err := e.pool.QueryRow(ctx, `SELECT count(*), max(version) FROM `+postgres.VersionTable).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != postgres.SchemaVersion || v != postgres.SchemaVersion {
		t.Fatalf("version table holds %d rows up to version %d, want one per version up to %d", n, v, postgres.SchemaVersion)
	}
	// The tables are in the env's schema, not elsewhere on the path.
	var schema string
	if err := e.pool.QueryRow(ctx, `SELECT schemaname FROM pg_tables WHERE tablename = $1 AND schemaname = current_schema()`, postgres.Table).Scan(&schema); err != nil || schema != e.schema {
		t.Fatalf("%s is in schema %q (%v), want %q", postgres.Table, schema, err, e.schema)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	e := newEnv(t, nil)
	// Start over with no tables, and migrate with four stores at once.
	ctx := context.Background()
	if _, err := e.pool.Exec(ctx, `DROP TABLE `+postgres.Table+`, `+postgres.VersionTable+` CASCADE`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			s, err := postgres.New(e.pool, postgres.Config{})
			if err == nil {
				err = s.Migrate(ctx)
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
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM `+postgres.VersionTable).Scan(&n); err != nil || n != postgres.SchemaVersion {
		t.Fatalf("version table holds %d rows (%v), want %d", n, err, postgres.SchemaVersion)
	}
}

func TestMigrateRefusesANewerSchema(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.pool.Exec(ctx, `INSERT INTO `+postgres.VersionTable+` (version) VALUES ($1)`, postgres.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Migrate over a newer schema: %v, want an error", err)
	}
}

func TestNewNeedsAPool(t *testing.T) {
	if _, err := postgres.New(nil, postgres.Config{}); err == nil {
		t.Fatal("New(nil) succeeded")
	}
}

func TestClaimReturnsEnqueueOrder(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	var msgs []outbox.Message
	for i := range 50 {
		msgs = append(msgs, outbox.Message{Destination: fmt.Sprint("d", i%3), Payload: []byte("x")})
	}
	ids := e.enqueueSQL(t, msgs...)
	now := time.Now().Add(time.Second)
	ds, err := e.store.Claim(ctx, now, time.Minute, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != len(ids) {
		t.Fatalf("claimed %d of %d", len(ds), len(ids))
	}
	for i, d := range ds {
		if d.ID != ids[i] {
			t.Fatalf("claim %d is %s, want %s: not in enqueue order", i, d.ID, ids[i])
		}
		if !d.LeaseUntil.Equal(time.Unix(0, now.Add(time.Minute).UnixNano())) {
			t.Fatalf("lease until %v, want %v", d.LeaseUntil, now.Add(time.Minute))
		}
	}
	if ds, err := e.store.Claim(ctx, now, time.Minute, 0, nil); err != nil || len(ds) != 0 {
		t.Fatalf("limit 0: %v, %v", ds, err)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	notBefore := time.Now().Add(time.Hour)
	ids := e.enqueueSQL(t,
		outbox.Message{ID: "plain", Destination: "a"},
		outbox.Message{ID: "full", Destination: "b", Payload: []byte{0, 1, 2, 0xff}, Headers: map[string]string{"X-A": "1"}, OrderingKey: "k", NotBefore: notBefore},
	)
	r, err := e.store.Get(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if r.Headers != nil || len(r.Payload) != 0 || r.OrderingKey != "" || r.State != outbox.Pending || r.Attempt != 0 ||
		r.CreatedAt.IsZero() || !r.NextAttemptAt.Equal(r.CreatedAt) || !r.LeaseUntil.IsZero() || !r.SentAt.IsZero() {
		t.Fatalf("plain record %+v", r)
	}
	r, err = e.store.Get(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Payload) != "\x00\x01\x02\xff" || r.Headers["X-A"] != "1" || r.OrderingKey != "k" || !r.NextAttemptAt.Equal(notBefore) {
		t.Fatalf("full record %+v", r)
	}
}

func TestLastErrorIsClipped(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	ids := e.enqueueSQL(t, outbox.Message{Destination: "a"}, outbox.Message{Destination: "a"})
	now := time.Now().Add(time.Second)
	if _, err := e.store.Claim(ctx, now, time.Minute, 10, nil); err != nil {
		t.Fatal(err)
	}
	long := "\x00bad \xff " + strings.Repeat("é", 2000)
	if err := e.store.MarkRetry(ctx, ids[0], 1, now, long, 500); err != nil {
		t.Fatal(err)
	}
	if err := e.store.MarkDead(ctx, ids[1], 1, "permanent", long, 400); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		r, err := e.store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.LastError) > postgres.MaxErrorBytes || len(r.LastError) < postgres.MaxErrorBytes-1 ||
			!strings.HasPrefix(r.LastError, "\uFFFDbad \uFFFD é") || !utf8.ValidString(r.LastError) {
			t.Fatalf("last error of %d bytes: %q", len(r.LastError), r.LastError)
		}
	}
}

func TestReleaseAfterARetryStaysRetrying(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	id := e.enqueueSQL(t, outbox.Message{Destination: "a"})[0]
	now := time.Now().Add(time.Second)
	if _, err := e.store.Claim(ctx, now, time.Minute, 10, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.store.MarkRetry(ctx, id, 1, now, "503", 503); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Claim(ctx, now, time.Minute, 10, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Release(ctx, id, 2, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	r, err := e.store.Get(ctx, id)
	if err != nil || r.State != outbox.Retrying || r.Attempt != 1 || !r.LeaseUntil.IsZero() || !r.NextAttemptAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("released record %+v, %v", r, err)
	}
}

func TestReplayMissingAndDiscardMissing(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if err := e.store.Replay(ctx, "missing", time.Now()); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("replay of a missing message: %v", err)
	}
	if err := e.store.Discard(ctx, "missing"); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("discard of a missing message: %v", err)
	}
	if err := e.store.MarkSent(ctx, "missing", 1, time.Now()); !errors.Is(err, outbox.ErrStale) {
		t.Errorf("mark sent of a missing message: %v", err)
	}
}

func TestReplayClearsTheFailure(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	id := e.enqueueSQL(t, outbox.Message{Destination: "a"})[0]
	now := time.Now().Add(time.Second)
	if _, err := e.store.Claim(ctx, now, time.Minute, 10, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.store.MarkDead(ctx, id, 1, "exhausted", "timeout", 504); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Hour)
	if err := e.store.Replay(ctx, id, later); err != nil {
		t.Fatal(err)
	}
	r, err := e.store.Get(ctx, id)
	if err != nil || r.State != outbox.Pending || r.Attempt != 0 || r.DeadReason != "" || r.LastError != "" || r.LastStatus != 0 || !r.NextAttemptAt.Equal(later) {
		t.Fatalf("replayed record %+v, %v", r, err)
	}
}

func TestListValidatesTheFilter(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, f := range []outbox.Filter{
		{Cursor: "x"},
		{Cursor: "-1"},
		{Cursor: "1.5"},
		{Limit: -1},
		{State: outbox.Dead + 1},
	} {
		if _, _, err := e.store.List(ctx, f); err == nil || !strings.Contains(err.Error(), "Filter.") {
			t.Errorf("List(%+v): %v, want an error naming the field", f, err)
		}
	}
	var msgs []outbox.Message
	for range postgres.DefaultListLimit + 1 {
		msgs = append(msgs, outbox.Message{Destination: "a"})
	}
	e.enqueueSQL(t, msgs...)
	recs, next, err := e.store.List(ctx, outbox.Filter{})
	if err != nil || len(recs) != postgres.DefaultListLimit || next == "" {
		t.Fatalf("default page: %d records, next %q, %v", len(recs), next, err)
	}
	recs, next, err = e.store.List(ctx, outbox.Filter{Cursor: next, Limit: postgres.MaxListLimit + 1})
	if err != nil || len(recs) != 1 || next != "" {
		t.Fatalf("last page: %d records, next %q, %v", len(recs), next, err)
	}
}

func TestStatsOldestUnsent(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	ids := e.enqueueSQL(t, outbox.Message{Destination: "a"})
	e.enqueueSQL(t, outbox.Message{Destination: "a"})
	first, err := e.store.Get(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.store.Stats(ctx, time.Now())
	if err != nil || len(st) != 1 || st[0].Pending != 2 || !st[0].OldestUnsent.Equal(first.CreatedAt) {
		t.Fatalf("stats %+v, %v; want the first message's creation %v", st, err, first.CreatedAt)
	}
	now := time.Now().Add(time.Second)
	if _, err := e.store.Claim(ctx, now, time.Minute, 10, nil); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{ids[0]} {
		_ = e.store.MarkDead(ctx, d, 1, "permanent", "", 400)
	}
	st, err = e.store.Stats(ctx, now)
	if err != nil || st[0].Dead != 1 || st[0].Delivering != 1 || st[0].OldestUnsent.Equal(first.CreatedAt) || st[0].OldestUnsent.IsZero() {
		t.Fatalf("stats %+v, %v: a dead message is not unsent", st, err)
	}
}

func BenchmarkClaim(b *testing.B) {
	e := newEnv(b, nil)
	ctx := context.Background()
	const batch = 16
	msgs := make([]outbox.Message, 1000)
	for i := range msgs {
		msgs[i] = outbox.Message{Destination: fmt.Sprint("d", i%8), Payload: []byte(`{}`)}
	}
	now := time.Now().Add(time.Second)
	left := 0
	for b.Loop() {
		if left < batch {
			b.StopTimer()
			e.enqueueSQL(b, msgs...)
			left += len(msgs)
			b.StartTimer()
		}
		ds, err := e.store.Claim(ctx, now, time.Hour, batch, nil)
		if err != nil || len(ds) != batch {
			b.Fatalf("claimed %d, %v", len(ds), err)
		}
		left -= batch
	}
}

// A large batch, repeated more times than PostgreSQL runs a prepared
// statement before it may keep a generic plan, records every message of
// each batch and reports the stale ones, as small batches do.
func TestMarkSentBatchLarge(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	msgs := make([]outbox.Message, 600)
	for i := range msgs {
		msgs[i] = outbox.Message{Destination: "a", Payload: []byte("{}")}
	}
	e.enqueueSQL(t, msgs...)
	now := time.Now().Add(time.Second)
	ds, err := e.store.Claim(ctx, now, time.Minute, len(msgs), nil)
	if err != nil || len(ds) != len(msgs) {
		t.Fatalf("claimed %d, %v", len(ds), err)
	}
	// Six batches of 100, more than the five runs after which PostgreSQL
	// may settle on a generic plan; each has one stale attempt.
	for b := 0; b < 6; b++ {
		var batch []outbox.Completion
		for _, d := range ds[b*100 : (b+1)*100] {
			batch = append(batch, outbox.Completion{ID: d.ID, Attempt: d.Attempt, At: now})
		}
		batch[7].Attempt++
		stale, err := e.store.MarkSentBatch(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range stale {
			if s != (i == 7) {
				t.Fatalf("batch %d: stale %v at %d", b, s, i)
			}
		}
	}
	var sent int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM `+postgres.Table+` WHERE state = 3`).Scan(&sent); err != nil || sent != 594 {
		t.Fatalf("%d sent (%v), want 594", sent, err)
	}
}
