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
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rebound-go/rebound/internal/config"
	"github.com/rebound-go/rebound/internal/daemon"
	"github.com/rebound-go/rebound/internal/pgtest"
	"github.com/rebound-go/rebound/webhook"
)

// loadGate turns on the sustained-load benchmark: it runs for minutes.
const loadGate = "REBOUND_BENCH_LOAD"

// loadPhase is one stretch of the load run.
type loadPhase struct {
	name     string
	duration time.Duration
	// failEvery answers 503 to the first delivery of every failEvery-th
	// message (0: never); delay is added to every answer.
	failEvery int
	delay     time.Duration
}

// loadResult is what one phase measured.
type loadResult struct {
	phase                    string
	sent, acked, failed      int
	enqP50, enqP99, enqMax   time.Duration
	arriveP50, arriveP99     time.Duration
	backlogMax, backlogEnd   int
	deliveries, rejected503s int
}

// loadReceiver answers deliveries by the phase in force and records the
// first 2xx arrival of each message.
type loadReceiver struct {
	mu      sync.Mutex
	phase   loadPhase
	seen    map[string]int
	arrived map[string]time.Time
	n, n503 int
}

func (rc *loadReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	id := r.Header.Get(webhook.HeaderID)
	rc.mu.Lock()
	p := rc.phase
	rc.seen[id]++
	first := rc.seen[id] == 1
	rc.n++
	fail := p.failEvery > 0 && first && rc.n%p.failEvery == 0
	if fail {
		rc.n503++
	}
	rc.mu.Unlock()
	if p.delay > 0 {
		time.Sleep(p.delay)
	}
	if fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	rc.mu.Lock()
	if _, ok := rc.arrived[id]; !ok {
		rc.arrived[id] = time.Now()
	}
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// runLoad starts the whole daemon on a fresh PostgreSQL schema, then
// enqueues through its API at rate per second, open loop, phase by phase,
// sampling the backlog every second, and finally waits for the backlog to
// drain and checks that every acknowledged message arrived.
func runLoad(tb testing.TB, pgURL string, rate int, phases []loadPhase) ([]loadResult, time.Duration) {
	tb.Helper()
	ctx := context.Background()
	_, dsn := pgtest.Schema(tb, pgURL, "load_")

	rc := &loadReceiver{phase: phases[0], seen: map[string]int{}, arrived: map[string]time.Time{}}
	recv := httptest.NewServer(rc)
	defer recv.Close()

	cfg, err := config.Parse("load.yaml", strings.NewReader(fmt.Sprintf(`
allow_addresses: [127.0.0.0/8]
relay: {workers: 100}
destinations:
  load:
    url: %s/hook
    timeout: 2s
    retry: {backoff: {initial: 100ms, max: 2s}}
`, recv.URL)))
	if err != nil {
		tb.Fatal(err)
	}
	cfg.DB = dsn
	cfg.Listen = "127.0.0.1:0"
	if err := cfg.Finish(); err != nil {
		tb.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	addrc, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- daemon.Run(runCtx, cfg, daemon.Options{
			Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
			Listening: func(a string) { addrc <- a },
		})
	}()
	var api string
	select {
	case a := <-addrc:
		api = "http://" + a + "/v1/messages"
	case err := <-done:
		tb.Fatalf("daemon: %v", err)
	}
	defer func() {
		stop()
		if err := <-done; err != nil {
			tb.Errorf("daemon: %v", err)
		}
	}()
	be, err := daemon.Open(ctx, "postgres", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer be.Close()
	backlog := func() int {
		st, err := be.Outbox.Stats(ctx, time.Now())
		if err != nil {
			tb.Fatal(err)
		}
		n := 0
		for _, d := range st {
			n += d.Pending + d.Retrying + d.Delivering
		}
		return n
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}}
	var (
		mu    sync.Mutex
		acked = map[string]time.Time{} // ID → when the 202 came back
	)
	var results []loadResult
	for _, p := range phases {
		rc.mu.Lock()
		rc.phase = p
		n0, f0 := rc.n, rc.n503
		rc.mu.Unlock()
		res := loadResult{phase: p.name}
		var lat []time.Duration
		var latMu sync.Mutex
		var failed atomic.Int64
		sem := make(chan struct{}, 128)
		var wg sync.WaitGroup
		start := time.Now()
		total := int(p.duration.Seconds() * float64(rate))
		sample := time.NewTicker(time.Second)
		for i := 0; i < total; i++ {
			due := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			select {
			case <-sample.C:
				res.backlogMax = max(res.backlogMax, backlog())
			default:
			}
			sem <- struct{}{}
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				defer func() { <-sem }()
				body := fmt.Sprintf(`{"destination":"load","payload":{"n":%d,"pad":"%s"}}`, i, strings.Repeat("x", 160))
				t0 := time.Now()
				resp, err := client.Post(api, "application/json", strings.NewReader(body))
				if err != nil {
					failed.Add(1)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				took := time.Since(t0)
				if resp.StatusCode != http.StatusAccepted {
					failed.Add(1)
					return
				}
				id := string(b[strings.Index(string(b), `"id":"`)+6:])
				id = id[:strings.IndexByte(id, '"')]
				mu.Lock()
				acked[id] = time.Now()
				mu.Unlock()
				latMu.Lock()
				lat = append(lat, took)
				latMu.Unlock()
			}(i)
		}
		wg.Wait()
		sample.Stop()
		res.sent, res.acked, res.failed = total, len(lat), int(failed.Load())
		slices.Sort(lat)
		if len(lat) > 0 {
			res.enqP50, res.enqP99, res.enqMax = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
		}
		res.backlogEnd = backlog()
		res.backlogMax = max(res.backlogMax, res.backlogEnd)
		rc.mu.Lock()
		res.deliveries, res.rejected503s = rc.n-n0, rc.n503-f0
		rc.mu.Unlock()
		results = append(results, res)
	}
	// Drain, then check every acknowledged message arrived.
	drainStart := time.Now()
	for backlog() > 0 {
		if time.Since(drainStart) > 4*time.Minute {
			tb.Fatalf("backlog did not drain in 4 minutes: %d left", backlog())
		}
		time.Sleep(100 * time.Millisecond)
	}
	drain := time.Since(drainStart)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var arrive []time.Duration
	for id, at := range acked {
		got, ok := rc.arrived[id]
		if !ok {
			tb.Fatalf("message %s was acknowledged but never arrived", id)
		}
		arrive = append(arrive, got.Sub(at))
	}
	slices.Sort(arrive)
	if n := len(arrive); n > 0 {
		for i := range results {
			results[i].arriveP50, results[i].arriveP99 = arrive[n/2], arrive[n*99/100]
		}
	}
	return results, drain
}

// BenchmarkLoad is the sustained-load run: 60 s of enqueues at a fixed
// rate with the receiver healthy, then 60 s with it degraded (20% 503s,
// 50 ms per answer). One run whatever b.N is.
func BenchmarkLoad(b *testing.B) {
	if os.Getenv(loadGate) == "" {
		b.Skip(loadGate + " is not set: the sustained-load run takes minutes")
	}
	pg := pgtest.URL(b, "run the sustained-load benchmark")
	rate := 1000
	if s := os.Getenv("REBOUND_BENCH_LOAD_RATE"); s != "" {
		fmt.Sscan(s, &rate)
	}
	for b.Loop() {
		res, drain := runLoad(b, pg, rate, []loadPhase{
			{name: "healthy", duration: time.Minute},
			{name: "degraded", duration: time.Minute, failEvery: 5, delay: 50 * time.Millisecond},
		})
		for _, r := range res {
			b.Logf("%s: %d/s for %d: acked %d failed %d; enqueue p50 %v p99 %v max %v; backlog max %d end %d; deliveries %d (503s %d)",
				r.phase, rate, r.sent, r.acked, r.failed, r.enqP50, r.enqP99, r.enqMax, r.backlogMax, r.backlogEnd, r.deliveries, r.rejected503s)
		}
		b.Logf("drained in %v; enqueue-to-arrival over both phases p50 %v p99 %v", drain, res[0].arriveP50, res[0].arriveP99)
	}
}

// TestLoadHarness runs the same code at a tiny size so that it cannot rot.
func TestLoadHarness(t *testing.T) {
	pg := pgtest.URL(t, "run the sustained-load harness")
	res, _ := runLoad(t, pg, 50, []loadPhase{
		{name: "healthy", duration: time.Second},
		{name: "degraded", duration: time.Second, failEvery: 5, delay: 5 * time.Millisecond},
	})
	for _, r := range res {
		if r.acked != r.sent || r.failed != 0 {
			t.Errorf("%s: %d of %d acknowledged, %d failed", r.phase, r.acked, r.sent, r.failed)
		}
	}
}
