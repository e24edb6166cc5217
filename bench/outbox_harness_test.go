package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rebound-go/rebound/internal/pgtest"
)

// The outbox harness: the pieces every outbox benchmark shares, whichever
// library relays the messages. Each run gets a fresh, empty outbox (its own
// PostgreSQL schema or SQLite file) and a loopback receiver that records
// every message ID it is sent; the ledger then checks, from the receiver's
// side and the store's, that nothing was lost.

// outboxGate is the variable that enables the outbox benchmarks: they
// enqueue tens of thousands of messages and run for minutes, which the CI
// step that runs every benchmark once (-benchtime 1x, with -race) must not.
const outboxGate = "REBOUND_BENCH_OUTBOX"

// skipUnlessOutboxGate skips b unless the gate is set.
func skipUnlessOutboxGate(b *testing.B) {
	b.Helper()
	if os.Getenv(outboxGate) != "1" {
		b.Skip(outboxGate + " is not 1: the outbox benchmarks run for minutes and are off by default; " +
			"run them, without -race, as docs/BENCHMARKS.md says: " +
			outboxGate + "=1 go test -run '^$' -bench Outbox -benchtime 1x -timeout 30m")
	}
}

// postgresURL returns REBOUND_TEST_POSTGRES, or skips tb.
func postgresURL(tb testing.TB) string {
	tb.Helper()
	return pgtest.URL(tb, "measure the PostgreSQL outboxes")
}

// poolConns is the pgxpool size of every PostgreSQL run, rebound's and
// river's alike. pgxpool's default (the larger of 4 and the CPU count) is
// 4 here, which would measure the pool rather than the outbox.
const poolConns = 32

// pgSchema is a schema of a run's own, dropped by tb's cleanup, and a pool
// whose every connection has it as search_path: the outbox table's name is
// fixed, so runs are isolated by schema.
type pgSchema struct {
	name string
	pool *pgxpool.Pool
}

func newPGSchema(tb testing.TB, url string) *pgSchema {
	tb.Helper()
	ctx := context.Background()
	name, _ := pgtest.Schema(tb, url, "obench_")
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatal(err)
	}
	pc.ConnConfig.RuntimeParams["search_path"] = name
	pc.MaxConns = poolConns
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close) // registered after the drop: runs before it
	warmPool(tb, pool)
	// The business table of the steady scenario.
	if _, err := pool.Exec(ctx, `CREATE TABLE orders (id BIGSERIAL PRIMARY KEY, ref TEXT NOT NULL, total INTEGER NOT NULL)`); err != nil {
		tb.Fatal(err)
	}
	return &pgSchema{name: name, pool: pool}
}

// warmPool opens every connection of pool before the run, as a service
// that has been running has them: otherwise the first second of a steady
// run measures 32 PostgreSQL backends starting at once on a 2-core machine
// (each new backend builds its caches), with the relay's claims queued
// behind the producers for a connection, rather than the relay.
func warmPool(tb testing.TB, pool *pgxpool.Pool) {
	tb.Helper()
	ctx := context.Background()
	conns := make([]*pgxpool.Conn, 0, poolConns)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	for range poolConns {
		c, err := pool.Acquire(ctx)
		if err != nil {
			tb.Fatalf("warming the pool: %v", err)
		}
		conns = append(conns, c)
		if _, err := c.Exec(ctx, `SELECT 1`); err != nil {
			tb.Fatalf("warming the pool: %v", err)
		}
	}
}

// outboxSystem is one library's outbox under test, fresh and empty.
type outboxSystem interface {
	// enqueueBatch writes one message per ID in one transaction.
	enqueueBatch(ctx context.Context, ids []string) error
	// enqueueBusiness is a business transaction: it inserts an order and
	// one message announcing it, and commits.
	enqueueBusiness(ctx context.Context, id string) error
	// start starts the relay (rebound) or client (river).
	start(ctx context.Context) error
	// stop stops it, letting deliveries in flight finish.
	stop(ctx context.Context) error
	// counts is the store's own view of the messages.
	counts(ctx context.Context) (storeCounts, error)
	// analyze updates the planner's statistics of the message table.
	analyze(ctx context.Context) error
}

