package postgres_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/postgres"
	"github.com/rebound-go/rebound/webhook"
)

// Two relays share one database: every message arrives, none twice (the
// receiver never fails, so no delivery is ever repeated), and the relays
// split the work.
func TestTwoRelaysShareOneDatabase(t *testing.T) {
	e := newEnv(t, nil)
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get(webhook.HeaderID)]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	const n = 300
	var msgs []outbox.Message
	for i := 0; i < n; i++ {
		msgs = append(msgs, outbox.Message{Destination: "d", Payload: []byte(`{}`)})
	}
	ids := e.enqueueSQL(t, msgs...)

	sender, err := outbox.NewWebhookSender(outbox.WebhookConfig{
		Destinations: map[string]outbox.Destination{"d": {URL: srv.URL}},
		Addresses:    webhook.AddressPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var relays []*outbox.Relay
	for i := 0; i < 2; i++ {
		// Each relay has its own store (its own listening connection).
		s, err := postgres.New(e.pool, postgres.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		r, err := outbox.NewRelay(outbox.RelayConfig{Store: s, Sender: sender, Workers: 8, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		relays = append(relays, r)
	}
	defer func() {
		for _, r := range relays {
			_ = r.Stop(context.Background())
		}
	}()
	sent := func() int {
		st, err := e.store.Stats(context.Background(), time.Now())
		if err != nil || len(st) != 1 {
			return 0
		}
		return st[0].Sent
	}
	for i := 0; i < 2000 && sent() < n; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if got := sent(); got != n {
		t.Fatalf("%d of %d messages sent", got, n)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("message %s arrived %d times", id, seen[id])
		}
	}
}
