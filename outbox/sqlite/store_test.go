package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/outboxtest"
	"github.com/rebound-go/rebound/outbox/sqlite"
)

// openDB opens a new database file in t's temporary directory with Open.
func openDB(t testing.TB) *sql.DB {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "outbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newStore(t testing.TB, db *sql.DB) *sqlite.Store {
	s, err := sqlite.New(db, sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T) outboxtest.Harness {
		db := openDB(t)
		return outboxtest.Harness{Store: newStore(t, db), DB: db}
	})
}

func TestTraceRunsFromEnqueueToReceiverAcrossARelayRestart(t *testing.T) {
	outboxtest.RunTracing(t, func(t *testing.T) outboxtest.Harness {
		db := openDB(t)
		return outboxtest.Harness{Store: newStore(t, db), DB: db}
	})
}

func enqueue(t testing.TB, db *sql.DB, msgs ...outbox.Message) []string {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	ids, err := outbox.Enqueue(ctx, tx, msgs...)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return ids
}

func claim(t testing.TB, s *sqlite.Store, now time.Time, limit int) []string {
	t.Helper()
	ds, err := s.Claim(context.Background(), now, time.Minute, limit, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids
}

func TestMigrateTwiceRecordsOneVersion(t *testing.T) {
	db := openDB(t)
	s := newStore(t, db)
	id := enqueue(t, db, outbox.Message{Destination: "a"})[0]
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	var n, v int
	if err := db.QueryRow(`SELECT count(*), max(version) FROM rebound_outbox_schema_version`).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != sqlite.SchemaVersion || v != sqlite.SchemaVersion {
		t.Fatalf("version table holds %d rows up to version %d, want one per version up to %d", n, v, sqlite.SchemaVersion)
	}
	if _, err := s.Get(context.Background(), id); err != nil {
		t.Fatalf("a message enqueued before the second Migrate: %v", err)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	db := openDB(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := sqlite.New(db, sqlite.Config{})
			if err == nil {
				err = s.Migrate(context.Background())
			}
			errs <- err
		}()
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
	s := newStore(t, db)
	if _, err := db.Exec(`INSERT INTO rebound_outbox_schema_version (version) VALUES (?)`, sqlite.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Migrate over a newer schema: %v, want an error", err)
	}
	// The failed Migrate rolled back and let go of the write lock.
	enqueue(t, db, outbox.Message{Destination: "a"})
}

func TestNewNeedsADatabase(t *testing.T) {
	if _, err := sqlite.New(nil, sqlite.Config{}); err == nil {
		t.Fatal("New(nil) succeeded")
	}
}

func TestClaimReturnsEnqueueOrder(t *testing.T) {
	db := openDB(t)
	s := newStore(t, db)
	var msgs []outbox.Message
	for i := range 50 {
		msgs = append(msgs, outbox.Message{Destination: fmt.Sprint("d", i%3)})
	}
	ids := enqueue(t, db, msgs...)
	now := time.Now().Add(time.Second)
	first := claim(t, s, now, 20)
	rest := claim(t, s, now, 100)
	if got := fmt.Sprint(append(first, rest...)); got != fmt.Sprint(ids) {
		t.Fatalf("claimed %s, want %v", got, ids)
	}
}

func TestClaimChecksItsArguments(t *testing.T) {
	s := newStore(t, openDB(t))
	ctx, now := context.Background(), time.Now()
	if _, err := s.Claim(ctx, now, time.Minute, 0, nil); err == nil {
		t.Error("claim of 0 succeeded")
	}
	if _, err := s.Claim(ctx, now, time.Minute, -1, nil); err == nil {
		t.Error("claim of -1 succeeded")
	}
	skip := make([]string, sqlite.MaxSkip+1)
	if _, err := s.Claim(ctx, now, time.Minute, 10, skip); err == nil {
		t.Errorf("claim skipping %d destinations succeeded", len(skip))
	}
	if _, err := s.Claim(ctx, now, time.Minute, 10, skip[:sqlite.MaxSkip]); err != nil {
		t.Errorf("claim skipping %d destinations: %v", sqlite.MaxSkip, err)
	}
}

func TestClaimSkipsEveryListedDestination(t *testing.T) {
	db := openDB(t)
	s := newStore(t, db)
	ids := enqueue(t, db, outbox.Message{Destination: "a"}, outbox.Message{Destination: "b"}, outbox.Message{Destination: "c"})
	ds, err := s.Claim(context.Background(), time.Now().Add(time.Second), time.Minute, 10, []string{"a", "c", "x"})
	if err != nil || len(ds) != 1 || ds[0].ID != ids[1] {
		t.Fatalf("claim skipping a and c: %v, %v", ds, err)
	}
}

// A delivering head of an ordering key whose lease ended is claimed again
// (it does not hold back itself) and still holds back the rest of its key.
func TestExpiredLeaseHeadOfKeyIsClaimedAlone(t *testing.T) {
	db := openDB(t)
	s := newStore(t, db)
	ids := enqueue(t, db, outbox.Message{Destination: "a", OrderingKey: "k"}, outbox.Message{Destination: "a", OrderingKey: "k"})
	t0 := time.Now().Add(time.Second)
	if got := claim(t, s, t0, 10); fmt.Sprint(got) != fmt.Sprint(ids[:1]) {
		t.Fatalf("first claim %v, want the head %s", got, ids[0])
	}
	if got := claim(t, s, t0.Add(time.Minute), 10); fmt.Sprint(got) != fmt.Sprint(ids[:1]) {
		t.Fatalf("claim after the lease %v, want the head %s alone", got, ids[0])
	}
	r, err := s.Get(context.Background(), ids[0])
	if err != nil || r.Attempt != 2 || !r.LeaseUntil.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("reclaimed head %+v, %v", r, err)
	}
}

// Released after a failed attempt, a message is retrying, not pending.
func TestReleaseKeepsEarlierAttempts(t *testing.T) {
	db := openDB(t)
	s := newStore(t, db)
	ctx := context.Background()
	id := enqueue(t, db, outbox.Message{Destination: "a"})[0]
	t0 := time.Now().Add(time.Second)
	claim(t, s, t0, 1)
	if err := s.MarkRetry(ctx, id, 1, t0, "503", 503); err != nil {
		t.Fatal(err)
	}
	claim(t, s, t0, 1)
	if err := s.Release(ctx, id, 2, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r, err := s.Get(ctx, id)
	if err != nil || r.State != outbox.Retrying || r.Attempt != 1 || !r.LeaseUntil.IsZero() || !r.NextAttemptAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("released %+v, %v; want retrying at attempt 1", r, err)
	}
}

func TestLastErrorIsTruncatedAtARune(t *testing.T) {
	db := openDB(t)
	s := newStore(t, db)
	ctx := context.Background()
	id := enqueue(t, db, outbox.Message{Destination: "a"})[0]
	claim(t, s, time.Now().Add(time.Second), 1)
	long := "x" + strings.Repeat("é", sqlite.MaxErrorBytes) // é is 2 bytes
	if err := s.MarkDead(ctx, id, 1, "permanent", long, 400); err != nil {
		t.Fatal(err)
	}
	r, _ := s.Get(ctx, id)
	if want := long[:sqlite.MaxErrorBytes-1]; r.LastError != want {
		t.Fatalf("kept %d bytes, want %d", len(r.LastError), len(want))
	}
}

func TestRecordRoundTrip(t *testing.T) {
	db := openDB(t)
	s := newStore(t, db)
	ctx := context.Background()
	notBefore := time.Now().Add(time.Hour).Round(0)
	id := enqueue(t, db, outbox.Message{ID: "m-1", Destination: "a", OrderingKey: "k", NotBefore: notBefore})[0]
	r, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "m-1" || r.State != outbox.Pending || r.Attempt != 0 || r.OrderingKey != "k" || r.Headers != nil || len(r.Payload) != 0 {
		t.Fatalf("record %+v", r)
	}
	if !r.NextAttemptAt.Equal(notBefore) || r.NextAttemptAt.Location() != time.UTC || r.CreatedAt.IsZero() {
		t.Fatalf("times %v, %v; want NotBefore %v in UTC", r.CreatedAt, r.NextAttemptAt, notBefore)
	}
	if !r.LeaseUntil.IsZero() || !r.SentAt.IsZero() {
		t.Fatalf("unset times %v, %v, want zero", r.LeaseUntil, r.SentAt)
	}
}

func TestReplayAndDiscardOfAMissingMessage(t *testing.T) {
	s := newStore(t, openDB(t))
	ctx := context.Background()
	if err := s.Replay(ctx, "missing", time.Now()); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("replay: %v", err)
	}
	if err := s.Discard(ctx, "missing"); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("discard: %v", err)
	}
}

