package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The broker benchmarks: rebound's outbox relay publishing from PostgreSQL
// to a message broker, next to Watermill's forwarder (components/forwarder)
// moving the same messages from PostgreSQL (watermill-sql) to the same
// broker, in one process and one run. Each sub-benchmark is one run of a
// scenario, whatever b.N: run them with -benchtime 1x. They are off unless
// REBOUND_BENCH_BROKER=1, and each broker needs its variable:
// REBOUND_TEST_NATS (a NATS server with JetStream) and REBOUND_TEST_AMQP
// (RabbitMQ), besides REBOUND_TEST_POSTGRES.
//
//   - BenchmarkBrokerBurnDown: 50,000 messages (REBOUND_BENCH_BROKER_N) are
//     written to the outbox first (rebound: postgres.Enqueue; Watermill:
//     the forwarder's publisher over the SQL publisher, in transactions of
//     1,000), then the relay (forwarder) starts; msgs/s is the number of
//     messages over the time from the start until the broker holds them
//     all (the JetStream stream's message count; the RabbitMQ queue's, by
//     a passive declare), polled every 5 ms. cpu-µs/msg is the process's
//     CPU time (getrusage: user + system) over that same interval, divided
//     by the messages: the relay's or the forwarder's work, its database
//     driver's and its broker client's, but not that of the PostgreSQL or
//     broker servers.
//   - BenchmarkBrokerSteady: 1,000 business transactions a second for
//     20 s, after a second of warm-up, each inserting an order and writing
//     its message; the latency of a message runs from its transaction's
//     commit (as the producer sees it return) to its arrival at a consumer
//     of the stream (queue) in the same process. Watermill runs twice:
//     at its defaults, and with its SQL subscriber polling every 10 ms.
//
// Every run has its own PostgreSQL schema, stream or queue, all removed
// afterwards. After each run the stream (queue) is read back in full: a
// message missing fails the run; duplicates are counted and reported.

// brokerGate is the variable that enables the broker benchmarks.
const brokerGate = "REBOUND_BENCH_BROKER"

// Sizes of the scenarios.
const (
	brokerBurnDownMessages = 50_000
	brokerSteadyRate       = 1_000 // messages a second
	brokerSteadyFor        = 20 * time.Second
	brokerDrainTimeout     = 6 * time.Minute
)

// brokerMessages is the burn-down's size: REBOUND_BENCH_BROKER_N, or
// 50,000.
func brokerMessages(tb testing.TB) int {
	if s := os.Getenv("REBOUND_BENCH_BROKER_N"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			tb.Fatalf("REBOUND_BENCH_BROKER_N=%q: want a positive number of messages", s)
		}
		return n
	}
	return brokerBurnDownMessages
}

func skipUnlessBrokerGate(b *testing.B) {
	b.Helper()
	if os.Getenv(brokerGate) != "1" {
		b.Skip(brokerGate + " is not 1: the broker benchmarks run for minutes and are off by default; run them, without -race, with " +
			brokerGate + "=1 REBOUND_TEST_POSTGRES=… REBOUND_TEST_NATS=… REBOUND_TEST_AMQP=… go test -run '^$' -bench Broker -benchtime 1x -timeout 30m")
	}
}

// The brokers and the libraries.
const (
	brokerNATS = "nats"
	brokerAMQP = "amqp"

	libRebound   = "rebound"
	libWatermill = "watermill"
)

// brokerURL returns the broker's URL from its variable, or skips tb.
func brokerURL(tb testing.TB, broker string) string {
	tb.Helper()
	env := map[string]string{brokerNATS: "REBOUND_TEST_NATS", brokerAMQP: "REBOUND_TEST_AMQP"}[broker]
	u := os.Getenv(env)
	if u == "" {
		tb.Skip(env + " is not set: set it to the broker's URL (nats://127.0.0.1:4222 for a NATS server with JetStream, " +
			"amqp://guest:guest@127.0.0.1:5672/ for RabbitMQ) to measure publishing to " + broker)
	}
	return u
}

// brokerSink is a run's own stream (queue) on a broker.
type brokerSink interface {
	// target is what the relay or forwarder publishes to: the subject
	// (NATS) or the queue, through the default exchange (AMQP).
	target() string
	// count is the number of messages the broker holds.
	count(ctx context.Context) (int, error)
	// consume calls arrived, from one goroutine, with the order ID of
	// every message the broker delivers, until stop is called.
	consume(ctx context.Context, arrived func(id string, at time.Time)) (stop func(), err error)
}

