package statuspage_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite"

	"github.com/rebound-go/rebound/internal/statuspage"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/sqlite"
)

// The status page over a SQLite outbox. The relay's observer feeds the
// Activity; here nothing is delivered, so the page shows the backlog only.
func Example() {
	dir, err := os.MkdirTemp("", "statuspage-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "outbox.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	store, err := sqlite.New(db, sqlite.Config{})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := outbox.Enqueue(ctx, tx, outbox.Message{Destination: "orders", Payload: []byte(`{"order":42}`)}); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}

	activity := statuspage.NewActivity() // give it to outbox.RelayConfig.Observer
	h, err := statuspage.New(statuspage.Config{
		Store:        store,
		Activity:     activity,
		Destinations: []string{"orders", "invoices"},
		// No Tokens: authentication is off, for a loopback listener only.
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status)
	fmt.Println("lists orders:", strings.Contains(string(page), `data-destination="orders"`))
	fmt.Println("lists invoices:", strings.Contains(string(page), `data-destination="invoices"`))
	// Output:
	// 200 OK
	// lists orders: true
	// lists invoices: true
}
