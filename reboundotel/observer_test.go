package reboundotel_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundotel"
)

func ep(kv ...string) map[string]string {
	m := map[string]string{"rebound.endpoint": "api/v1/user"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// The metrics follow reboundprom's catalogue, call for call.
func TestMetricsFollowCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := newTelemetry(t)
		o := tel.observer(t, tel.config())
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

		tel.expect(t, "http.request.retries", ep("status", "succeeded"), 2)
		tel.expect(t, "http.request.retries", ep("status", "failed"), 2)
		tel.expect(t, "rebound.calls", ep("rebound.result", "success"), 1)
		tel.expect(t, "rebound.calls", ep("rebound.result", "gave_up"), 1)
		tel.expect(t, "rebound.calls", ep("rebound.result", "failure"), 1)
		tel.expect(t, "rebound.calls", ep("rebound.result", "rejected"), 0)
		tel.expect(t, "rebound.attempts", ep("rebound.class", "connection"), 5)
		tel.expect(t, "rebound.attempts", ep("rebound.class", "logic"), 1)
		tel.expect(t, "rebound.attempts", ep("rebound.class", "none"), 1)
		tel.expect(t, "rebound.attempt.duration", ep(), 7)
		tel.expect(t, "rebound.retry.wait", ep(), 4)
		tel.expect(t, "rebound.call.duration", ep("rebound.result", "success"), 1)
		tel.expect(t, "rebound.consecutive_failures", ep(), 2)
		_ = rebound.Run(ctx, p, func(context.Context) error { return nil })
		tel.expect(t, "rebound.consecutive_failures", ep(), 0)

		// The success took three attempts of 100 ms and two waits of 1 s.
		m, _ := tel.metric(t, "rebound.call.duration")
		if m.Unit != "s" {
			t.Errorf("rebound.call.duration unit %q, want s", m.Unit)
		}
		for name, unit := range map[string]string{"http.request.retries": "{retry}", "rebound.calls": "{call}", "rebound.attempts": "{attempt}", "rebound.retry.wait": "s"} {
			if m, _ := tel.metric(t, name); m.Unit != unit {
				t.Errorf("%s unit %q, want %q", name, m.Unit, unit)
			}
		}
	})
}

func TestEndpointCardinalityIsBounded(t *testing.T) {
	var logs bytes.Buffer
	tel := newTelemetry(t)
	cfg := tel.config()
	cfg.MaxEndpoints = 3
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	o := tel.observer(t, cfg)
	for i := 0; i < 50; i++ {
		name := "ep" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		_ = rebound.Run(context.Background(), rebound.Policy{Endpoint: name, Observer: o}, func(context.Context) error { return nil })
	}
	endpoints := map[string]bool{}
	for _, name := range []string{"rebound.calls", "rebound.attempts", "rebound.call.duration", "rebound.attempt.duration", "http.request.retries"} {
		m, _ := tel.metric(t, name)
		for _, set := range pointSets(m) {
			v, _ := set.Value("rebound.endpoint")
			endpoints[v.AsString()] = true
		}
	}
	if len(endpoints) != 4 || !endpoints["_other"] {
		t.Fatalf("rebound.endpoint values %v, want 3 plus _other", endpoints)
	}
	tel.expect(t, "rebound.calls", map[string]string{"rebound.endpoint": "_other", "rebound.result": "success"}, 47)
	if c := strings.Count(logs.String(), "too many endpoints"); c != 1 {
		t.Fatalf("overflow logged %d times:\n%s", c, logs.String())
	}
}