// brokerSystem is one library's outbox relay to a sink, fresh and empty.
type brokerSystem interface {
	// enqueueBatch writes one message per ID in one transaction.
	enqueueBatch(ctx context.Context, ids []string) error
	// enqueueBusiness inserts an order and writes one message announcing
	// it, in one transaction, and commits.
	enqueueBusiness(ctx context.Context, id string) error
	start(ctx context.Context) error
	stop(ctx context.Context) error
}

// brokerCase is one sub-benchmark: a library publishing to a broker.
type brokerCase struct {
	broker, lib string
	// poll, for Watermill, replaces the SQL subscriber's PollInterval
	// (default 1 s): its wait after a query that found nothing.
	poll time.Duration
}

func (c brokerCase) name() string {
	if c.poll > 0 {
		return c.broker + "/" + c.lib + "-poll" + c.poll.String()
	}
	return c.broker + "/" + c.lib
}

var brokerCases = []brokerCase{
	{broker: brokerNATS, lib: libRebound}, {broker: brokerNATS, lib: libWatermill},
	{broker: brokerAMQP, lib: libRebound}, {broker: brokerAMQP, lib: libWatermill},
}

// brokerSteadyCases adds, to the steady scenario, Watermill with its SQL
// subscriber polling every 10 ms instead of every second: at the default,
// a forwarder that has caught up sleeps a second before it looks again.
var brokerSteadyCases = append(slices.Clone(brokerCases),
	brokerCase{broker: brokerNATS, lib: libWatermill, poll: 10 * time.Millisecond},
	brokerCase{broker: brokerAMQP, lib: libWatermill, poll: 10 * time.Millisecond},
)

// newBrokerRun makes the sink and the system of c.
func newBrokerRun(tb testing.TB, c brokerCase, logs *logCounter) (brokerSink, brokerSystem) {
	tb.Helper()
	url := brokerURL(tb, c.broker)
	dbURL := postgresURL(tb)
	if c.broker == brokerAMQP && c.lib == libRebound && newReboundAMQPSender == nil {
		tb.Skip("rebound's RabbitMQ sender (outbox/amqpsender) is not part of this tree yet")
	}
	var sink brokerSink
	switch c.broker {
	case brokerNATS:
		sink = newNATSSink(tb, url)
	case brokerAMQP:
		sink = newAMQPSink(tb, url)
	}
	switch c.lib {
	case libRebound:
		return sink, newReboundBroker(tb, dbURL, c.broker, url, sink, logs)
	case libWatermill:
		return sink, newWatermillBroker(tb, dbURL, c.broker, url, sink, c.poll, logs)
	}
	tb.Fatalf("unknown library %q", c.lib)
	return nil, nil
}

// runSuffix is 12 random hex digits naming a run's stream, queue or topic.
func runSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// idFromPayload returns the order ID in a payload made by payload, or "".
func idFromPayload(p []byte) string {
	const key = `"order":"`
	for i := 0; i+len(key)+8 <= len(p); i++ {
		if string(p[i:i+len(key)]) == key {
			return string(p[i+len(key) : i+len(key)+8])
		}
	}
	return ""
}

// tally is what a consumer read back from a sink: the first arrival of
// each ID, duplicates and strangers.
type tally struct {
	mu      sync.Mutex
	first   map[string]time.Time
	dups    int
	unknown int
	n       int // IDs expected: messageID(0) … messageID(n-1)
	done    chan struct{}
}

func newTally(n int) *tally {
	return &tally{first: make(map[string]time.Time, n), n: n, done: make(chan struct{})}
}

func (t *tally) arrived(id string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i := messageIndex(id); i < 0 || i >= t.n {
		t.unknown++
		return
	}
	if _, ok := t.first[id]; ok {
		t.dups++
		return
	}
	t.first[id] = at
	if len(t.first) == t.n {
		close(t.done)
	}
}

func (t *tally) distinct() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.first)
}

// check fails unless every message arrived and nothing unknown did.
func (t *tally) check() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.first) != t.n || t.unknown > 0 {
		return fmt.Errorf("read back %d of %d messages (%d lost), %d unknown, %d duplicates",
			len(t.first), t.n, t.n-len(t.first), t.unknown, t.dups)
	}
	return nil
}

// readBack consumes the sink until every ID of n has arrived, then
// lingers a moment for duplicates.
func readBack(ctx context.Context, sink brokerSink, n int) (*tally, error) {
	t := newTally(n)
	stop, err := sink.consume(ctx, t.arrived)
	if err != nil {
		return nil, err
	}
	select {
	case <-t.done:
		time.Sleep(300 * time.Millisecond) // duplicates come after the last first
	case <-time.After(time.Minute):
	}
	stop()
	return t, nil
}

