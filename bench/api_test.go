package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/internal/api"
	"github.com/rebound-go/rebound/internal/daemon"
	"github.com/rebound-go/rebound/internal/pgtest"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/postgres"
	"github.com/rebound-go/rebound/outbox/sqlite"
)

// The API benchmark: the daemon's POST /v1/messages on PostgreSQL, through
// the real handler (internal/api, with the idempotency middleware) and the
// daemon's Backend (daemon.Open, Migrate), served on a loopback listener
// and driven open-loop at a fixed rate by keep-alive clients, with and
// without an Idempotency-Key, and with the Backend's grouped enqueue or a
// transaction per request (the daemon's enqueue before group commit). No
// relay runs: it measures the enqueue path alone. At the end the outbox
// must hold exactly the messages that were acknowledged with 202, each
// once.

// apiGate is the variable that enables BenchmarkAPIEnqueue: each rate runs
// for 20 s, which the CI step that runs every benchmark once must not.
const apiGate = "REBOUND_BENCH_API"

// apiDefaultPostgres is the database BenchmarkAPIEnqueue uses when
// REBOUND_TEST_POSTGRES is not set.
const apiDefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// apiDestination is the destination every benchmark message names.
const apiDestination = "orders"

// apiConfig is one API run.
type apiConfig struct {
	// rate is the requests started per second, on a fixed schedule.
	rate int
	// d is how long requests are started for.
	d time.Duration
	// inFlight bounds the requests in flight (and the client's
	// connections); the schedule waits when it is reached, and the wait
	// counts in the latency.
	inFlight int
	// idempotencyKey sends a fresh Idempotency-Key with each request.
	idempotencyKey bool
	// txPerRequest replaces the Backend's Enqueue with one transaction per
	// request, as the daemon enqueued before it grouped commits: the
	// baseline.
	txPerRequest bool
}

func (c apiConfig) name() string {
	key := "no-key"
	if c.idempotencyKey {
		key = "idempotency-key"
	}
	enq := "grouped"
	if c.txPerRequest {
		enq = "tx-per-request"
	}
	return fmt.Sprintf("%s/%d-per-s/%s", enq, c.rate, key)
}

// apiResult is what one run measured. Latency runs from each request's
// scheduled start to the end of its response, so a schedule that falls
// behind counts against the server instead of hiding it.
type apiResult struct {
	requests, accepted, failed int
	// achieved is the accepted requests per second over the run, from
	// the first scheduled start to the last response.
	achieved       float64
	p50, p99, max  time.Duration
	rows, distinct int
	firstFailure   string
}

// apiBackend is a fresh Backend of kind ("postgres" or "sqlite"),
// migrated, and closed and removed by tb's cleanup; ids reads back the IDs
// its outbox holds.
type apiBackend struct {
	be  *daemon.Backend
	ids func(ctx context.Context) ([]string, error)
	// txPerRequest enqueues in a transaction of its own per call, as the
	// daemon did before it grouped them, through a pool like the daemon's.
	txPerRequest func(ctx context.Context, msgs []outbox.Message) ([]string, error)
}

func newAPIBackend(tb testing.TB, kind, pgURL string) *apiBackend {
	tb.Helper()
	ctx := context.Background()
	var dsn string
	switch kind {
	case "sqlite":
		dsn = filepath.Join(tb.TempDir(), "rebound.db")
	case "postgres":
		// The daemon opens its store from a connection string alone, so
		// the run's schema goes in through the startup options.
		_, dsn = pgtest.Schema(tb, pgURL, "abench_")
	default:
		tb.Fatalf("unknown store kind %q", kind)
	}
	be, err := daemon.Open(ctx, kind, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(be.Close) // registered after the schema's drop: runs before it
	if err := be.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	ab := &apiBackend{be: be, ids: func(ctx context.Context) ([]string, error) {
		// Through the outbox's own List, as an operator would see it.
		var ids []string
		f := outbox.Filter{Limit: 1000}
		for {
			recs, next, err := be.Outbox.List(ctx, f)
			if err != nil {
				return nil, err
			}
			for _, r := range recs {
				ids = append(ids, r.ID)
			}
			if next == "" {
				return ids, nil
			}
			f.Cursor = next
		}
	}}
	switch kind {
	case "postgres":
		pc, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			tb.Fatal(err)
		}
		pc.MaxConns = 16 // the daemon's pool's
		pool, err := pgxpool.NewWithConfig(ctx, pc)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(pool.Close)
		ab.txPerRequest = func(ctx context.Context, msgs []outbox.Message) ([]string, error) {
			var ids []string
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				var err error
				ids, err = postgres.Enqueue(ctx, tx, msgs...)
				return err
			})
			return ids, err
		}
	case "sqlite":
		db, err := sqlite.Open(dsn)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		ab.txPerRequest = func(ctx context.Context, msgs []outbox.Message) ([]string, error) {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return nil, err
			}
			ids, err := outbox.Enqueue(ctx, tx, msgs...)
			if err != nil {
				_ = tx.Rollback()
				return nil, err
			}
			return ids, tx.Commit()
		}
	}
	return ab
}