// storeCounts is what a store says of its messages once a run is over.
type storeCounts struct {
	sent, dead, pending int
	// attempts is the sum of every message's attempt counter.
	attempts int
}

// outboxConfig is one configuration measured.
type outboxConfig struct {
	name string
	// lib is libReboundPG, libReboundSQLite or libRiver.
	lib string
	// workers bounds concurrent deliveries; 0 is the library's default
	// (rebound 16, river 100 for the default queue).
	workers int
	// fetchCooldown and fetchPollInterval are river's; 0 is its default
	// (100 ms and 1 s).
	fetchCooldown, fetchPollInterval time.Duration
	// analyze runs ANALYZE on the message table after the burn-down's
	// enqueue, before the start: the statistics of a table that has seen
	// its backlog, instead of those of a table created empty moments ago.
	analyze bool
	// oneConn limits a SQLite database/sql pool to one connection, so
	// that writers queue in database/sql instead of sleeping in SQLite's
	// busy handler (the package doc sets no limit).
	oneConn bool
	// retryWait, when set, replaces the library's retry schedule with this
	// constant wait: rebound's RelayConfig.Backoff, river's NextRetry.
	retryWait time.Duration
}

const (
	libReboundPG     = "rebound-postgres"
	libReboundSQLite = "rebound-sqlite"
	libRiver         = "river"
)

// newSystem makes the outbox of cfg, delivering to url.
func newSystem(tb testing.TB, cfg outboxConfig, url string, logs *logCounter) outboxSystem {
	tb.Helper()
	switch cfg.lib {
	case libReboundPG:
		return newReboundPG(tb, postgresURL(tb), cfg, url, logs)
	case libReboundSQLite:
		return newReboundSQLite(tb, cfg, url, logs)
	case libRiver:
		return newRiver(tb, postgresURL(tb), cfg, url, logs)
	}
	tb.Fatalf("unknown library %q", cfg.lib)
	return nil
}

// messageID is the ID of the i-th message of a run; payload its body.
func messageID(i int) string { return fmt.Sprintf("m%07d", i) }

func payload(id string) []byte {
	return []byte(`{"type":"order.created","order":"` + id + `","total":4200,"currency":"EUR"}`)
}

// messageIndex is the inverse of messageID, or -1.
func messageIndex(id string) int {
	if len(id) != 8 || id[0] != 'm' {
		return -1
	}
	n, err := strconv.Atoi(id[1:])
	if err != nil {
		return -1
	}
	return n
}

// failEveryFifth answers 503 to the first delivery of every fifth message:
// exactly 20% of them, decided by the ID alone.
func failEveryFifth(id string) bool { return messageIndex(id)%5 == 0 }

// receiver is the loopback webhook receiver: it records every request by
// the message ID in its Idempotency-Key, answers 204, or 503 to the first
// delivery of the IDs failFirst picks.
type receiver struct {
	srv       *httptest.Server
	failFirst func(id string) bool

	mu       sync.Mutex
	byID     map[string]*arrival
	requests int
	unique   int // IDs answered 2xx at least once
	want     int
	done     chan struct{} // closed when unique reaches want
	doneAt   time.Time
}

type arrival struct {
	requests, oks int
	firstOK       time.Time
}