// brokerBurnResult is the outcome of a burn-down.
type brokerBurnResult struct {
	n       int
	elapsed time.Duration // from the start until the broker held n
	enqueue time.Duration // the prefill, before the start
	cpu     time.Duration // process CPU time over elapsed
	back    *tally
}

func (r brokerBurnResult) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r brokerBurnResult) cpuPerMsg() float64 {
	return float64(r.cpu) / float64(time.Microsecond) / float64(r.n)
}

// runBrokerBurnDown writes n messages, starts the relay (forwarder) and
// waits until the broker holds n; it then stops it and reads the stream
// (queue) back, failing tb unless every message is there.
func runBrokerBurnDown(tb testing.TB, c brokerCase, n int) brokerBurnResult {
	tb.Helper()
	ctx := context.Background()
	logs := &logCounter{}
	sink, sys := newBrokerRun(tb, c, logs)

	t0 := time.Now()
	for i := 0; i < n; i += enqueueBatch {
		ids := make([]string, 0, enqueueBatch)
		for j := i; j < min(n, i+enqueueBatch); j++ {
			ids = append(ids, messageID(j))
		}
		if err := sys.enqueueBatch(ctx, ids); err != nil {
			tb.Fatalf("%s: enqueue: %v", c.name(), err)
		}
	}
	res := brokerBurnResult{n: n, enqueue: time.Since(t0)}

	cpu0 := processCPU()
	start := time.Now()
	if err := sys.start(ctx); err != nil {
		tb.Fatalf("%s: start: %v", c.name(), err)
	}
	held, drained := 0, false
	deadline := start.Add(brokerDrainTimeout)
	for time.Now().Before(deadline) {
		var err error
		if held, err = sink.count(ctx); err != nil {
			tb.Fatalf("%s: counting the broker's messages: %v", c.name(), err)
		}
		if held >= n {
			drained = true
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	res.elapsed = time.Since(start)
	res.cpu = processCPU() - cpu0

	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := sys.stop(stopCtx); err != nil {
		tb.Errorf("%s: stop: %v", c.name(), err)
	}
	if !drained {
		tb.Fatalf("%s: the broker held %d of %d messages after %v; %v", c.name(), held, n, brokerDrainTimeout, logs)
	}
	back, err := readBack(ctx, sink, n)
	if err != nil {
		tb.Fatalf("%s: reading back: %v", c.name(), err)
	}
	res.back = back
	tb.Logf("%s: %d messages in %v (%.0f msgs/s, %.1f µs of process CPU a message; written beforehand in %v); read back %d, %d duplicates; %v%s",
		c.name(), n, res.elapsed.Round(time.Millisecond), res.rate(), res.cpuPerMsg(), res.enqueue.Round(time.Millisecond),
		back.distinct(), back.dups, logs, breakdownOf(sys))
	if err := back.check(); err != nil {
		tb.Fatalf("%s: %v", c.name(), err)
	}
	return res
}

// breakdownOf is a system's own account of where its time went, if any.
func breakdownOf(sys brokerSystem) string {
	if s, ok := sys.(fmt.Stringer); ok {
		return "; " + s.String()
	}
	return ""
}

// brokerSteadyResult is the outcome of a steady run.
type brokerSteadyResult struct {
	p50, p99, max time.Duration
	produced      float64 // transactions committed a second
	dups          int
}

// runBrokerSteady starts the relay (forwarder) and a consumer of the sink,
// then runs rate business transactions a second for d, and measures each
// message's latency from its commit to its arrival at the consumer.
func runBrokerSteady(tb testing.TB, c brokerCase, rate int, d, warmUp time.Duration) brokerSteadyResult {
	tb.Helper()
	ctx := context.Background()
	logs := &logCounter{}
	sink, sys := newBrokerRun(tb, c, logs)
	n := int(float64(rate) * d.Seconds())
	back := newTally(n)
	stopConsumer, err := sink.consume(ctx, back.arrived)
	if err != nil {
		tb.Fatalf("%s: consumer: %v", c.name(), err)
	}
	defer stopConsumer()
	if err := sys.start(ctx); err != nil {
		tb.Fatalf("%s: start: %v", c.name(), err)
	}
	time.Sleep(warmUp)

	commits := make([]time.Time, n)
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
			if err := sys.enqueueBusiness(ctx, messageID(i)); err != nil {
				errs <- err
				return
			}
			commits[i] = time.Now()
		}()
	}
	wg.Wait()
	produced := float64(n) / time.Since(t0).Seconds()
	close(errs)
	for err := range errs {
		tb.Fatalf("%s: business transaction: %v", c.name(), err)
	}
	select {
	case <-back.done:
		time.Sleep(300 * time.Millisecond)
	case <-time.After(brokerDrainTimeout):
	}
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := sys.stop(stopCtx); err != nil {
		tb.Errorf("%s: stop: %v", c.name(), err)
	}
	stopConsumer()

	res := brokerSteadyResult{produced: produced}
	lat := make([]time.Duration, 0, n)
	early := 0
	back.mu.Lock()
	for i, at := range commits {
		if a, ok := back.first[messageID(i)]; ok {
			l := a.Sub(at)
			if l < 0 {
				early++
			}
			lat = append(lat, l)
		}
	}
	res.dups = back.dups
	back.mu.Unlock()
	dist := distributionOf(lat)
	res.p50, res.p99, res.max = dist.p50, dist.p99, dist.max
	tb.Logf("%s: %d transactions at %.0f/s on %s; commit to consumer %v (%d arrived before their commit returned); %d arrived, %d duplicates; %v%s",
		c.name(), n, produced, machine(), dist, early, back.distinct(), back.dups, logs, breakdownOf(sys))
	if err := back.check(); err != nil {
		tb.Fatalf("%s: %v", c.name(), err)
	}
	return res
}

