package blackbox

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/rebound-go/rebound/internal/pgtest"
)

// The default relay delivering 20 messages a second for 60 s to a receiver
// that answers 500 forever to 30% of them (one kind of event it rejects)
// and 200 to the rest: every healthy message is delivered, 99% of them
// within 2 s of their enqueue. On SQLite, and on two relays sharing
// PostgreSQL as deploy/ runs them.
func TestPoisonMessagesDoNotSilenceADestination(t *testing.T) {
	if testing.Short() {
		t.Skip("a 60 s run of the relay binary")
	}
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		poisonRun(t, func(args ...string) []*relay { return []*relay{startRelay(t, args...)} })
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		_, dsn := pgtest.Schema(t, pgtest.URL(t, "run two relays on PostgreSQL"), "blackbox_")
		poisonRun(t, func(args ...string) []*relay {
			return []*relay{startRelayOn(t, dsn, args...), startRelayOn(t, dsn, args...)}
		})
	})
}

func poisonRun(t *testing.T, start func(args ...string) []*relay) {
	poison := []byte(`"poison"`)
	rc := startReceiver(t, func(payload []byte) int {
		if bytes.Contains(payload, poison) {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	relays := start("--destination", "orders="+rc.url, "--allow-addresses", "127.0.0.0/8")
	enqueued := map[string]time.Time{}
	every(20, 60*time.Second, func(i int) {
		payload := `{"kind":"order","n":1}`
		if i%10 < 3 {
			payload = `{"kind":"poison"}`
		}
		at := time.Now()
		id := relays[i%len(relays)].enqueue(t, "orders", payload)
		if i%10 >= 3 {
			enqueued[id] = at
		}
	})
	for range 300 { // at most 30 s after the last enqueue
		if _, n := rc.count(); n >= len(enqueued) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	rc.mu.Lock()
	var lat []time.Duration
	for id, at := range enqueued {
		if got, ok := rc.ok[id]; ok {
			lat = append(lat, got.Sub(at))
		}
	}
	requests := rc.requests
	rc.mu.Unlock()
	p50, p99 := percentile(lat, 0.5), percentile(lat, 0.99)
	t.Logf("healthy messages: %d of %d delivered; latency from enqueue p50 %v, p99 %v, max %v; %d requests in all",
		len(lat), len(enqueued), p50, p99, percentile(lat, 1), requests)
	if len(lat) != len(enqueued) || p99 > 2*time.Second {
		t.Fatalf("%d of %d healthy messages delivered, p99 %v: want all, p99 <= 2s", len(lat), len(enqueued), p99)
	}
}

// A destination answering 503 to everything for 20 s while 20 messages a
// second arrive: the breaker opens, and at most 150 requests reach it.
func TestADownDestinationIsSpared(t *testing.T) {
	if testing.Short() {
		t.Skip("a 20 s run of the relay binary")
	}
	t.Parallel()
	rc := startReceiver(t, func([]byte) int { return http.StatusServiceUnavailable })
	r := startRelay(t, "--destination", "orders="+rc.url, "--allow-addresses", "127.0.0.0/8")
	every(20, 20*time.Second, func(int) { r.enqueue(t, "orders", `{"kind":"order"}`) })
	n, _ := rc.count()
	t.Logf("%d requests reached the down destination in 20 s (400 messages enqueued)", n)
	if n > 150 {
		t.Fatalf("%d requests reached the down destination in 20 s, want at most 150", n)
	}
}