func newReceiver(tb testing.TB, failFirst func(id string) bool) *receiver {
	r := &receiver{failFirst: failFirst, byID: map[string]*arrival{}, done: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	tb.Cleanup(r.srv.Close)
	return r
}

// expect sets the number of distinct IDs whose arrival closes done.
func (r *receiver) expect(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.want = n
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	_, _ = io.Copy(io.Discard, req.Body)
	now := time.Now()
	id := req.Header.Get("Idempotency-Key")
	r.mu.Lock()
	r.requests++
	a := r.byID[id]
	if a == nil {
		a = &arrival{}
		r.byID[id] = a
	}
	a.requests++
	if a.requests == 1 && r.failFirst != nil && r.failFirst(id) {
		r.mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	a.oks++
	if a.oks == 1 {
		a.firstOK = now
		r.unique++
		if r.unique == r.want {
			r.doneAt = now
			close(r.done)
		}
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// ledger is a run's account of its messages: every message enqueued is
// delivered (answered 2xx at least once), dead or still pending.
type ledger struct {
	enqueued  int
	delivered int // distinct enqueued IDs answered 2xx
	dead      int // the store's
	pending   int // the store's: neither sent nor dead
	dups      int // 2xx answers beyond the first for an ID
	requests  int // every request the receiver got, 503s included
	unknown   int // IDs received that were never enqueued
	storeSent int
	attempts  int // the store's attempt counters, summed
}

// account builds the ledger of the n messages of a run.
func (r *receiver) account(n int, c storeCounts) ledger {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := ledger{enqueued: n, dead: c.dead, pending: c.pending, requests: r.requests, storeSent: c.sent, attempts: c.attempts}
	for id, a := range r.byID {
		if i := messageIndex(id); i < 0 || i >= n {
			l.unknown++
			continue
		}
		if a.oks > 0 {
			l.delivered++
			l.dups += a.oks - 1
		}
	}
	return l
}

// check fails unless the ledger balances: enqueued = delivered + dead +
// pending, nothing unknown arrived, and the store agrees with the receiver
// on what was sent.
func (l ledger) check() error {
	var bad []string
	switch d := l.enqueued - l.delivered - l.dead - l.pending; {
	case d > 0:
		bad = append(bad, fmt.Sprintf("enqueued %d ≠ delivered %d + dead %d + pending %d: %d lost",
			l.enqueued, l.delivered, l.dead, l.pending, d))
	case d < 0:
		bad = append(bad, fmt.Sprintf("enqueued %d ≠ delivered %d + dead %d + pending %d: %d delivered but still pending in the store",
			l.enqueued, l.delivered, l.dead, l.pending, -d))
	}
	if l.unknown > 0 {
		bad = append(bad, fmt.Sprintf("%d IDs arrived that were never enqueued", l.unknown))
	}
	if l.storeSent != l.delivered {
		bad = append(bad, fmt.Sprintf("the store marked %d sent, the receiver acknowledged %d", l.storeSent, l.delivered))
	}
	if bad != nil {
		return fmt.Errorf("ledger does not balance: %s", strings.Join(bad, "; "))
	}
	return nil
}

func (l ledger) String() string {
	return fmt.Sprintf("ledger: enqueued %d = delivered %d + dead %d + pending %d; duplicates %d; requests %d; store: sent %d, attempts %d",
		l.enqueued, l.delivered, l.dead, l.pending, l.dups, l.requests, l.storeSent, l.attempts)
}

// settle waits until the store, read by counts, has recorded an outcome for every message
// (nothing pending), or until timeout; the receiver may see a delivery
// before its relay records it.
func settle(ctx context.Context, counts func(context.Context) (storeCounts, error), timeout time.Duration) (storeCounts, error) {
	deadline := time.Now().Add(timeout)
	for {
		c, err := counts(ctx)
		if err != nil || c.pending == 0 || time.Now().After(deadline) {
			return c, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logCounter is a slog handler that counts warnings and errors and keeps
// the first few, so a run reports its relay's complaints without printing
// thousands of lines.
type logCounter struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (h *logCounter) logger() *slog.Logger { return slog.New(h) }

func (h *logCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *logCounter) Handle(_ context.Context, rec slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	if len(h.first) < 3 {
		s := rec.Level.String() + " " + rec.Message
		rec.Attrs(func(a slog.Attr) bool {
			s += " " + a.String()
			return len(s) < 300
		})
		h.first = append(h.first, s)
	}
	return nil
}

func (h *logCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logCounter) WithGroup(string) slog.Handler      { return h }

func (h *logCounter) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return "no warnings logged"
	}
	return fmt.Sprintf("%d warnings/errors logged, first: %s", h.n, strings.Join(h.first, " | "))
}

// percentile is the nearest-rank q-quantile of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// sortedDurations returns ds sorted.
func sortedDurations(ds []time.Duration) []time.Duration {
	out := slices.Clone(ds)
	slices.Sort(out)
	return out
}
