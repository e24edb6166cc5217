package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// The outbox benchmarks: rebound's outbox relay (on PostgreSQL and SQLite)
// against river's job queue (on PostgreSQL) doing the same work, a webhook
// POST per message to a loopback receiver. Each sub-benchmark is one run
// of a scenario, whatever b.N: run them with -benchtime 1x. They are off
// unless REBOUND_BENCH_OUTBOX=1; see docs/BENCHMARKS.md for the command
// and the results.
//
//   - BenchmarkOutboxBurnDown: 50,000 messages (10,000 on SQLite) are
//     enqueued first, then the relay (client) starts; msgs/s is the number
//     of messages over the time from Start to the receiver's
//     acknowledgement of the last one.
//   - BenchmarkOutboxSteady: 500 business transactions a second for 2 s
//     of warm-up and 20 s measured, each inserting an order and enqueueing
//     its message; the latency of a message runs from its transaction's
//     commit to its arrival, and is split into stages (see timeline).
//   - BenchmarkOutboxDegraded: a burn-down of 10,000 messages where the
//     receiver answers 503 to the first delivery of every fifth message,
//     and every retry waits 10 ms.
//
// Every run ends with a ledger that must balance (enqueued = delivered +
// dead + pending, the store agreeing with the receiver on what was sent),
// or the benchmark fails; duplicates are counted and reported.

// Sizes of the scenarios (but see sqliteBurnDownMessages).
const (
	burnDownMessages = 50_000
	degradedMessages = 10_000
	steadyRate       = 500 // messages a second
	steadyFor        = 20 * time.Second
	steadyWarmUp     = 2 * time.Second // at the same rate, before steadyFor, not measured
	enqueueBatch     = 1_000           // messages per enqueue transaction in burn-downs
)

// drainTimeout bounds a burn-down's wait for its last message.
const drainTimeout = 4 * time.Minute

// burnResult is the outcome of a burn-down.
type burnResult struct {
	elapsed time.Duration // from Start to the last first arrival
	enqueue time.Duration // enqueueing every message, before Start
	ledger  ledger
}

func (r burnResult) rate() float64 { return float64(r.ledger.enqueued) / r.elapsed.Seconds() }

