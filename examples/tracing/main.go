// Command tracing shows one trace running through the outbox: a business
// transaction enqueues a message under its span; the relay's first
// delivery attempt meets a 503, the second one succeeds; each attempt's
// span is a child of the transaction's span, and the receiver gets each
// attempt's traceparent. The spans are printed by OpenTelemetry's stdout
// exporter as they end.
//
//	go run ./examples/tracing
//
// It uses a SQLite outbox in a temporary directory and a receiver on a
// loopback port of its own; docs/TRACING.md shows its output.
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/sqlite"
	"github.com/rebound-go/rebound/webhook"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx := context.Background()
	exp, err := stdouttrace.New(stdouttrace.WithPrettyPrint(), stdouttrace.WithoutTimestamps())
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(resource.Empty()))
	defer tp.Shutdown(ctx)

	// The receiver: 503 to the first delivery, 204 after.
	var calls atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		fmt.Fprintf(os.Stderr, "receiver: attempt %s, traceparent %s\n", r.Header.Get("webhook-attempt"), r.Header.Get("traceparent"))
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))

	dir, err := os.MkdirTemp("", "rebound-tracing-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "outbox.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	store, err := sqlite.New(db, sqlite.Config{})
	if err != nil {
		return err
	}
	if err := store.Migrate(ctx); err != nil {
		return err
	}

	// The business transaction, under its own span.
	tctx, span := tp.Tracer("shop").Start(ctx, "create order")
	tx, err := db.BeginTx(tctx, nil)
	if err != nil {
		return err
	}
	if _, err := outbox.Enqueue(tctx, tx, outbox.Message{ID: "order-42", Destination: "orders", Payload: []byte(`{"order":42}`)}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	span.End()

	sender, err := outbox.NewWebhookSender(outbox.WebhookConfig{
		Destinations: map[string]outbox.Destination{"orders": {URL: "http://" + ln.Addr().String() + "/hook"}},
		Addresses:    webhook.AddressPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	if err != nil {
		return err
	}
	relay, err := outbox.NewRelay(outbox.RelayConfig{
		Store: store, Sender: sender, TracerProvider: tp,
		PollInterval: 50 * time.Millisecond, Backoff: rebound.Constant(200 * time.Millisecond),
	})
	if err != nil {
		return err
	}
	if err := relay.Start(ctx); err != nil {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r, err := store.Get(ctx, "order-42")
		if err != nil {
			return err
		}
		if r.State == outbox.Sent {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("order-42 is %v after 10 s", r.State)
		}
	}
	return relay.Stop(ctx)
}
