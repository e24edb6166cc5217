package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rebound-go/rebound/internal/pgtest"
	"github.com/rebound-go/rebound/outbox/postgres"
)

// The daemon benchmark: rebound as its users run it. The rebound binary,
// built from cmd/rebound, runs as `rebound relay --config FILE` in a
// process of its own on a fresh PostgreSQL schema, at its defaults,
// delivering to a loopback receiver (the steady scenario's, answering
// 204); vegeta (as a library) POSTs /v1/messages at a fixed rate. Each
// message's enqueue latency (request to 202) and its arrival at the
// receiver are recorded together. The daemon commits a message before it
// answers 202, so its commit → arrival latency lies between 202 →
// arrival (a lower bound) and request → arrival (an upper bound); both
// are reported. The first 2 s of traffic are a warm-up, in the ledger but
// not in the distributions.

// daemonGate enables BenchmarkDaemon: it builds the binary and runs for
// tens of seconds per rate.
const daemonGate = "REBOUND_BENCH_DAEMON"

// daemonRun is what one rate measured.
type daemonRun struct {
	rate                  int
	requests, accepted    int
	errors                map[string]int // by status code or error text
	enqueue, ackToArrival distribution
	sentToArrival         distribution
	warmEnqueue, warmAtoA distribution
	achieved              float64
	ledger                ledger
	daemonLog             string // the daemon's warnings and errors, first few
	daemonLogLines        int
	cpu                   string // where the CPU went after the warm-up
	series                string // request → arrival p99 by second of the run, in ms
}