// runBurnDown enqueues n messages, starts the relay and waits until the
// receiver has acknowledged each one, then until the store has recorded
// every outcome; it fails tb unless the ledger balances.
func runBurnDown(tb testing.TB, cfg outboxConfig, n int, failFirst func(string) bool) burnResult {
	tb.Helper()
	ctx := context.Background()
	logs := &logCounter{}
	rcv := newReceiver(tb, failFirst)
	sys := newSystem(tb, cfg, rcv.srv.URL, logs)

	t0 := time.Now()
	for i := 0; i < n; i += enqueueBatch {
		ids := make([]string, 0, enqueueBatch)
		for j := i; j < min(n, i+enqueueBatch); j++ {
			ids = append(ids, messageID(j))
		}
		if err := sys.enqueueBatch(ctx, ids); err != nil {
			tb.Fatalf("%s: enqueue: %v", cfg.name, err)
		}
	}
	res := burnResult{enqueue: time.Since(t0)}
	if cfg.analyze {
		if err := sys.analyze(ctx); err != nil {
			tb.Fatalf("%s: analyze: %v", cfg.name, err)
		}
	}

	rcv.expect(n)
	start := time.Now()
	if err := sys.start(ctx); err != nil {
		tb.Fatalf("%s: start: %v", cfg.name, err)
	}
	drained := false
	select {
	case <-rcv.done:
		drained = true
		res.elapsed = rcv.doneAt.Sub(start)
	case <-time.After(drainTimeout):
		res.elapsed = time.Since(start)
	}
	c, err := settle(ctx, sys.counts, 30*time.Second)
	if err != nil {
		tb.Fatalf("%s: counting: %v", cfg.name, err)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := sys.stop(stopCtx); err != nil {
		tb.Errorf("%s: stop: %v", cfg.name, err)
	}
	if c, err = sys.counts(ctx); err != nil {
		tb.Fatalf("%s: counting: %v", cfg.name, err)
	}
	res.ledger = rcv.account(n, c)
	tb.Logf("%s: %d messages in %v (%.0f msgs/s; enqueued beforehand in %v); %v; %v%s",
		cfg.name, n, res.elapsed.Round(time.Millisecond), res.rate(), res.enqueue.Round(time.Millisecond), res.ledger, logs, breakdown(sys))
	if err := res.ledger.check(); err != nil {
		tb.Fatalf("%s: %v", cfg.name, err)
	}
	if !drained {
		tb.Fatalf("%s: not drained after %v: %d of %d delivered", cfg.name, drainTimeout, res.ledger.delivered, n)
	}
	return res
}

// breakdown is a system's own account of where its time went, if it keeps
// one.
func breakdown(sys outboxSystem) string {
	if s, ok := sys.(fmt.Stringer); ok {
		return "; " + s.String()
	}
	return ""
}

// steadyResult is the outcome of a steady run.
type steadyResult struct {
	dist, warm    distribution
	p50, p99, max time.Duration
	// early counts messages that arrived before their commit returned to
	// the producer (a negative latency: the commit's notification raced
	// its acknowledgement).
	early int
	// produced is the rate at which the transactions committed.
	produced float64
	ledger   ledger
}

// runSteady starts the relay, then runs rate business transactions a
// second for warmUp + d, each committing one message, and measures each
// message's latency from commit to arrival. The transactions of the first
// warmUp are in the ledger but not in the distribution, which is the
// steady state's: they are reported apart (a pool's backends building
// their caches, plans being made; see warmPool).
func runSteady(tb testing.TB, cfg outboxConfig, rate int, d, warmUp time.Duration) steadyResult {
	tb.Helper()
	ctx := context.Background()
	logs := &logCounter{}
	rcv := newReceiver(tb, nil)
	sys := newSystem(tb, cfg, rcv.srv.URL, logs)
	skip := int(float64(rate) * warmUp.Seconds())
	n := skip + int(float64(rate)*d.Seconds())
	rcv.expect(n)
	if err := sys.start(ctx); err != nil {
		tb.Fatalf("%s: start: %v", cfg.name, err)
	}

	commits := make([]time.Time, n)
	txns := make([]time.Duration, n) // each business transaction, begin to commit
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		time.Sleep(time.Until(t0.Add(time.Duration(i) * time.Second / time.Duration(rate))))
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			begin := time.Now()
			if err := sys.enqueueBusiness(ctx, messageID(i)); err != nil {
				errs <- err
				return
			}
			commits[i] = time.Now()
			txns[i] = commits[i].Sub(begin)
		}()
	}
	wg.Wait()
	produced := float64(n) / time.Since(t0).Seconds()
	close(errs)
	for err := range errs {
		tb.Fatalf("%s: business transaction: %v", cfg.name, err)
	}
	drained := false
	select {
	case <-rcv.done:
		drained = true
	case <-time.After(drainTimeout):
	}
	c, err := settle(ctx, sys.counts, 30*time.Second)
	if err != nil {
		tb.Fatalf("%s: counting: %v", cfg.name, err)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := sys.stop(stopCtx); err != nil {
		tb.Errorf("%s: stop: %v", cfg.name, err)
	}
	if c, err = sys.counts(ctx); err != nil {
		tb.Fatalf("%s: counting: %v", cfg.name, err)
	}
	res := steadyResult{produced: produced, ledger: rcv.account(n, c)}
	lat := make([]time.Duration, 0, n)
	var warm []time.Duration
	arrivals := make([]time.Time, n)
	rcv.mu.Lock()
	for i, at := range commits {
		if a := rcv.byID[messageID(i)]; a != nil && a.oks > 0 {
			l := a.firstOK.Sub(at)
			arrivals[i] = a.firstOK
			if i < skip {
				warm = append(warm, l)
				continue
			}
			if l < 0 {
				res.early++
			}
			lat = append(lat, l)
		}
	}
	rcv.mu.Unlock()
	res.dist = distributionOf(lat)
	res.warm = distributionOf(warm)
	res.p50, res.p99, res.max = res.dist.p50, res.dist.p99, res.dist.max
	stages := ""
	if tl, ok := sys.(interface{ timeline() *timeline }); ok {
		stages = "; where the time went:" + tl.timeline().stageReport(commits[skip:], arrivals[skip:], skip, 100*time.Millisecond)
	}
	// The business transactions themselves, which the relay does not
	// touch: when they are slow too, the database is.
	tb.Logf("%s: %d transactions at %.0f/s on %s; commit to arrival %v (%d arrived before their commit returned); "+
		"in the %v of warm-up before: %v; the business transactions, begin to commit: %v, in the warm-up %v; %v; %v%s%s",
		cfg.name, n-skip, produced, machine(), res.dist, res.early, warmUp, res.warm,
		distributionOf(txns[skip:]), distributionOf(txns[:skip]), res.ledger, logs, breakdown(sys), stages)
	if err := res.ledger.check(); err != nil {
		tb.Fatalf("%s: %v", cfg.name, err)
	}
	if !drained {
		tb.Fatalf("%s: not drained after %v: %d of %d delivered", cfg.name, drainTimeout, res.ledger.delivered, n)
	}
	return res
}

