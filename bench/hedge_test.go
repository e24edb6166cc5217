package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cristalhq/hedgedhttp"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	"github.com/failsafe-go/failsafe-go/hedgepolicy"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
)

// The hedging benchmark: tail latency against failsafe-go's HedgePolicy
// and cristalhq/hedgedhttp, on one loopback server with a slow 5%.
//
// The server numbers the requests it receives from 1 (the counter is reset
// before each contender, so every contender meets the same sequence) and
// answers request n after 100 ms when n%20 == 0, else after 1 ms, with
// httpJSON. A hedge takes a number of its own, so it is slow too when it
// lands on a multiple of 20, whoever sends it. "Extra requests" is what the
// server received over the calls made, minus one.
//
// Every contender makes hedgeCalls GETs from hedgeWorkers goroutines, each
// with a 2 s deadline, reads the whole body and closes it, and gets its own
// *http.Transport (64 idle connections per host, dials counted), so none
// reuses another's connections:
//
//   - net-http: a plain client, no hedging (the baseline);
//   - rebound: reboundhttp.NewClient with Config.Hedgers made from a zero
//     rebound.HedgeConfig: the delay is the live p90 of the endpoint's
//     attempts (once 20 are measured), 1 hedge, at most 10% of attempts;
//     the rest of the Config is the default (3 attempts, 5 s per attempt);
//     the p90 falls inside the fast answers' tail, about 1.7–1.9 ms, at
//     the cost of hedging a few percent of fast calls;
//   - rebound-p95: the same with HedgeConfig.Percentile 0.95 (the default
//     before this benchmark). With 5% of answers slow, the p95 of the
//     latencies falls on the far tail of the fast answers (slow ones are
//     under 5% of the samples, since a hedged call adds a fast sample): a
//     delay of 1.7–3.3 ms on a quiet machine, 6–9 ms on a busy one;
//   - rebound-fixed: the same with HedgeConfig.Delay hedgeFixedDelay;
//   - failsafe-go: failsafehttp.NewRoundTripper with
//     hedgepolicy.NewBuilderWithDelay(hedgeFixedDelay), 1 hedge, no budget
//     (it has none by default);
//   - failsafe-go-p95: the same with
//     hedgepolicy.NewBuilderWithDelayQuantile(0.95, 1000, 20), the
//     counterpart of rebound's default: a moving estimate of the p95 of
//     the executions' durations (a canceled loser's until it ends included,
//     as rebound counts its own), with a memory of about 1,000, after 20;
//   - hedgedhttp: hedgedhttp.NewRoundTripperAndStats(hedgeFixedDelay, 2):
//     the request and 1 hedge.
//
// The fixed delay is 2.5 ms, about twice a fast answer (1.2–1.4 ms). A
// hedged slow call ends about 2 ms after its delay, not 1.2 ms: over
// HTTP/1.1 a hedge mostly dials a connection (every worker's is busy) and
// the canceled original closes its own. With 3 ms, every library's p99 was
// 5.6–6.5 ms, over the 5 ms target.

// hedgeGate is the variable that enables BenchmarkHedgeTail: it sleeps
// through hundreds of 100 ms answers, which the CI step that runs every
// benchmark once must not.
const hedgeGate = "REBOUND_BENCH_HEDGE"

const (
	hedgeCalls       = 4000
	hedgeWorkers     = 8
	hedgeSlowEvery   = 20 // every 20th request received: 5%
	hedgeSlow        = 100 * time.Millisecond
	hedgeFast        = time.Millisecond
	hedgeFixedDelay  = 2500 * time.Microsecond
	hedgeCallTimeout = 2 * time.Second
	// hedgeRunLimit bounds one contender's run: no call starts after it.
	hedgeRunLimit = 30 * time.Second
)

// tailServer is the loopback server: it counts the requests it received
// and the ones it is still answering.
type tailServer struct {
	*httptest.Server
	n        atomic.Int64
	inflight atomic.Int64
}

