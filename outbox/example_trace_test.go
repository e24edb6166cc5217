package outbox_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/sqlite"
	"github.com/rebound-go/rebound/webhook"
)

// A message enqueued under a span is delivered in the same trace: the
// relay's delivery span is the child of the enqueue's span, and the
// receiver gets the delivery span's traceparent.
func ExampleRelayConfig_tracerProvider() {
	ctx := context.Background()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(ctx)

	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("traceparent")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	dir, _ := os.MkdirTemp("", "outbox-trace-example")
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "shop.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	store, _ := sqlite.New(db, sqlite.Config{})
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	// The business transaction, under its span: Enqueue keeps its context.
	tctx, span := tp.Tracer("shop").Start(ctx, "create order")
	tx, _ := db.BeginTx(tctx, nil)
	if _, err := outbox.Enqueue(tctx, tx, outbox.Message{Destination: "orders", Payload: []byte(`{"order":42}`)}); err != nil {
		log.Fatal(err)
	}
	_ = tx.Commit()
	span.End()

	sender, _ := outbox.NewWebhookSender(outbox.WebhookConfig{
		Destinations: map[string]outbox.Destination{"orders": {URL: srv.URL}},
		Addresses:    webhook.AddressPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	relay, _ := outbox.NewRelay(outbox.RelayConfig{Store: store, Sender: sender, TracerProvider: tp})
	_ = relay.Start(ctx)
	traceparent := <-got
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = relay.Stop(stopCtx)

	for _, s := range rec.Ended() {
		if s.Name() == "deliver orders" {
			fmt.Println("delivery span:", s.SpanKind(), "child of create order:", s.Parent().SpanID() == span.SpanContext().SpanID())
		}
	}
	fmt.Println("receiver's traceparent in the trace:", strings.Contains(traceparent, span.SpanContext().TraceID().String()))
	// Output:
	// delivery span: producer child of create order: true
	// receiver's traceparent in the trace: true
}