func TestReplayClearsTheFailure(t *testing.T) {
	db := openDB(t)
	s := newStore(t, db)
	ctx := context.Background()
	id := enqueue(t, db, outbox.Message{Destination: "a"})[0]
	t0 := time.Now().Add(time.Second)
	claim(t, s, t0, 1)
	if err := s.MarkDead(ctx, id, 1, "exhausted", "boom", 500); err != nil {
		t.Fatal(err)
	}
	if err := s.Replay(ctx, id, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r, _ := s.Get(ctx, id)
	if r.State != outbox.Pending || r.Attempt != 0 || r.DeadReason != "" || r.LastError != "" || r.LastStatus != 0 || !r.NextAttemptAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("replayed %+v", r)
	}
}

func TestListChecksItsFilter(t *testing.T) {
	db := openDB(t)
	s := newStore(t, db)
	ctx := context.Background()
	for _, f := range []outbox.Filter{
		{Cursor: "x"}, {Cursor: "-1"}, {Cursor: "+1"}, {Cursor: "01"}, {Cursor: "1.5"},
		{Limit: -1}, {State: outbox.Dead + 1},
	} {
		if _, _, err := s.List(ctx, f); err == nil {
			t.Errorf("List(%+v) succeeded", f)
		}
	}
	var msgs []outbox.Message
	for range sqlite.MaxListLimit + 1 {
		msgs = append(msgs, outbox.Message{Destination: "a"})
	}
	enqueue(t, db, msgs...)
	recs, next, err := s.List(ctx, outbox.Filter{})
	if err != nil || len(recs) != sqlite.DefaultListLimit || next == "" {
		t.Fatalf("default page: %d records, next %q, %v", len(recs), next, err)
	}
	recs, next, err = s.List(ctx, outbox.Filter{Limit: sqlite.MaxListLimit + 500})
	if err != nil || len(recs) != sqlite.MaxListLimit || next == "" {
		t.Fatalf("big page: %d records, next %q, %v", len(recs), next, err)
	}
	recs, next, err = s.List(ctx, outbox.Filter{Cursor: next})
	if err != nil || len(recs) != 1 || next != "" {
		t.Fatalf("last page: %d records, next %q, %v", len(recs), next, err)
	}
}

func TestPruneDeletesInBatches(t *testing.T) {
	db := openDB(t)
	s := newStore(t, db)
	ctx := context.Background()
	t0 := time.Now()
	// 2,300 messages sent at t0 and 200 pending, written directly: more
	// than two of Prune's batches.
	if _, err := db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500)
INSERT INTO rebound_outbox (id, destination, payload, state, attempt, created_at, next_attempt_at, sent_at)
SELECT 'm' || i, 'a', x'', CASE WHEN i <= 2300 THEN 3 ELSE 1 END, 1, ?1, ?1, CASE WHEN i <= 2300 THEN ?1 ELSE 0 END FROM n`, t0.UnixNano()); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Prune(ctx, t0); err != nil || n != 0 {
		t.Fatalf("prune before the sends: %d, %v", n, err)
	}
	if n, err := s.Prune(ctx, t0.Add(1)); err != nil || n != 2300 {
		t.Fatalf("prune: %d, %v; want 2300", n, err)
	}
	st, err := s.Stats(ctx, t0)
	if err != nil || len(st) != 1 || st[0].Pending != 200 || st[0].Sent != 0 || !st[0].OldestUnsent.Equal(t0) {
		t.Fatalf("stats after prune: %+v, %v", st, err)
	}
}