// apiPayload is a 200-byte JSON payload, distinct per request.
func apiPayload(i int) json.RawMessage {
	p := fmt.Sprintf(`{"type":"order.created","order":"o-%08d","customer":"c-%06d","total":4200,"currency":"EUR","lines":[{"sku":"SKU-1042","qty":2,"price":1500},{"sku":"SKU-2207","qty":1,"price":1200}],"note":"`, i, i%1000003)
	return json.RawMessage(p + strings.Repeat("x", 200-len(p)-2) + `"}`)
}

// runAPI serves the API over b's Backend and drives cfg's load at it.
func runAPI(tb testing.TB, b *apiBackend, cfg apiConfig) apiResult {
	tb.Helper()
	ctx := context.Background()
	logs := &logCounter{}
	// The enqueue the daemon gives the API (which tells a taken ID apart),
	// over the Backend's or the baseline's.
	be := *b.be
	if cfg.txPerRequest {
		be.Enqueue = b.txPerRequest
	}
	h, err := api.New(api.Config{
		Store:       b.be.Outbox,
		Enqueue:     daemon.EnqueueFor(&be),
		Destination: func(dest string) bool { return dest == apiDestination },
		Idempotency: &idempotency.MemoryStore{}, // as the daemon's
		Logger:      logs.logger(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConns: cfg.inFlight, MaxIdleConnsPerHost: cfg.inFlight, IdleConnTimeout: time.Minute},
		Timeout:   30 * time.Second,
	}
	defer client.CloseIdleConnections()

	n := int(float64(cfg.rate) * cfg.d.Seconds())
	bodies := make([][]byte, n)
	for i := range bodies {
		body, err := json.Marshal(api.EnqueueRequest{Destination: apiDestination, Payload: apiPayload(i)})
		if err != nil {
			tb.Fatal(err)
		}
		bodies[i] = body
	}
	// The keys are unique per run: idempotency keys live as long as the
	// schema, and a SQLite run's file is fresh.
	keyPrefix := outbox.NewID(time.Now())

	type outcome struct {
		status int
		id     string
		lat    time.Duration
		err    error
	}
	outcomes := make([]outcome, n)
	sem := make(chan struct{}, cfg.inFlight)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Second / time.Duration(cfg.rate))
		time.Sleep(time.Until(at))
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			o := &outcomes[i]
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/messages", bytes.NewReader(bodies[i]))
			if err != nil {
				o.err = err
				return
			}
			req.Header.Set("Content-Type", "application/json")
			if cfg.idempotencyKey {
				req.Header.Set("Idempotency-Key", fmt.Sprintf("%s-%d", keyPrefix, i))
			}
			resp, err := client.Do(req)
			if err != nil {
				o.err = err
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			o.lat, o.status = time.Since(at), resp.StatusCode
			if err != nil {
				o.err = err
				return
			}
			if resp.StatusCode != http.StatusAccepted {
				o.err = fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
				return
			}
			var er api.EnqueueResponse
			if err := json.Unmarshal(body, &er); err != nil || er.ID == "" {
				o.err = fmt.Errorf("202 with an unreadable body %q: %v", body, err)
				return
			}
			o.id = er.ID
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)

	res := apiResult{requests: n}
	lat := make([]time.Duration, 0, n)
	ids := make([]string, 0, n)
	for _, o := range outcomes {
		if o.err != nil {
			if res.failed == 0 {
				res.firstFailure = o.err.Error()
			}
			res.failed++
			continue
		}
		res.accepted++
		ids = append(ids, o.id)
		lat = append(lat, o.lat)
	}
	res.achieved = float64(res.accepted) / elapsed.Seconds()
	dist := distributionOf(lat)
	res.p50, res.p99, res.max = dist.p50, dist.p99, dist.max
	stored, err := b.ids(ctx)
	if err != nil {
		tb.Fatalf("%s: reading the outbox: %v", cfg.name(), err)
	}
	seen := make(map[string]bool, len(stored))
	for _, id := range stored {
		seen[id] = true
	}
	res.rows, res.distinct = len(stored), len(seen)
	missing := 0
	for _, id := range ids {
		if !seen[id] {
			missing++
		}
	}
	tb.Logf("%s: %d requests in %.1f s on %s, %d accepted (%.0f/s), %d failed; latency %v; outbox %d rows, %d distinct IDs, %d acknowledged IDs missing; %v",
		cfg.name(), n, elapsed.Seconds(), machine(), res.accepted, res.achieved, res.failed, dist, res.rows, res.distinct, missing, logs)
	if res.failed > 0 {
		tb.Errorf("%s: %d of %d requests failed, first: %s", cfg.name(), res.failed, n, res.firstFailure)
	}
	if res.rows != res.accepted || res.distinct != res.accepted || missing > 0 {
		tb.Errorf("%s: the outbox holds %d rows (%d distinct IDs) for %d accepted requests, %d of whose IDs are missing",
			cfg.name(), res.rows, res.distinct, res.accepted, missing)
	}
	return res
}