func newTailServer(tb testing.TB) *tailServer {
	s := &tailServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
		d := hedgeFast
		if s.n.Add(1)%hedgeSlowEvery == 0 {
			d = hedgeSlow
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done(): // a canceled hedge or original
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(httpJSON)))
		_, _ = io.WriteString(w, httpJSON)
	}))
	tb.Cleanup(s.Close)
	return s
}

// settle waits, at most 2 s, until the server answers nothing, so that a
// hedge sent just before its call ended is counted.
func (s *tailServer) settle() {
	deadline := time.Now().Add(2 * time.Second)
	time.Sleep(5 * time.Millisecond)
	for s.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// hedgeCounts are the hedges a contender says it started, won and had
// refused by its budget, -1 where it does not say; for rebound, also the
// delays its hedges waited (Event.Wait).
type hedgeCounts struct {
	started, won, rejected atomic.Int64

	mu    sync.Mutex
	waits []time.Duration
}

func newHedgeCounts(known bool) *hedgeCounts {
	c := &hedgeCounts{}
	if !known {
		c.won.Store(-1)
		c.rejected.Store(-1)
	}
	return c
}

// Observe counts rebound's hedge events.
func (c *hedgeCounts) Observe(_ context.Context, e rebound.Event) {
	switch e.Kind {
	case rebound.HedgeStarted:
		c.started.Add(1)
		c.mu.Lock()
		c.waits = append(c.waits, e.Wait)
		c.mu.Unlock()
	case rebound.HedgeFinished:
		if e.Result == rebound.ResultWon {
			c.won.Add(1)
		}
	case rebound.HedgeRejected:
		c.rejected.Add(1)
	}
}

// hedgeContender is one client of the benchmark: do sends a request
// through base; counts are read once the run is over (nil for no hedging).
type hedgeContender struct {
	name string
	make func(tb testing.TB, base http.RoundTripper) (do httpDo, counts func() *hedgeCounts)
}

func reboundHedged(cfg rebound.HedgeConfig) func(testing.TB, http.RoundTripper) (httpDo, func() *hedgeCounts) {
	return func(tb testing.TB, base http.RoundTripper) (httpDo, func() *hedgeCounts) {
		hs, err := rebound.NewHedgers(cfg, 0)
		if err != nil {
			tb.Fatal(err)
		}
		c := newHedgeCounts(true)
		cl, err := reboundhttp.NewClient(reboundhttp.Config{Base: base, Hedgers: hs, Policy: rebound.Policy{Observer: c}})
		if err != nil {
			tb.Fatal(err)
		}
		return cl.Do, func() *hedgeCounts { return c }
	}
}

func hedgeContenders() []hedgeContender {
	return []hedgeContender{
		{"net-http", func(_ testing.TB, base http.RoundTripper) (httpDo, func() *hedgeCounts) {
			return (&http.Client{Transport: base}).Do, nil
		}},
		{"rebound", reboundHedged(rebound.HedgeConfig{})},
		{"rebound-p95", reboundHedged(rebound.HedgeConfig{Percentile: 0.95})},
		{"rebound-fixed", reboundHedged(rebound.HedgeConfig{Delay: hedgeFixedDelay})},
		{"failsafe-go", func(_ testing.TB, base http.RoundTripper) (httpDo, func() *hedgeCounts) {
			c := newHedgeCounts(false)
			hp := hedgepolicy.NewBuilderWithDelay[*http.Response](hedgeFixedDelay).
				WithMaxHedges(1).
				OnHedge(func(failsafe.ExecutionEvent[*http.Response]) { c.started.Add(1) }).
				Build()
			return (&http.Client{Transport: failsafehttp.NewRoundTripper(base, hp)}).Do, func() *hedgeCounts { return c }
		}},
		{"failsafe-go-p95", func(_ testing.TB, base http.RoundTripper) (httpDo, func() *hedgeCounts) {
			c := newHedgeCounts(false)
			hp := hedgepolicy.NewBuilderWithDelayQuantile[*http.Response](0.95, 1000, 20).
				WithMaxHedges(1).
				OnHedge(func(failsafe.ExecutionEvent[*http.Response]) { c.started.Add(1) }).
				Build()
			return (&http.Client{Transport: failsafehttp.NewRoundTripper(base, hp)}).Do, func() *hedgeCounts { return c }
		}},
		{"hedgedhttp", func(tb testing.TB, base http.RoundTripper) (httpDo, func() *hedgeCounts) {
			rt, stats, err := hedgedhttp.NewRoundTripperAndStats(hedgeFixedDelay, 2, base)
			if err != nil {
				tb.Fatal(err)
			}
			return (&http.Client{Transport: rt}).Do, func() *hedgeCounts {
				c := newHedgeCounts(false)
				c.started.Store(int64(stats.ActualRoundTrips() - stats.RequestedRoundTrips()))
				c.won.Store(int64(stats.HedgedRequestWins()))
				return c
			}
		}},
	}
}

// hedgeRun is what one contender's run measured.
type hedgeRun struct {
	name     string
	calls    int   // calls made
	received int64 // requests the server received
	errors   int
	firstErr string
	lat      distribution // of the successful calls
	counts   *hedgeCounts // nil without hedging
	elapsed  time.Duration
	dials    int64 // connections the client's transport dialed
}

// extra is the share of requests beyond one per call.
func (r hedgeRun) extra() float64 {
	if r.calls == 0 {
		return 0
	}
	return float64(r.received)/float64(r.calls) - 1
}

// runHedgeTail makes calls GETs through c from workers goroutines against
// s, whose counter it resets first.
func runHedgeTail(tb testing.TB, s *tailServer, c hedgeContender, calls, workers int) hedgeRun {
	var dials atomic.Int64
	d := &net.Dialer{}
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	do, counts := c.make(tb, tr)
	s.settle()
	s.n.Store(0)

	lat := make([]time.Duration, calls)
	errs := make([]error, calls)
	var next atomic.Int64
	stop := time.Now().Add(hedgeRunLimit)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= calls || time.Now().After(stop) {
					return
				}
				lat[i], errs[i] = hedgeGet(do, s.URL+"/v1/item/42")
			}
		})
	}
	wg.Wait()
	r := hedgeRun{name: c.name, elapsed: time.Since(start), dials: dials.Load()}
	s.settle()
	r.received = s.n.Load()
	ok := make([]time.Duration, 0, calls)
	for i := range min(int(next.Load()), calls) {
		r.calls++
		if errs[i] != nil {
			if r.errors++; r.errors == 1 {
				r.firstErr = errs[i].Error()
			}
			continue
		}
		ok = append(ok, lat[i])
	}
	r.lat = distributionOf(ok)
	if counts != nil {
		r.counts = counts()
	}
	return r
}