func BenchmarkBrokerBurnDown(b *testing.B) {
	skipUnlessBrokerGate(b)
	n := brokerMessages(b)
	got := map[string]brokerBurnResult{}
	for _, c := range brokerCases {
		b.Run(c.name(), func(b *testing.B) {
			res := runBrokerBurnDown(b, c, n)
			got[c.name()] = res
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(res.rate(), "msgs/s")
			b.ReportMetric(res.cpuPerMsg(), "cpu-µs/msg")
			b.ReportMetric(float64(res.back.dups), "dups")
		})
	}
	// The target, as a last sub-benchmark so that its log is printed:
	// rebound at least 3 times Watermill's forwarder on each broker.
	b.Run("targets", func(b *testing.B) {
		b.ReportMetric(0, "ns/op")
		for _, broker := range []string{brokerNATS, brokerAMQP} {
			r, okR := got[broker+"/"+libRebound]
			w, okW := got[broker+"/"+libWatermill]
			if !okR || !okW || w.rate() == 0 {
				continue
			}
			x := r.rate() / w.rate()
			b.Logf("%s: rebound %.0f msgs/s ≥ 3 × watermill %.0f msgs/s: %.2f× — %s; CPU %.1f vs %.1f µs a message",
				broker, r.rate(), w.rate(), x, verdict(x >= 3), r.cpuPerMsg(), w.cpuPerMsg())
		}
	})
}

func BenchmarkBrokerSteady(b *testing.B) {
	skipUnlessBrokerGate(b)
	for _, c := range brokerSteadyCases {
		b.Run(c.name(), func(b *testing.B) {
			res := runBrokerSteady(b, c, brokerSteadyRate, brokerSteadyFor, time.Second)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ms(res.p50), "p50_ms")
			b.ReportMetric(ms(res.p99), "p99_ms")
			b.ReportMetric(ms(res.max), "max_ms")
			b.ReportMetric(float64(res.dups), "dups")
		})
	}
}

// TestBrokerHarness runs every library to every broker through both
// scenarios at a tiny size, so that the harness cannot rot while the
// benchmarks are off; each broker only where its variable (and
// REBOUND_TEST_POSTGRES) is set.
func TestBrokerHarness(t *testing.T) {
	for _, c := range brokerSteadyCases {
		t.Run(c.name(), func(t *testing.T) {
			t.Run("burn-down", func(t *testing.T) {
				runBrokerBurnDown(t, c, 300)
			})
			t.Run("steady", func(t *testing.T) {
				runBrokerSteady(t, c, 200, 500*time.Millisecond, 200*time.Millisecond)
			})
		})
	}
}

func TestIDFromPayload(t *testing.T) {
	if got := idFromPayload(payload(messageID(42))); got != messageID(42) {
		t.Fatalf("idFromPayload = %q, want %q", got, messageID(42))
	}
	if got := idFromPayload([]byte(`{"order":"m00`)); got != "" {
		t.Fatalf("idFromPayload of a short payload = %q, want \"\"", got)
	}
}
