package outboxtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/webhook"
)

// RunTracing checks, on a fresh outbox from newHarness, that one trace
// runs from the business transaction to the receiver across a relay
// restart: a message enqueued under a span is delivered by a relay whose
// first attempt fails (503); that relay stops, and a second one, with a
// tracer provider of its own, delivers it. Each attempt's span is a child
// of the enqueue's span, linked to its claim; the receiver gets each
// attempt's traceparent.
func RunTracing(t *testing.T, newHarness func(t *testing.T) Harness) {
	h := newHarness(t)
	ctx := context.Background()

	var mu sync.Mutex
	var parents []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		parents = append(parents, r.Header.Get("traceparent"))
		n := len(parents)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	sender, err := outbox.NewWebhookSender(outbox.WebhookConfig{
		Destinations: map[string]outbox.Destination{"orders": {URL: srv.URL}},
		Addresses:    webhook.AddressPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	if err != nil {
		t.Fatal(err)
	}

	app := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = app.Shutdown(ctx) })
	tctx, span := app.Tracer("shop").Start(ctx, "create order")
	tx, err := h.DB.BeginTx(tctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := outbox.Enqueue(tctx, tx, outbox.Message{Destination: "orders", Payload: []byte(`{"order":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	span.End()
	enq := span.SpanContext()

	relay := func(rec *tracetest.SpanRecorder) *outbox.Relay {
		r, err := outbox.NewRelay(outbox.RelayConfig{
			Store: h.Store, Sender: sender, PollInterval: 20 * time.Millisecond,
			Backoff:        rebound.Constant(300 * time.Millisecond),
			TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return r
	}
	stop := func(r *outbox.Relay) {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := r.Stop(sctx); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("after 10 s: %s", what)
			}
		}
	}
	state := func() outbox.State {
		r, err := h.Store.Get(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		return r.State
	}

	first := tracetest.NewSpanRecorder()
	r1 := relay(first)
	waitFor("the first attempt", func() bool { mu.Lock(); defer mu.Unlock(); return len(parents) == 1 })
	stop(r1) // lets the attempt finish: its retry is recorded, 300 ms later
	if s := state(); s != outbox.Retrying {
		t.Fatalf("after the first relay: %v, want retrying", s)
	}
	second := tracetest.NewSpanRecorder()
	r2 := relay(second)
	waitFor("the message sent by the second relay", func() bool { return state() == outbox.Sent })
	stop(r2)

	check := func(rec *tracetest.SpanRecorder, attempt int, outcome string) trace.SpanContext {
		t.Helper()
		var deliveries, claims []sdktrace.ReadOnlySpan
		for _, s := range rec.Ended() {
			switch s.Name() {
			case "deliver orders":
				deliveries = append(deliveries, s)
			case "claim":
				claims = append(claims, s)
			}
		}
		if len(deliveries) != 1 || len(claims) == 0 {
			t.Fatalf("relay of attempt %d: %d delivery spans and %d claim spans, want 1 and some", attempt, len(deliveries), len(claims))
		}
		d := deliveries[0]
		if d.SpanKind() != trace.SpanKindProducer || d.Parent().TraceID() != enq.TraceID() || d.Parent().SpanID() != enq.SpanID() {
			t.Fatalf("attempt %d: delivery span %v with parent %v, want a PRODUCER child of the enqueue's span %v", attempt, d.SpanKind(), d.Parent(), enq)
		}
		attrs := map[string]string{}
		for _, a := range d.Attributes() {
			attrs[string(a.Key)] = a.Value.Emit()
		}
		if attrs["rebound.outbox.outcome"] != outcome || attrs["rebound.outbox.attempt"] != strconv.Itoa(attempt) || attrs["messaging.message.id"] != ids[0] {
			t.Fatalf("attempt %d: attributes %v", attempt, attrs)
		}
		if len(d.Links()) != 1 || !linked(d, claims) {
			t.Fatalf("attempt %d: links %v, want the claim's span", attempt, d.Links())
		}
		return d.SpanContext()
	}
	s1 := check(first, 1, "retry")
	s2 := check(second, 2, "sent")
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"00-" + s1.TraceID().String() + "-" + s1.SpanID().String() + "-01",
		"00-" + s2.TraceID().String() + "-" + s2.SpanID().String() + "-01",
	}
	if len(parents) != 2 || parents[0] != want[0] || parents[1] != want[1] {
		t.Fatalf("the receiver got traceparents %q, want each attempt's span %q", parents, want)
	}
}

// linked reports whether d links to one of the claims.
func linked(d sdktrace.ReadOnlySpan, claims []sdktrace.ReadOnlySpan) bool {
	for _, c := range claims {
		for _, l := range d.Links() {
			if l.SpanContext.SpanID() == c.SpanContext().SpanID() {
				return true
			}
		}
	}
	return false
}