// hedgeGet sends one GET with a deadline of hedgeCallTimeout, reads the
// whole body and closes it, and returns how long that took.
func hedgeGet(do httpDo, url string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), hedgeCallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := do(req)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	switch {
	case err != nil:
		return 0, err
	case resp.StatusCode != http.StatusOK || n != int64(len(httpJSON)):
		return 0, fmt.Errorf("status %d, %d body bytes", resp.StatusCode, n)
	}
	return d, nil
}

func (r hedgeRun) row() string {
	hedges := "–"
	if c := r.counts; c != nil {
		f := func(n int64) string {
			if n < 0 {
				return "–"
			}
			return strconv.FormatInt(n, 10)
		}
		hedges = f(c.started.Load()) + " / " + f(c.won.Load()) + " / " + f(c.rejected.Load())
		c.mu.Lock()
		if w := sortedDurations(c.waits); len(w) > 0 {
			hedges += fmt.Sprintf(", delay %.2f–%.2f ms (median %.2f)", ms(w[0]), ms(w[len(w)-1]), ms(percentile(w, .5)))
		}
		c.mu.Unlock()
	}
	errs := strconv.Itoa(r.errors)
	if r.errors > 0 {
		errs += " (first: " + r.firstErr + ")"
	}
	return fmt.Sprintf("%-15s %6.2f %6.2f %7.2f %7.2f %7.2f %6.1f%% %6d %7d %6d  %s; %s errors",
		r.name, ms(r.lat.p50), ms(r.lat.p90), ms(r.lat.p99), ms(r.lat.p999), ms(r.lat.max),
		100*r.extra(), r.calls, r.received, r.dials, hedges, errs)
}