// buildRebound builds the rebound command into a temporary directory.
func buildRebound(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "rebound")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/rebound-go/rebound/cmd/rebound")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building rebound: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address nobody listens on, for --listen.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startDaemon runs `rebound relay` on dsn delivering the destination
// "orders" to url, waits until it is ready, and returns its address and a
// function that stops it (SIGTERM) and returns its warnings and errors.
func startDaemon(tb testing.TB, bin, dsn, url string) (addr, pprofAddr string, pid int, stop func() (log string, lines int)) {
	tb.Helper()
	addr = freeAddr(tb)
	pprofAddr = freeAddr(tb)
	cfg := filepath.Join(tb.TempDir(), "rebound.yaml")
	yaml := fmt.Sprintf("db: %q\nlisten: %s\npprof: %s\nlog: {format: json, level: warn}\nallow_addresses: [127.0.0.0/8]\ndestinations:\n  %s:\n    url: %s\n",
		dsn, addr, pprofAddr, destination, url)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "relay", "--config", cfg)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop = func() (string, int) {
		if !stopped {
			stopped = true
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
				tb.Errorf("rebound relay did not stop within 30 s of SIGTERM")
			}
		}
		var first []string
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(logs.Bytes()))
		for sc.Scan() {
			n++
			if len(first) < 3 {
				first = append(first, sc.Text())
			}
		}
		return strings.Join(first, " | "), n
	}
	tb.Cleanup(func() { stop() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, pprofAddr, cmd.Process.Pid, stop
			}
		}
		select {
		case err := <-exited:
			tb.Fatalf("rebound relay exited before it was ready: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("rebound relay not ready after 30 s\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runDaemon measures one rate: warmUp and then d of POSTs at rate a
// second against a fresh daemon, then waits for every acknowledged
// message to arrive.
func runDaemon(tb testing.TB, bin, pgURL string, rate int, d, warmUp time.Duration) daemonRun {
	tb.Helper()
	ctx := context.Background()
	schema, dsn := pgtest.Schema(tb, pgURL, "dbench_")
	rcv := newReceiver(tb, nil)
	addr, pprofAddr, pid, stop := startDaemon(tb, bin, dsn, rcv.srv.URL)
	if f := os.Getenv("REBOUND_BENCH_DAEMON_PROFILE"); f != "" {
		// A CPU profile of the daemon over 10 s after the warm-up.
		profiled := make(chan struct{})
		defer func() { <-profiled }()
		go func() {
			defer close(profiled)
			time.Sleep(warmUp + time.Second)
			resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=10", pprofAddr))
			if err != nil {
				tb.Errorf("profiling the daemon: %v", err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if err := os.WriteFile(f, b, 0o644); err != nil {
				tb.Errorf("profiling the daemon: %v", err)
			}
		}()
	}

	skip := int(float64(rate) * warmUp.Seconds())
	n := skip + int(float64(rate)*d.Seconds())
	var mu sync.Mutex
	next := 0
	targeter := func(t *vegeta.Target) error {
		mu.Lock()
		i := next
		next++
		mu.Unlock()
		id := messageID(i)
		t.Method = http.MethodPost
		t.URL = "http://" + addr + "/v1/messages"
		t.Header = http.Header{"Content-Type": {"application/json"}}
		t.Body = []byte(`{"id":"` + id + `","destination":"` + destination + `","payload":` + string(payload(id)) + `}`)
		return nil
	}
	attacker := vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Connections(256), vegeta.MaxWorkers(256), vegeta.Timeout(10*time.Second))
	run := daemonRun{rate: rate, requests: n, errors: map[string]int{}}
	type ack struct {
		start, end time.Time
		latency    time.Duration
	}
	acks := make(map[string]ack, n)
	t0 := time.Now()
	var cpu0 cpuSample
	var last time.Time
	for res := range attacker.Attack(targeter, vegeta.Rate{Freq: rate, Per: time.Second}, warmUp+d, "daemon") {
		if cpu0.at.IsZero() && res.Timestamp.Sub(t0) >= warmUp {
			cpu0 = sampleCPU(pid)
		}
		end := res.End()
		if end.After(last) {
			last = end
		}
		if res.Code != http.StatusAccepted {
			key := fmt.Sprintf("%d", res.Code)
			if res.Error != "" {
				key += " " + res.Error
			}
			run.errors[key]++
			continue
		}
		_, rest, ok := bytes.Cut(res.Body, []byte(`"id":"`))
		id, _, ok2 := bytes.Cut(rest, []byte(`"`))
		if !ok || !ok2 {
			run.errors["202 without an id"]++
			continue
		}
		acks[string(id)] = ack{start: res.Timestamp, end: end, latency: res.Latency}
	}
	run.cpu = cpuUse(cpu0, sampleCPU(pid))
	mu.Lock()
	run.requests = next // vegeta's last tick may fall after the duration
	mu.Unlock()
	run.accepted = len(acks)
	run.achieved = float64(run.accepted) / last.Sub(t0).Seconds()

	// Every acknowledged message must arrive; wait for them (bounded).
	deadline := time.Now().Add(drainTimeout)
	for {
		rcv.mu.Lock()
		got := rcv.unique
		rcv.mu.Unlock()
		if got >= run.accepted || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	counts := func(ctx context.Context) (storeCounts, error) {
		var c storeCounts
		err := conn.QueryRow(ctx, strings.ReplaceAll(reboundCountsSQL, postgres.Table, schema+"."+postgres.Table)).Scan(&c.sent, &c.dead, &c.pending, &c.attempts)
		return c, err
	}
	c, err := settle(ctx, counts, 30*time.Second)
	if err != nil {
		tb.Fatalf("counting: %v", err)
	}
	run.daemonLog, run.daemonLogLines = stop()
	// Every request's message is in the ledger: a refused one shows as
	// lost, beside the errors.
	run.ledger = rcv.account(run.requests, c)

	var enq, warmEnq, a2a, warmA2A, s2a []time.Duration
	perSecond := map[int][]time.Duration{} // request → arrival by the second the request started in
	rcv.mu.Lock()
	for id, a := range acks {
		arr := rcv.byID[id]
		warm := messageIndex(id) < skip
		if warm {
			warmEnq = append(warmEnq, a.latency)
		} else {
			enq = append(enq, a.latency)
		}
		if arr == nil || arr.oks == 0 {
			continue
		}
		if warm {
			warmA2A = append(warmA2A, arr.firstOK.Sub(a.end))
			continue
		}
		a2a = append(a2a, arr.firstOK.Sub(a.end))
		s2a = append(s2a, arr.firstOK.Sub(a.start))
		sec := int(a.start.Sub(t0).Seconds())
		perSecond[sec] = append(perSecond[sec], arr.firstOK.Sub(a.start))
	}
	rcv.mu.Unlock()
	run.enqueue, run.ackToArrival, run.sentToArrival = distributionOf(enq), distributionOf(a2a), distributionOf(s2a)
	run.warmEnqueue, run.warmAtoA = distributionOf(warmEnq), distributionOf(warmA2A)
	var series strings.Builder
	for sec := range int((warmUp + d).Seconds()) + 1 {
		if ds := perSecond[sec]; len(ds) > 0 {
			fmt.Fprintf(&series, " %.0f", ms(percentile(sortedDurations(ds), .99)))
		}
	}
	run.series = series.String()
	return run
}

func (r daemonRun) String() string {
	errs := "0 errors"
	if len(r.errors) > 0 {
		errs = fmt.Sprintf("errors %v", r.errors)
	}
	logs := "nothing logged at warn or above"
	if r.daemonLogLines > 0 {
		logs = fmt.Sprintf("%d log lines at warn or above, first: %s", r.daemonLogLines, r.daemonLog)
	}
	return fmt.Sprintf("%d/s on %s: %d requests, %d accepted (%.0f/s), %s\n"+
		"\tenqueue (request → 202)      %v\n"+
		"\tcommit → arrival, at least (202 → arrival)      %v\n"+
		"\tcommit → arrival, at most (request → arrival)   %v\n"+
		"\twarm-up: enqueue %v; 202 → arrival %v\n\trequest → arrival p99 by second of the run (ms):%s\n\t%s\n\t%v; %s",
		r.rate, machine(), r.requests, r.accepted, r.achieved, errs,
		r.enqueue, r.ackToArrival, r.sentToArrival, r.warmEnqueue, r.warmAtoA, r.series, r.cpu, r.ledger, logs)
}

// BenchmarkDaemon runs the daemon end to end at 1,000 and 2,000 enqueues
// a second, 20 s each after 2 s of warm-up; one run whatever b.N is. The
// targets, at 2,000/s: enqueue p99 ≤ 20 ms, commit → arrival p99 ≤ 50 ms
// (checked on its upper bound).
func BenchmarkDaemon(b *testing.B) {
	if os.Getenv(daemonGate) != "1" {
		b.Skip(daemonGate + " is not 1: the daemon benchmark builds rebound and runs it for a minute; " +
			daemonGate + "=1 go test -run '^$' -bench Daemon -benchtime 1x -timeout 20m")
	}
	pg := pgtest.URL(b, "run the daemon benchmark")
	bin := buildRebound(b)
	for _, rate := range []int{1000, 2000} {
		b.Run(fmt.Sprintf("%d-per-s", rate), func(b *testing.B) {
			r := runDaemon(b, bin, pg, rate, steadyFor, steadyWarmUp)
			b.Logf("%v", r)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ms(r.enqueue.p99), "enqueue_p99_ms")
			b.ReportMetric(ms(r.sentToArrival.p99), "arrival_p99_ms")
			if err := r.ledger.check(); err != nil {
				b.Fatal(err)
			}
			if len(r.errors) > 0 {
				b.Errorf("%d requests failed: %v", r.requests-r.accepted, r.errors)
			}
			if rate == 2000 {
				b.Logf("targets: enqueue p99 %.1f ms ≤ 20 ms — %s; commit → arrival p99 ≤ %.1f ms ≤ 50 ms — %s",
					ms(r.enqueue.p99), verdict(r.enqueue.p99 <= 20*time.Millisecond),
					ms(r.sentToArrival.p99), verdict(r.sentToArrival.p99 <= 50*time.Millisecond))
			}
		})
	}
}

// TestDaemonHarness runs the daemon benchmark's code for a moment at a low
// rate, so that it cannot rot while the benchmark is off.
func TestDaemonHarness(t *testing.T) {
	pg := pgtest.URL(t, "run the daemon benchmark's harness")
	if testing.Short() {
		t.Skip("builds the rebound binary")
	}
	r := runDaemon(t, buildRebound(t), pg, 100, 500*time.Millisecond, 200*time.Millisecond)
	if err := r.ledger.check(); err != nil {
		t.Fatal(err)
	}
	if r.accepted != r.requests || len(r.errors) > 0 {
		t.Fatalf("%d of %d accepted: %v", r.accepted, r.requests, r.errors)
	}
	if r.enqueue.n+r.warmEnqueue.n != r.accepted || r.sentToArrival.n == 0 {
		t.Fatalf("latencies of %d+%d messages recorded, %d accepted", r.enqueue.n, r.warmEnqueue.n, r.accepted)
	}
}