// The configurations. rebound's run at its defaults (RelayConfig with only
// Store, Sender and, where named, Workers) on a table created empty just
// before the enqueue, as after a deploy or a burst; the "analyzed" ones run
// ANALYZE after the enqueue, for a table whose statistics have caught up
// with its backlog. river's "tuned" ones fetch at most every 10 ms instead
// of 100 ms (FetchCooldown) and poll every 100 ms instead of 1 s
// (FetchPollInterval, a fallback to LISTEN/NOTIFY); river's fetch does not
// depend on the statistics (ANALYZE changed nothing measurable).
var (
	reboundPGDefault     = outboxConfig{name: "rebound-pg/w16-default", lib: libReboundPG}
	reboundPG100         = outboxConfig{name: "rebound-pg/w100", lib: libReboundPG, workers: 100}
	reboundPG500         = outboxConfig{name: "rebound-pg/w500", lib: libReboundPG, workers: 500}
	reboundPGAnalyzed    = outboxConfig{name: "rebound-pg/w16-default-analyzed", lib: libReboundPG, analyze: true}
	reboundPG100Analyzed = outboxConfig{name: "rebound-pg/w100-analyzed", lib: libReboundPG, workers: 100, analyze: true}
	reboundPG500Analyzed = outboxConfig{name: "rebound-pg/w500-analyzed", lib: libReboundPG, workers: 500, analyze: true}
	riverDefault         = outboxConfig{name: "river/w100-default", lib: libRiver, workers: 100}
	riverTuned100        = outboxConfig{name: "river/w100-tuned", lib: libRiver, workers: 100, fetchCooldown: 10 * time.Millisecond, fetchPollInterval: 100 * time.Millisecond}
	riverTuned500        = outboxConfig{name: "river/w500-tuned", lib: libRiver, workers: 500, fetchCooldown: 10 * time.Millisecond, fetchPollInterval: 100 * time.Millisecond}
	reboundSQLiteDefault = outboxConfig{name: "rebound-sqlite/w16-default", lib: libReboundSQLite}
	reboundSQLiteOneConn = outboxConfig{name: "rebound-sqlite/w16-one-conn", lib: libReboundSQLite, oneConn: true}
)

// sqliteBurnDownMessages is the SQLite burn-down's size: at 50,000 the
// default configuration delivered about 50 messages a second (12,336 in
// the 4-minute drain timeout), which would make the run take 16 minutes.
const sqliteBurnDownMessages = 10_000

// verdict states a target as met or missed.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func BenchmarkOutboxBurnDown(b *testing.B) {
	skipUnlessOutboxGate(b)
	got := map[string]float64{}
	for _, cfg := range []outboxConfig{
		reboundPGDefault, reboundPG100, reboundPG500,
		reboundPGAnalyzed, reboundPG100Analyzed, reboundPG500Analyzed,
		riverDefault, riverTuned100, riverTuned500,
		reboundSQLiteDefault, reboundSQLiteOneConn,
	} {
		b.Run(cfg.name, func(b *testing.B) {
			n := burnDownMessages
			if cfg.lib == libReboundSQLite {
				n = sqliteBurnDownMessages
			}
			res := runBurnDown(b, cfg, n, nil)
			got[cfg.name] = res.rate()
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(res.rate(), "msgs/s")
			b.ReportMetric(float64(res.ledger.dups), "dups")
		})
	}
	// The targets, as a last sub-benchmark so that its log is printed:
	// rebound at least 1.5 times river's best configuration with as many
	// workers; SQLite at least 5,000 messages a second.
	b.Run("targets", func(b *testing.B) {
		b.ReportMetric(0, "ns/op")
		ratio := func(rebound string, rivers ...string) {
			best, bestName := 0.0, ""
			for _, r := range rivers {
				if got[r] > best {
					best, bestName = got[r], r
				}
			}
			if got[rebound] == 0 || best == 0 {
				return
			}
			x := got[rebound] / best
			b.Logf("%s %.0f msgs/s ≥ 1.5 × %s %.0f msgs/s: %.2f× — %s", rebound, got[rebound], bestName, best, x, verdict(x >= 1.5))
		}
		ratio(reboundPG100.name, riverDefault.name, riverTuned100.name)
		ratio(reboundPG100Analyzed.name, riverDefault.name, riverTuned100.name)
		ratio(reboundPG500.name, riverTuned500.name)
		ratio(reboundPG500Analyzed.name, riverTuned500.name)
		for _, name := range []string{reboundSQLiteDefault.name, reboundSQLiteOneConn.name} {
			if r := got[name]; r > 0 {
				b.Logf("%s %.0f msgs/s ≥ 5,000 msgs/s — %s", name, r, verdict(r >= 5000))
			}
		}
	})
}

