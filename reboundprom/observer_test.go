package reboundprom_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/internal/promtest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundprom"
)

var errReset = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

func newObserver(t *testing.T, cfg reboundprom.Config) (*reboundprom.Observer, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	o, err := reboundprom.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o, reg
}

func TestMetricsFollowCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o, reg := newObserver(t, reboundprom.Config{})
		p := rebound.Policy{Endpoint: "api/v1/user", Observer: o, Backoff: rebound.Constant(time.Second)}
		ctx := t.Context()
		// A call that succeeds after two retries.
		n := 0
		_ = rebound.Run(ctx, p, func(context.Context) error {
			n++
			time.Sleep(100 * time.Millisecond)
			if n < 3 {
				return errReset
			}
			return nil
		})
		// A call that gives up after three attempts.
		_ = rebound.Run(ctx, p, func(context.Context) error { return errReset })
		// A logic failure.
		_ = rebound.Run(ctx, p, func(context.Context) error { return rebound.Permanent(errors.New("invalid")) })

		ep := map[string]string{"endpoint": "api/v1/user"}
		with := func(k, v string) map[string]string {
			m := map[string]string{"endpoint": "api/v1/user", k: v}
			return m
		}
		promtest.Expect(t, reg, "http_request_retries_total", with("status", "succeeded"), 2)
		promtest.Expect(t, reg, "http_request_retries_total", with("status", "failed"), 2)
		promtest.Expect(t, reg, "rebound_calls_total", with("result", "success"), 1)
		promtest.Expect(t, reg, "rebound_calls_total", with("result", "gave_up"), 1)
		promtest.Expect(t, reg, "rebound_calls_total", with("result", "failure"), 1)
		promtest.Expect(t, reg, "rebound_calls_total", with("result", "rejected"), 0)
		promtest.Expect(t, reg, "rebound_attempts_total", with("class", "connection"), 5)
		promtest.Expect(t, reg, "rebound_attempts_total", with("class", "logic"), 1)
		promtest.Expect(t, reg, "rebound_attempts_total", with("class", "none"), 1)
		promtest.Expect(t, reg, "rebound_attempt_duration_seconds", ep, 7)
		promtest.Expect(t, reg, "rebound_retry_wait_seconds", ep, 4)
		promtest.Expect(t, reg, "rebound_call_duration_seconds", with("result", "success"), 1)
		// The gave-up call and the logic failure follow each other.
		promtest.Expect(t, reg, "rebound_consecutive_failures", ep, 2)
		_ = rebound.Run(ctx, p, func(context.Context) error { return nil })
		promtest.Expect(t, reg, "rebound_consecutive_failures", ep, 0)
	})
}

func TestNewEndpointSeriesStartAtZero(t *testing.T) {
	o, reg := newObserver(t, reboundprom.Config{})
	_ = rebound.Run(context.Background(), rebound.Policy{Endpoint: "orders", Observer: o}, func(context.Context) error { return nil })
	for _, r := range []string{"success", "failure", "gave_up", "rejected"} {
		if _, ok := promtest.Value(t, reg, "rebound_calls_total", map[string]string{"endpoint": "orders", "result": r}); !ok {
			t.Errorf("rebound_calls_total{result=%q} not initialised", r)
		}
	}
	for _, s := range []string{"succeeded", "failed"} {
		promtest.Expect(t, reg, "http_request_retries_total", map[string]string{"endpoint": "orders", "status": s}, 0)
	}
}

func TestEndpointCardinalityIsBounded(t *testing.T) {
	var logs bytes.Buffer
	o, reg := newObserver(t, reboundprom.Config{MaxEndpoints: 3, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for i := 0; i < 50; i++ {
		name := "ep" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		_ = rebound.Run(context.Background(), rebound.Policy{Endpoint: name, Observer: o}, func(context.Context) error { return nil })
	}
	mfs, _ := reg.Gather()
	endpoints := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "endpoint" {
					endpoints[lp.GetValue()] = true
				}
			}
		}
	}
	if len(endpoints) != 4 || !endpoints["_other"] {
		t.Fatalf("endpoint label values %v, want 3 plus _other", endpoints)
	}
	promtest.Expect(t, reg, "rebound_calls_total", map[string]string{"endpoint": "_other", "result": "success"}, 47)
	if c := strings.Count(logs.String(), "too many endpoints"); c != 1 {
		t.Fatalf("overflow logged %d times:\n%s", c, logs.String())
	}
}

func TestBreakerStateIsReadAtScrapeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o, reg := newObserver(t, reboundprom.Config{})
		g, _ := rebound.NewBreakers(rebound.BreakerConfig{ConsecutiveFailures: 1, FailureRate: -1, OpenFor: 30 * time.Second, Observer: o}, 10)
		o.WatchBreakers(g)
		p := rebound.Policy{Endpoint: "pay", Breaker: g.Get("pay"), Observer: o, MaxAttempts: 1}
		_ = rebound.Run(t.Context(), p, func(context.Context) error { return errReset })
		promtest.Expect(t, reg, "rebound_breaker_state", map[string]string{"endpoint": "pay"}, 2)
		promtest.Expect(t, reg, "rebound_breaker_transitions_total", map[string]string{"endpoint": "pay", "to": "open"}, 1)
		_ = rebound.Run(t.Context(), p, func(context.Context) error { return nil })
		promtest.Expect(t, reg, "rebound_calls_total", map[string]string{"endpoint": "pay", "result": "rejected"}, 1)
		// No call arrives, yet a scrape after the cool-down sees half-open.
		time.Sleep(30 * time.Second)
		promtest.Expect(t, reg, "rebound_breaker_state", map[string]string{"endpoint": "pay"}, 1)
		promtest.Expect(t, reg, "rebound_breaker_transitions_total", map[string]string{"endpoint": "pay", "to": "half_open"}, 1)
	})
}

func TestBudgetRejectionsAreCounted(t *testing.T) {
	o, reg := newObserver(t, reboundprom.Config{})
	b, _ := rebound.NewBudget(rebound.BudgetConfig{MinPerSecond: -1})
	_ = rebound.Run(context.Background(), rebound.Policy{Endpoint: "x", Observer: o, Budget: b}, func(context.Context) error { return errReset })
	promtest.Expect(t, reg, "rebound_budget_rejections_total", map[string]string{"endpoint": "x"}, 1)
}

func TestConfigErrors(t *testing.T) {
	if _, err := reboundprom.New(reboundprom.Config{}); err == nil || !strings.Contains(err.Error(), "Registerer") {
		t.Fatalf("missing registerer: %v", err)
	}
	reg := prometheus.NewRegistry()
	if _, err := reboundprom.New(reboundprom.Config{Registerer: reg, MaxEndpoints: -1}); err == nil {
		t.Fatal("negative MaxEndpoints accepted")
	}
	if _, err := reboundprom.New(reboundprom.Config{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := reboundprom.New(reboundprom.Config{Registerer: reg}); err == nil {
		t.Fatal("registering twice on one registry succeeded")
	}
}

// The exposition passes the linter and, when installed, promtool.
func TestExpositionPassesLint(t *testing.T) {
	o, reg := newObserver(t, reboundprom.Config{})
	g, _ := rebound.NewBreakers(rebound.BreakerConfig{}, 0)
	o.WatchBreakers(g)
	p := rebound.Policy{Endpoint: "api/v1/user", Observer: o, Breaker: g.Get("api/v1/user"), Backoff: rebound.Constant(0)}
	_ = rebound.Run(context.Background(), p, func(context.Context) error { return errReset })
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("lint: %s: %s", pr.Metric, pr.Text)
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (.ci/run installs Debian's prometheus package)")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestHedgesAreCountedByResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o, reg := newObserver(t, reboundprom.Config{})
		h, err := rebound.NewHedger(rebound.HedgeConfig{Delay: 10 * time.Millisecond, Ratio: 1})
		if err != nil {
			t.Fatal(err)
		}
		p := rebound.Policy{Endpoint: "search", Observer: o, Hedger: h}
		// A slow attempt is hedged and the hedge wins; then, under a
		// hedger whose budget (10% of attempts) has no room yet, a slow
		// attempt's hedge is refused.
		var n atomic.Int32
		slowThenFast := func(ctx context.Context) (int, error) {
			i := n.Add(1)
			d := time.Millisecond
			if i%2 == 1 {
				d = time.Second
			}
			select {
			case <-time.After(d):
				return int(i), nil
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		if _, err := rebound.DoHedged(t.Context(), p, slowThenFast); err != nil {
			t.Fatal(err)
		}
		promtest.Expect(t, reg, "rebound_hedges_total", map[string]string{"endpoint": "search", "result": "won"}, 1)
		promtest.Expect(t, reg, "rebound_hedges_total", map[string]string{"endpoint": "search", "result": "lost"}, 0)
		promtest.Expect(t, reg, "rebound_hedges_total", map[string]string{"endpoint": "search", "result": "rejected"}, 0)
		h2, _ := rebound.NewHedger(rebound.HedgeConfig{Delay: 10 * time.Millisecond, Ratio: 0.1})
		p.Hedger = h2
		n.Store(0)
		if _, err := rebound.DoHedged(t.Context(), p, slowThenFast); err != nil {
			t.Fatal(err)
		}
		promtest.Expect(t, reg, "rebound_hedges_total", map[string]string{"endpoint": "search", "result": "rejected"}, 1)
	})
}
