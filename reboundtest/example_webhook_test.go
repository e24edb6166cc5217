package reboundtest_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/sqlite"
	"github.com/rebound-go/rebound/reboundtest"
	"github.com/rebound-go/rebound/webhook"
)

// An outbox relay delivers two messages to a receiver that refuses the
// first delivery of each with 503: the relay retries, and the receiver
// gets both messages, each signed, in four deliveries.
func ExampleWebhookReceiver() {
	secret := webhook.NewSecret()
	receiver := reboundtest.NewWebhookReceiver(secret)
	receiver.Fail = reboundtest.WebhookFailFirst(1, http.StatusServiceUnavailable)
	srv := httptest.NewServer(receiver)
	defer srv.Close()

	dir, _ := os.MkdirTemp("", "reboundtest-example")
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "outbox.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	store, _ := sqlite.New(db, sqlite.Config{})
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	tx, _ := db.BeginTx(ctx, nil)
	ids, err := outbox.Enqueue(ctx, tx,
		outbox.Message{Destination: "orders", Payload: []byte(`{"order":1}`)},
		outbox.Message{Destination: "orders", Payload: []byte(`{"order":2}`)})
	if err != nil {
		log.Fatal(err)
	}
	_ = tx.Commit()

	sender, _ := outbox.NewWebhookSender(outbox.WebhookConfig{
		Destinations: map[string]outbox.Destination{"orders": {URL: srv.URL, Secrets: []string{secret}}},
		Addresses:    webhook.AddressPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	relay, _ := outbox.NewRelay(outbox.RelayConfig{
		Store: store, Sender: sender,
		PollInterval: 10 * time.Millisecond, Backoff: rebound.Constant(10 * time.Millisecond),
		Logger: slog.New(slog.DiscardHandler),
	})
	_ = relay.Start(ctx)
	defer relay.Stop(ctx)

	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := receiver.Wait(wait, len(ids)); err != nil {
		log.Fatal(err)
	}
	fmt.Println("messages:", receiver.IDs())
	fmt.Println("deliveries:", len(receiver.Deliveries()))
	fmt.Println("deliveries of the first:", receiver.Count(ids[0]))
	fmt.Println("invalid:", receiver.Invalid(), "duplicates:", len(receiver.Duplicates()))
	// Output:
	// messages: 2
	// deliveries: 4
	// deliveries of the first: 2
	// invalid: 0 duplicates: 0
}