const hedgeHeader = "contender        p50 ms p90 ms  p99 ms p99.9ms  max ms  extra  calls  server  dials  hedges started / won / rejected; errors"

// BenchmarkHedgeTail runs every contender once against the same server,
// whatever b.N is, and reports each one's p99 and extra requests. The
// target, for rebound: p99 ≤ 5 ms at ≤ 10% extra requests.
func BenchmarkHedgeTail(b *testing.B) {
	if os.Getenv(hedgeGate) != "1" {
		b.Skip(hedgeGate + " is not 1: the hedging benchmark sleeps through hundreds of 100 ms answers and is off by default; " +
			"run it, without -race, as docs/BENCHMARKS.md says: " +
			hedgeGate + "=1 go test -run '^$' -bench BenchmarkHedgeTail -benchtime 1x -v .")
	}
	s := newTailServer(b)
	rows := []string{hedgeHeader}
	var runs []hedgeRun
	for _, c := range hedgeContenders() {
		r := runHedgeTail(b, s, c, hedgeCalls, hedgeWorkers)
		runs = append(runs, r)
		rows = append(rows, r.row())
		b.ReportMetric(ms(r.lat.p99), r.name+"-p99-ms")
		b.ReportMetric(100*r.extra(), r.name+"-extra-%")
	}
	b.ReportMetric(0, "ns/op")
	b.Logf("%d GETs from %d workers per contender, every %dth request received answered after %v, the rest after %v; fixed delay %v; on %s\n%s",
		hedgeCalls, hedgeWorkers, hedgeSlowEvery, hedgeSlow, hedgeFast, hedgeFixedDelay, machine(), strings.Join(rows, "\n"))
	for _, r := range runs {
		if r.errors > 0 {
			b.Errorf("%s: %d of %d calls failed, first: %s", r.name, r.errors, r.calls, r.firstErr)
		}
		if strings.HasPrefix(r.name, "rebound") {
			ok := r.lat.p99 <= 5*time.Millisecond && r.extra() <= 0.10
			b.Logf("target: %s p99 %.2f ms at %.1f%% extra requests (p99 ≤ 5 ms at ≤ 10%%) — %s",
				r.name, ms(r.lat.p99), 100*r.extra(), verdict(ok))
		}
	}
}

// TestHedgeTailHarness runs the hedging benchmark's code small, so that it
// cannot rot while the benchmark is off. It checks the counting, never a
// latency: every call is made and succeeds, the plain client sends one
// request per call, and a hedging client no more than one plus the hedges
// it started.
func TestHedgeTailHarness(t *testing.T) {
	s := newTailServer(t)
	const calls = 200
	for _, c := range hedgeContenders() {
		t.Run(c.name, func(t *testing.T) {
			r := runHedgeTail(t, s, c, calls, 4)
			t.Log(r.row())
			if r.calls != calls || r.errors != 0 || r.lat.n != calls {
				t.Fatalf("%d calls made, %d failed (%s), %d latencies; want %d, 0, %d", r.calls, r.errors, r.firstErr, r.lat.n, calls, calls)
			}
			if r.counts == nil {
				if r.received != calls {
					t.Errorf("the server received %d requests for %d calls without hedging", r.received, calls)
				}
				return
			}
			if started := r.counts.started.Load(); r.received < calls || r.received > calls+started {
				t.Errorf("the server received %d requests for %d calls and %d hedges started", r.received, calls, started)
			}
		})
	}
}
