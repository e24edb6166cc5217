package daemon_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rebound-go/rebound/outbox"
)

// pgSchema creates a schema of the test's own in REBOUND_TEST_POSTGRES
// and returns a connection string whose sessions use it.
func pgSchema(t *testing.T) string {
	t.Helper()
	url := os.Getenv("REBOUND_TEST_POSTGRES")
	if url == "" {
		t.Skip("REBOUND_TEST_POSTGRES is not set: set it to a PostgreSQL URL, as CI does " +
			"(postgres://postgres@127.0.0.1:5432/test?sslmode=disable), to run the relays on PostgreSQL")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	schema := "daemon_test_" + outbox.NewID(time.Now())[20:]
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer admin.Close(context.Background())
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "search_path=" + schema
}

// Two relays share one PostgreSQL: messages enqueued through either are
// each delivered, and the API of either sees them all.
func TestTwoRelaysOnPostgres(t *testing.T) {
	dsn := pgSchema(t)
	var mu sync.Mutex
	got := map[string]int{}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get("webhook-id")]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	yaml := fmt.Sprintf("db: %q\nallow_addresses: [127.0.0.0/8]\ndestinations:\n  orders: {url: %s}\n", dsn, srv)
	a := start(t, yaml, true)
	b := start(t, yaml, true)
	var ids []string
	for i := range 40 {
		d := a
		if i%2 == 1 {
			d = b
		}
		resp, m := d.do(t, "POST", "/v1/messages", adminToken, fmt.Sprintf(`{"destination":"orders","payload":{"n":%d}}`, i))
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("enqueue %d: %d %v", i, resp.StatusCode, m)
		}
		ids = append(ids, m["id"].(string))
	}
	for _, id := range ids {
		b.waitState(t, id, "sent")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("message %s delivered %d times; want once", id, got[id])
		}
	}
}
