package outbox_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/sqlite"
	"github.com/rebound-go/rebound/webhook"
)

// An order and its "order created" event are written in one transaction;
// the relay then delivers the event as a signed webhook, and the receiver
// verifies it.
func Example() {
	dir, _ := os.MkdirTemp("", "outbox-example")
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "shop.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	store, _ := sqlite.New(db, sqlite.Config{})
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	_, _ = db.ExecContext(ctx, `CREATE TABLE orders (id TEXT PRIMARY KEY, total INTEGER)`)

	// The receiver: verify the signature, then acknowledge.
	secret := webhook.NewSecret()
	key, _ := webhook.ParseSecret(secret)
	got := make(chan string, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([][]byte{key}, r.Header, body, time.Now(), 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		got <- string(body)
	}))
	defer receiver.Close()

	// The business change and its event, atomically.
	tx, _ := db.BeginTx(ctx, nil)
	_, _ = tx.ExecContext(ctx, `INSERT INTO orders VALUES ('ord_1', 4200)`)
	if _, err := outbox.Enqueue(ctx, tx, outbox.Message{Destination: "orders", Payload: []byte(`{"type":"order.created","id":"ord_1"}`)}); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}

	sender, _ := outbox.NewWebhookSender(outbox.WebhookConfig{
		Destinations: map[string]outbox.Destination{"orders": {URL: receiver.URL, Secrets: []string{secret}}},
		// The example's receiver is on loopback, which is refused by default.
		Addresses: webhook.AddressPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	relay, _ := outbox.NewRelay(outbox.RelayConfig{Store: store, Sender: sender})
	_ = relay.Start(ctx)
	fmt.Println("received", <-got)
	_ = relay.Stop(ctx)
	// Output: received {"type":"order.created","id":"ord_1"}
}