func TestBreakerStateIsReadAtCollection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := newTelemetry(t)
		o := tel.observer(t, tel.config())
		g, _ := rebound.NewBreakers(rebound.BreakerConfig{ConsecutiveFailures: 1, FailureRate: -1, OpenFor: 30 * time.Second, Observer: o}, 10)
		o.WatchBreakers(g)
		single, _ := rebound.NewBreaker(rebound.BreakerConfig{Name: "single"})
		o.WatchBreaker(single)
		p := rebound.Policy{Endpoint: "pay", Breaker: g.Get("pay"), Observer: o, MaxAttempts: 1}
		_ = rebound.Run(t.Context(), p, func(context.Context) error { return errReset })
		pay := map[string]string{"rebound.endpoint": "pay"}
		tel.expect(t, "rebound.breaker.state", pay, 2)
		tel.expect(t, "rebound.breaker.state", map[string]string{"rebound.endpoint": "single"}, 0)
		tel.expect(t, "rebound.breaker.transitions", map[string]string{"rebound.endpoint": "pay", "rebound.breaker.to": "open"}, 1)
		_ = rebound.Run(t.Context(), p, func(context.Context) error { return nil })
		tel.expect(t, "rebound.calls", map[string]string{"rebound.endpoint": "pay", "rebound.result": "rejected"}, 1)
		// No call arrives, yet a collection after the cool-down sees half-open.
		time.Sleep(30 * time.Second)
		tel.expect(t, "rebound.breaker.state", pay, 1)
		tel.expect(t, "rebound.breaker.transitions", map[string]string{"rebound.endpoint": "pay", "rebound.breaker.to": "half_open"}, 1)
	})
}

func TestBudgetRejectionsAreCounted(t *testing.T) {
	tel := newTelemetry(t)
	o := tel.observer(t, tel.config())
	b, _ := rebound.NewBudget(rebound.BudgetConfig{MinPerSecond: -1})
	_ = rebound.Run(context.Background(), rebound.Policy{Endpoint: "x", Observer: o, Budget: b}, func(context.Context) error { return errReset })
	tel.expect(t, "rebound.budget.rejections", map[string]string{"rebound.endpoint": "x"}, 1)
}

func TestConfigErrors(t *testing.T) {
	if _, err := reboundotel.New(reboundotel.Config{MaxEndpoints: -1}); err == nil || !strings.Contains(err.Error(), "MaxEndpoints") {
		t.Fatalf("negative MaxEndpoints: %v", err)
	}
	if _, err := reboundotel.New(reboundotel.Config{}); err != nil {
		t.Fatalf("the zero Config (global providers): %v", err)
	}
}

func events(s sdktrace.ReadOnlySpan, name string) []sdktrace.Event {
	var out []sdktrace.Event
	for _, e := range s.Events() {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

func spanNamed(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, s := range spans {
		if s.Name() == name {
			return s
		}
	}
	t.Fatalf("no span %q", name)
	return nil
}

// On a span the caller started, the observer adds the retries and the
// outcome as events, and leaves the attempts and the status to the caller.
func TestEventsOnTheCurrentSpan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := newTelemetry(t)
		o := tel.observer(t, tel.config())
		ctx, span := tel.tp.Tracer("test").Start(t.Context(), "caller")
		p := rebound.Policy{Endpoint: "api/v1/user", Observer: o, Backoff: rebound.Constant(time.Second)}
		_ = rebound.Run(ctx, p, func(context.Context) error { return errReset })
		span.End()
		// Outside any recording span: nothing to record on, no panic.
		_ = rebound.Run(t.Context(), p, func(context.Context) error { return errReset })

		s := spanNamed(t, tel.spans.Ended(), "caller")
		retries := events(s, reboundotel.EventRetry)
		if len(retries) != 2 {
			t.Fatalf("%d %s events, want 2", len(retries), reboundotel.EventRetry)
		}
		for i, e := range retries {
			a, _ := attr(e.Attributes, "rebound.attempt")
			c, _ := attr(e.Attributes, "rebound.class")
			w, _ := attr(e.Attributes, "rebound.retry.wait")
			m, _ := attr(e.Attributes, "error.message")
			if a.AsInt64() != int64(i+1) || c.AsString() != "connection" || w.AsFloat64() != 1 || m.AsString() != errReset.Error() {
				t.Errorf("retry event %d: %v", i+1, e.Attributes)
			}
		}
		fin := events(s, reboundotel.EventCallFinished)
		if len(fin) != 1 {
			t.Fatalf("%d %s events, want 1", len(fin), reboundotel.EventCallFinished)
		}
		r, _ := attr(fin[0].Attributes, "rebound.result")
		reason, _ := attr(fin[0].Attributes, "rebound.reason")
		if r.AsString() != "gave_up" || reason.AsString() != "exhausted" {
			t.Errorf("call_finished: %v", fin[0].Attributes)
		}
		if n := len(events(s, reboundotel.EventAttempt)); n != 0 {
			t.Errorf("%d attempt events on the caller's span, want none (only on logical spans)", n)
		}
		if s.Status().Code != codes.Unset {
			t.Errorf("the caller's span status was set to %v; only logical spans get one", s.Status())
		}
	})
}

