package daemon_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/rebound-go/rebound/internal/pgtest"
)

// pgSchema returns a connection string to a schema of the test's own.
func pgSchema(t *testing.T) string {
	t.Helper()
	_, dsn := pgtest.Schema(t, pgtest.URL(t, "run the relays on PostgreSQL"), "daemon_test_")
	return dsn
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

// A retried enqueue that reaches another relay (whose memory has not seen
// its Idempotency-Key) is answered with the first relay's message, and
// the message is stored once; the key with another request is refused.
func TestIdempotencyKeyAcrossRelays(t *testing.T) {
	dsn := pgSchema(t)
	yaml := fmt.Sprintf("db: %q\ndestinations:\n  orders: {url: http://127.0.0.1:9/}\nrelay: {workers: 1}\n", dsn)
	a := start(t, yaml, true)
	b := start(t, yaml, true)
	body := `{"destination":"orders","payload":{"order":77}}`
	r1, m1 := a.do(t, "POST", "/v1/messages", adminToken, body, "Idempotency-Key", `"order-77"`)
	r2, m2 := b.do(t, "POST", "/v1/messages", adminToken, body, "Idempotency-Key", `"order-77"`)
	if r1.StatusCode != 202 || r2.StatusCode != 202 || m1["id"] != m2["id"] || r2.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("relay a: %d %v; relay b: %d %v (replayed %q); want the same 202 and ID", r1.StatusCode, m1, r2.StatusCode, m2, r2.Header.Get("Idempotent-Replayed"))
	}
	if r, m := b.do(t, "POST", "/v1/messages", adminToken, `{"destination":"orders","payload":{"order":78}}`, "Idempotency-Key", `"order-77"`); r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other request, other relay: %d %v; want 422", r.StatusCode, m)
	}
	_, list := a.do(t, "GET", "/v1/messages", adminToken, "")
	if n := len(list["messages"].([]any)); n != 1 {
		t.Fatalf("%d messages stored; want 1", n)
	}
}