func BenchmarkOutboxSteady(b *testing.B) {
	skipUnlessOutboxGate(b)
	for _, cfg := range []outboxConfig{reboundPGDefault, riverDefault, riverTuned100, reboundSQLiteDefault} {
		b.Run(cfg.name, func(b *testing.B) {
			res := runSteady(b, cfg, steadyRate, steadyFor, steadyWarmUp)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ms(res.p50), "p50_ms")
			b.ReportMetric(ms(res.p99), "p99_ms")
			b.ReportMetric(ms(res.max), "max_ms")
			b.ReportMetric(float64(res.ledger.dups), "dups")
			if cfg == reboundPGDefault {
				b.Logf("target: %s p99 commit to arrival %.1f ms ≤ 50 ms — %s", cfg.name, ms(res.p99), verdict(res.p99 <= 50*time.Millisecond))
			}
		})
	}
}

// BenchmarkOutboxSteadyLight: the steady scenario at a tenth of the rate,
// 50 business transactions a second for 10 s, where the relay is idle
// most of the time and what it takes to notice a commit is the latency.
func BenchmarkOutboxSteadyLight(b *testing.B) {
	skipUnlessOutboxGate(b)
	for _, cfg := range []outboxConfig{reboundPGDefault, reboundSQLiteDefault} {
		b.Run(cfg.name, func(b *testing.B) {
			res := runSteady(b, cfg, steadyRate/10, steadyFor/2, steadyWarmUp)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ms(res.p50), "p50_ms")
			b.ReportMetric(ms(res.p99), "p99_ms")
			b.ReportMetric(ms(res.max), "max_ms")
			b.ReportMetric(float64(res.ledger.dups), "dups")
		})
	}
}

func BenchmarkOutboxDegraded(b *testing.B) {
	skipUnlessOutboxGate(b)
	for _, cfg := range []outboxConfig{reboundPGDefault, reboundPG100, riverDefault, riverTuned100, reboundSQLiteDefault} {
		cfg.retryWait = 10 * time.Millisecond
		b.Run(cfg.name, func(b *testing.B) {
			res := runBurnDown(b, cfg, degradedMessages, failEveryFifth)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(res.elapsed.Seconds(), "drain_s")
			b.ReportMetric(res.rate(), "msgs/s")
			b.ReportMetric(float64(res.ledger.requests), "attempts")
			b.ReportMetric(float64(res.ledger.dups), "dups")
		})
	}
}

// TestOutboxHarness runs every library through each scenario at a tiny
// size, so that the harness cannot rot while the benchmarks are off; the
// PostgreSQL ones only where REBOUND_TEST_POSTGRES is set.
func TestOutboxHarness(t *testing.T) {
	for _, cfg := range []outboxConfig{reboundPGDefault, riverTuned100, reboundSQLiteDefault} {
		t.Run(cfg.name, func(t *testing.T) {
			t.Run("burn-down", func(t *testing.T) {
				runBurnDown(t, cfg, 200, nil)
			})
			t.Run("degraded", func(t *testing.T) {
				cfg := cfg
				cfg.retryWait = 10 * time.Millisecond
				res := runBurnDown(t, cfg, 100, failEveryFifth)
				if want := 100 + 20; res.ledger.requests < want {
					t.Errorf("%d requests, want at least %d (every fifth message fails once)", res.ledger.requests, want)
				}
			})
			t.Run("steady", func(t *testing.T) {
				runSteady(t, cfg, 100, 500*time.Millisecond, 200*time.Millisecond)
			})
		})
	}
}

// TestOutboxLedger checks the ledger's arithmetic on a hand-made run.
func TestOutboxLedger(t *testing.T) {
	r := &receiver{byID: map[string]*arrival{
		messageID(0): {requests: 2, oks: 1},
		messageID(1): {requests: 1, oks: 3},
		messageID(2): {requests: 1},
		"stranger":   {requests: 1, oks: 1},
	}, requests: 7}
	l := r.account(4, storeCounts{sent: 2, dead: 1, pending: 1, attempts: 5})
	want := ledger{enqueued: 4, delivered: 2, dead: 1, pending: 1, dups: 2, requests: 7, unknown: 1, storeSent: 2, attempts: 5}
	if l != want {
		t.Fatalf("account = %+v, want %+v", l, want)
	}
	if err := l.check(); err == nil {
		t.Fatal("a ledger with an unknown ID balances")
	}
	l.unknown = 0
	if err := l.check(); err != nil {
		t.Fatal(err)
	}
	l.pending = 0
	if err := l.check(); err == nil {
		t.Fatal("a ledger with a lost message balances")
	}
	if got := fmt.Sprint(percentile([]time.Duration{1, 2, 3, 4}, 0.5), percentile([]time.Duration{1, 2, 3, 4}, 0.99)); got != "2ns 4ns" {
		t.Fatalf("percentiles = %s, want 2ns 4ns", got)
	}
}