// Do wraps the call in a logical INTERNAL span: every attempt is an event
// on it, and it ends with the outcome.
func TestDoLogicalSpan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := newTelemetry(t)
		o := tel.observer(t, tel.config())
		p := rebound.Policy{Endpoint: "api/v1/user", Backoff: rebound.Constant(time.Second)}
		n := 0
		v, err := reboundotel.Do(t.Context(), o, "fetch user", p, func(context.Context) (int, error) {
			n++
			if n < 2 {
				return 0, errReset
			}
			return 42, nil
		})
		if v != 42 || err != nil {
			t.Fatalf("Do = %v, %v", v, err)
		}
		_, err = reboundotel.Do(t.Context(), o, "", p, func(context.Context) (int, error) {
			return 0, rebound.Permanent(errors.New("invalid"))
		})
		if err == nil {
			t.Fatal("no error")
		}

		spans := tel.spans.Ended()
		ok := spanNamed(t, spans, "fetch user")
		if ok.SpanKind().String() != "internal" || ok.Status().Code != codes.Unset {
			t.Errorf("successful call: kind %v, status %v; want internal, Unset", ok.SpanKind(), ok.Status())
		}
		attempts := events(ok, reboundotel.EventAttempt)
		if len(attempts) != 2 {
			t.Fatalf("%d attempt events, want 2", len(attempts))
		}
		c1, _ := attr(attempts[0].Attributes, "rebound.class")
		c2, _ := attr(attempts[1].Attributes, "rebound.class")
		if c1.AsString() != "connection" || c2.AsString() != "none" {
			t.Errorf("attempt classes %q, %q; want connection, none", c1.AsString(), c2.AsString())
		}
		if n := len(events(ok, reboundotel.EventRetry)); n != 1 {
			t.Errorf("%d retry events, want 1", n)
		}
		if r, _ := attr(ok.Attributes(), "rebound.result"); r.AsString() != "success" {
			t.Errorf("rebound.result = %q, want success", r.AsString())
		}
		if e, _ := attr(ok.Attributes(), "rebound.endpoint"); e.AsString() != "api/v1/user" {
			t.Errorf("rebound.endpoint = %q", e.AsString())
		}

		failed := spanNamed(t, spans, "api/v1/user") // an empty name is the endpoint
		if failed.Status().Code != codes.Error || len(events(failed, reboundotel.EventCallFinished)) != 1 {
			t.Errorf("failed call: status %v, events %v; want Error and a call_finished event", failed.Status(), failed.Events())
		}
		// The metrics are recorded too.
		tel.expect(t, "rebound.calls", ep("rebound.result", "success"), 1)
		tel.expect(t, "http.request.retries", ep("status", "succeeded"), 1)
	})
}

// A call refused by an open breaker and a retry refused by the budget are
// events on the current span; so is a breaker's change of state that comes
// with a span.
func TestBreakerAndBudgetEvents(t *testing.T) {
	tel := newTelemetry(t)
	o := tel.observer(t, tel.config())
	br, _ := rebound.NewBreaker(rebound.BreakerConfig{Name: "pay", ConsecutiveFailures: 1, FailureRate: -1, OpenFor: time.Hour, Observer: o})
	bu, _ := rebound.NewBudget(rebound.BudgetConfig{MinPerSecond: -1})
	ctx, span := tel.tp.Tracer("test").Start(context.Background(), "caller")
	p := rebound.Policy{Endpoint: "pay", Breaker: br, Budget: bu, Observer: o}
	_ = rebound.Run(ctx, p, func(context.Context) error { return errReset })
	_ = rebound.Run(ctx, p, func(context.Context) error { return nil })
	// A breaker reports its changes with a context of its own, with no
	// span: here is one that comes with the caller's.
	o.Observe(ctx, rebound.Event{Kind: rebound.BreakerStateChanged, Endpoint: "pay", From: rebound.Closed, To: rebound.Open})
	span.End()
	s := spanNamed(t, tel.spans.Ended(), "caller")
	for name, want := range map[string]int{
		reboundotel.EventBudgetRejected:      1,
		reboundotel.EventBreakerStateChanged: 1,
		reboundotel.EventBreakerRejected:     1,
	} {
		if got := len(events(s, name)); got != want {
			t.Errorf("%d %s events, want %d", got, name, want)
		}
	}
	sc := events(s, reboundotel.EventBreakerStateChanged)
	if len(sc) == 1 {
		from, _ := attr(sc[0].Attributes, "rebound.breaker.from")
		to, _ := attr(sc[0].Attributes, "rebound.breaker.to")
		if from.AsString() != "closed" || to.AsString() != "open" {
			t.Errorf("state change %v", sc[0].Attributes)
		}
	}
}

