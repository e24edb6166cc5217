package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/postgres"
	"github.com/rebound-go/rebound/outbox/sqlite"
	"github.com/rebound-go/rebound/webhook"
)

// rebound's side: a Relay at its defaults (RelayConfig{Store, Sender} and
// nothing else) unless the configuration sets Workers or a retry wait,
// delivering through a WebhookSender at its defaults too (its own client,
// whose SSRF guard is told to allow loopback, where the receiver is).

const destination = "orders"

// newRelay returns a relay of store, timed, and its timings.
func newRelay(tb testing.TB, cfg outboxConfig, store outbox.Store, url string, logs *logCounter) (*outbox.Relay, *timedStore) {
	tb.Helper()
	timed := &timedStore{Store: store, tl: newTimeline()}
	var st outbox.Store = timed
	if w, ok := store.(outbox.Waker); ok {
		st = timedWaker{timed, w}
	}
	sender, err := outbox.NewWebhookSender(outbox.WebhookConfig{
		Destinations: map[string]outbox.Destination{destination: {URL: url}},
		Addresses:    webhook.AddressPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	rc := outbox.RelayConfig{Store: st, Sender: timedSender{sender, timed.tl}, Workers: cfg.workers, Logger: logs.logger()}
	if cfg.retryWait > 0 {
		rc.Backoff = rebound.Constant(cfg.retryWait)
	}
	relay, err := outbox.NewRelay(rc)
	if err != nil {
		tb.Fatal(err)
	}
	return relay, timed
}

func outboxMessages(ids []string) []outbox.Message {
	msgs := make([]outbox.Message, len(ids))
	for i, id := range ids {
		msgs[i] = outbox.Message{ID: id, Destination: destination, Payload: payload(id)}
	}
	return msgs
}

// reboundPG is rebound's outbox on PostgreSQL: postgres.Store, messages
// enqueued with postgres.Enqueue in pgx transactions.
type reboundPG struct {
	*pgSchema
	store *postgres.Store
	relay *outbox.Relay
	timed *timedStore
}

func newReboundPG(tb testing.TB, dbURL string, cfg outboxConfig, url string, logs *logCounter) *reboundPG {
	tb.Helper()
	s := &reboundPG{pgSchema: newPGSchema(tb, dbURL)}
	var err error
	if s.store, err = postgres.New(s.pool, postgres.Config{}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.store.Close() })
	if err := s.store.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	s.relay, s.timed = newRelay(tb, cfg, s.store, url, logs)
	tb.Cleanup(func() { _ = s.relay.Stop(context.Background()) })
	return s
}

func (s *reboundPG) enqueueBatch(ctx context.Context, ids []string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := postgres.Enqueue(ctx, tx, outboxMessages(ids)...); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func (s *reboundPG) enqueueBusiness(ctx context.Context, id string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO orders (ref, total) VALUES ($1, 4200)`, id); err != nil {
		return err
	}
	if _, err := postgres.Enqueue(ctx, tx, outbox.Message{ID: id, Destination: destination, Payload: payload(id)}); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func (s *reboundPG) analyze(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `ANALYZE `+postgres.Table)
	return err
}

func (s *reboundPG) String() string { return s.timed.String() }

func (s *reboundPG) timeline() *timeline { return s.timed.tl }

func (s *reboundPG) start(ctx context.Context) error { return s.relay.Start(ctx) }
func (s *reboundPG) stop(ctx context.Context) error  { return s.relay.Stop(ctx) }

// reboundCountsSQL reads a rebound outbox table's states (1 pending, 2
// delivering, 3 sent, 4 retrying, 5 dead).
const reboundCountsSQL = `SELECT
	count(*) FILTER (WHERE state = 3),
	count(*) FILTER (WHERE state = 5),
	count(*) FILTER (WHERE state IN (1, 2, 4)),
	coalesce(sum(attempt), 0)
FROM ` + postgres.Table

func (s *reboundPG) counts(ctx context.Context) (storeCounts, error) {
	var c storeCounts
	err := s.pool.QueryRow(ctx, reboundCountsSQL).Scan(&c.sent, &c.dead, &c.pending, &c.attempts)
	return c, err
}

// reboundSQLite is rebound's outbox on SQLite (modernc.org/sqlite, no cgo),
// in a file of a temporary directory, opened as the package doc says.
type reboundSQLite struct {
	db    *sql.DB
	relay *outbox.Relay
	timed *timedStore
}

func newReboundSQLite(tb testing.TB, cfg outboxConfig, url string, logs *logCounter) *reboundSQLite {
	tb.Helper()
	ctx := context.Background()
	path := filepath.Join(tb.TempDir(), "outbox.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		tb.Fatal(err)
	}
	if cfg.oneConn {
		db.SetMaxOpenConns(1)
	}
	tb.Cleanup(func() { _ = db.Close() })
	store, err := sqlite.New(db, sqlite.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, ref TEXT NOT NULL, total INTEGER NOT NULL)`); err != nil {
		tb.Fatal(err)
	}
	s := &reboundSQLite{db: db}
	s.relay, s.timed = newRelay(tb, cfg, store, url, logs)
	tb.Cleanup(func() { _ = s.relay.Stop(context.Background()) })
	return s
}

func (s *reboundSQLite) enqueueBatch(ctx context.Context, ids []string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := outbox.Enqueue(ctx, tx, outboxMessages(ids)...); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *reboundSQLite) enqueueBusiness(ctx context.Context, id string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO orders (ref, total) VALUES (?, 4200)`, id); err != nil {
		return err
	}
	if _, err := outbox.Enqueue(ctx, tx, outbox.Message{ID: id, Destination: destination, Payload: payload(id)}); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *reboundSQLite) analyze(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `ANALYZE `+sqlite.Table)
	return err
}

func (s *reboundSQLite) String() string { return s.timed.String() }

func (s *reboundSQLite) timeline() *timeline { return s.timed.tl }

func (s *reboundSQLite) start(ctx context.Context) error { return s.relay.Start(ctx) }
func (s *reboundSQLite) stop(ctx context.Context) error  { return s.relay.Stop(ctx) }

func (s *reboundSQLite) counts(ctx context.Context) (storeCounts, error) {
	var c storeCounts
	err := s.db.QueryRowContext(ctx, `SELECT
	count(CASE WHEN state = 3 THEN 1 END),
	count(CASE WHEN state = 5 THEN 1 END),
	count(CASE WHEN state IN (1, 2, 4) THEN 1 END),
	coalesce(sum(attempt), 0)
FROM `+sqlite.Table).Scan(&c.sent, &c.dead, &c.pending, &c.attempts)
	return c, err
}

var (
	_ outboxSystem = (*reboundPG)(nil)
	_ outboxSystem = (*reboundSQLite)(nil)
)

// timedStore wraps a Store to count and time the relay's claims and
// MarkSents (one at a time, or in batches when the store is an
// outbox.BatchCompleter, as the relay would use it unwrapped): where a
// burn-down's time goes.
type timedStore struct {
	outbox.Store
	tl                          *timeline
	claims, claimed, claimNanos atomic.Int64
	marks, markNanos            atomic.Int64
	batches, batched            atomic.Int64
}

// MarkSentBatch times the store's MarkSentBatch; a store without one gets
// a MarkSent per message.
func (s *timedStore) MarkSentBatch(ctx context.Context, sent []outbox.Completion) ([]bool, error) {
	t := time.Now()
	var stale []bool
	var err error
	if bc, ok := s.Store.(outbox.BatchCompleter); ok {
		stale, err = bc.MarkSentBatch(ctx, sent)
	} else {
		stale = make([]bool, len(sent))
		for i, c := range sent {
			if e := s.Store.MarkSent(ctx, c.ID, c.Attempt, c.At); errors.Is(e, outbox.ErrStale) {
				stale[i] = true
			} else if e != nil {
				err = e
				break
			}
		}
	}
	s.batches.Add(1)
	s.batched.Add(int64(len(sent)))
	s.markNanos.Add(int64(time.Since(t)))
	return stale, err
}

func (s *timedStore) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int, skip []string) ([]outbox.Delivery, error) {
	t := time.Now()
	ds, err := s.Store.Claim(ctx, now, lease, limit, skip)
	s.tl.claimed(ds, t, time.Now())
	s.claims.Add(1)
	s.claimed.Add(int64(len(ds)))
	s.claimNanos.Add(int64(time.Since(t)))
	return ds, err
}

func (s *timedStore) MarkSent(ctx context.Context, id string, attempt int, now time.Time) error {
	t := time.Now()
	err := s.Store.MarkSent(ctx, id, attempt, now)
	s.marks.Add(1)
	s.markNanos.Add(int64(time.Since(t)))
	return err
}

// timedWaker is a timedStore of a store that is a Waker.
type timedWaker struct {
	*timedStore
	outbox.Waker
}

// Wait stamps the notification on the timeline.
func (s timedWaker) Wait(ctx context.Context) error {
	err := s.Waker.Wait(ctx)
	if err == nil && s.tl != nil {
		s.tl.lastWake.Store(time.Now().UnixNano())
	}
	return err
}

func (s *timedStore) String() string {
	c := max(s.claims.Load(), 1)
	claims := fmt.Sprintf("relay: %d claims of %.1f messages on average, %.2f ms each; ",
		s.claims.Load(), float64(s.claimed.Load())/float64(c), ms(time.Duration(s.claimNanos.Load()/c)))
	if b := s.batches.Load(); b > 0 {
		return claims + fmt.Sprintf("%d MarkSentBatch of %.1f messages on average, %.2f ms each",
			b, float64(s.batched.Load())/float64(b), ms(time.Duration(s.markNanos.Load()/b)))
	}
	m := max(s.marks.Load(), 1)
	return claims + fmt.Sprintf("%d MarkSent, %.2f ms each", s.marks.Load(), ms(time.Duration(s.markNanos.Load()/m)))
}