// The benchmark's rates: the target is at least 2,000 enqueues a second
// with a p99 of at most 20 ms; 3,000 shows the headroom.
var apiRates = []int{2000, 3000}

const (
	apiRunFor   = 20 * time.Second
	apiInFlight = 256
)

func BenchmarkAPIEnqueue(b *testing.B) {
	if os.Getenv(apiGate) != "1" {
		b.Skip(apiGate + " is not 1: the API benchmark runs for minutes and is off by default; " +
			"run it, without -race, as docs/BENCHMARKS.md says: " +
			apiGate + "=1 go test -run '^$' -bench APIEnqueue -benchtime 1x")
	}
	pgURL := os.Getenv(pgtest.Env)
	if pgURL == "" {
		pgURL = apiDefaultPostgres
	}
	for _, perTx := range []bool{false, true} {
		for _, rate := range apiRates {
			for _, key := range []bool{false, true} {
				cfg := apiConfig{rate: rate, d: apiRunFor, inFlight: apiInFlight, idempotencyKey: key, txPerRequest: perTx}
				b.Run(cfg.name(), func(b *testing.B) {
					res := runAPI(b, newAPIBackend(b, "postgres", pgURL), cfg)
					b.ReportMetric(0, "ns/op")
					b.ReportMetric(res.achieved, "msgs/s")
					b.ReportMetric(ms(res.p50), "p50_ms")
					b.ReportMetric(ms(res.p99), "p99_ms")
					b.ReportMetric(ms(res.max), "max_ms")
					b.ReportMetric(float64(res.failed), "failed")
					ok := res.failed == 0 && res.achieved >= 0.99*float64(rate) && res.p99 <= 20*time.Millisecond
					b.Logf("target: %s %.0f msgs/s, p99 %.1f ms (≥ 2,000/s with p99 ≤ 20 ms) — %s",
						cfg.name(), res.achieved, ms(res.p99), verdict(ok))
				})
			}
		}
	}
}

// TestAPIEnqueueHarness runs the API benchmark's code at a tiny size, so
// that it cannot rot while the benchmark is off: on SQLite always, on
// PostgreSQL where REBOUND_TEST_POSTGRES is set.
func TestAPIEnqueueHarness(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		for _, perTx := range []bool{false, true} {
			for _, key := range []bool{false, true} {
				cfg := apiConfig{rate: 200, d: 250 * time.Millisecond, inFlight: 8, idempotencyKey: key, txPerRequest: perTx}
				t.Run(kind+"/"+cfg.name(), func(t *testing.T) {
					pgURL := ""
					if kind == "postgres" {
						pgURL = postgresURL(t)
					}
					res := runAPI(t, newAPIBackend(t, kind, pgURL), cfg)
					if res.accepted != 50 {
						t.Errorf("%d requests accepted, want 50", res.accepted)
					}
				})
			}
		}
	}
}