// With no-op providers and no recording span, an event allocates nothing.
func TestNoopObserverAllocatesNothing(t *testing.T) {
	o, err := reboundotel.New(reboundotel.Config{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider()})
	if err != nil {
		t.Fatal(err)
	}
	p := rebound.Policy{Endpoint: "api/v1/user", Observer: o}
	ok := func(context.Context) (int, error) { return 1, nil }
	ctx := context.Background()
	_, _ = rebound.Do(ctx, p, ok)
	if n := testing.AllocsPerRun(100, func() { _, _ = rebound.Do(ctx, p, ok) }); n != 0 {
		t.Fatalf("%v allocations per call with the no-op observer, want 0", n)
	}
	// The same with SDK metrics: the attribute sets are built once.
	tel := newTelemetry(t)
	cfg := tel.config()
	cfg.TracerProvider = tracenoop.NewTracerProvider()
	p.Observer = tel.observer(t, cfg)
	_, _ = rebound.Do(ctx, p, ok)
	if n := testing.AllocsPerRun(100, func() { _, _ = rebound.Do(ctx, p, ok) }); n != 0 {
		t.Fatalf("%v allocations per call with SDK metrics, want 0", n)
	}
}

// Over no-op providers the Observer records nothing that needs a duration,
// and says so, so that rebound.Do reads no clock for it; with either
// provider real it does not.
func TestUntimedOnlyOverNoopProviders(t *testing.T) {
	sdk := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = sdk.Shutdown(context.Background()) })
	for _, c := range []struct {
		name string
		cfg  reboundotel.Config
		want bool
	}{
		{"no-op both", reboundotel.Config{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider()}, true},
		{"SDK tracer", reboundotel.Config{TracerProvider: sdk, MeterProvider: metricnoop.NewMeterProvider()}, false},
		{"SDK meter", reboundotel.Config{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: newTelemetry(t).mp}, false},
	} {
		o, err := reboundotel.New(c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if o.Untimed() != c.want {
			t.Errorf("%s: Untimed() = %v, want %v", c.name, o.Untimed(), c.want)
		}
	}
}

// A hedge that wins is a rebound.hedge event on the caller's span (started,
// then won) and counts in rebound.hedges.
func TestHedgeEventsAndMetric(t *testing.T) {
	tel := newTelemetry(t)
	o := tel.observer(t, tel.config())
	h, err := rebound.NewHedger(rebound.HedgeConfig{Delay: time.Millisecond, Ratio: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tel.tp.Tracer("test").Start(context.Background(), "caller")
	var n atomic.Int32
	_, err = rebound.DoHedged(ctx, rebound.Policy{Endpoint: "search", Hedger: h, Observer: o}, func(ctx context.Context) (int, error) {
		if n.Add(1) == 1 {
			<-ctx.Done() // the first run answers only when canceled
			return 0, ctx.Err()
		}
		return 2, nil
	})
	span.End()
	if err != nil {
		t.Fatal(err)
	}
	s := spanNamed(t, tel.spans.Ended(), "caller")
	var results []string
	for _, e := range events(s, reboundotel.EventHedge) {
		v, _ := attr(e.Attributes, "rebound.result")
		hn, _ := attr(e.Attributes, "rebound.hedge")
		results = append(results, v.AsString()+"/"+hn.Emit())
	}
	if len(results) != 2 || results[0] != "started/1" || results[1] != "won/1" {
		t.Fatalf("rebound.hedge events %q, want started/1 then won/1", results)
	}
	tel.expect(t, "rebound.hedges", map[string]string{"rebound.endpoint": "search", "rebound.result": "won"}, 1)
}
