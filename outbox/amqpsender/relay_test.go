package amqpsender_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/sqlitetest"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/amqpsender"
	"github.com/rebound-go/rebound/outbox/outboxtest"
)

// A relay moves 200 messages of 5 ordering keys from a SQLite outbox into
// a queue: each once, with its headers, in enqueue order per key, all
// recorded as sent; a message no queue is bound for goes dead at once,
// with the reason.
func TestRelayPublishesTheOutbox(t *testing.T) {
	u := amqpURL(t)
	top := declare(t, u, nil)
	db, store := sqlitetest.Outbox(t)
	sender := newSender(t, amqpsender.Config{URL: u, Logger: slog.New(slog.DiscardHandler), Destinations: map[string]amqpsender.Destination{
		"orders": {Exchange: top.Exchange, RoutingKey: top.Key},
		"lost":   {Exchange: top.Exchange, RoutingKey: "unbound"},
	}})

	const n, keys = 200, 5
	var msgs []outbox.Message
	for i := range n {
		msgs = append(msgs, outbox.Message{Destination: "orders", OrderingKey: fmt.Sprint("k", i%keys),
			Payload: []byte(fmt.Sprint(i)), Headers: map[string]string{"Content-Type": "text/plain", "X-Seq": fmt.Sprint(i)}})
	}
	ids := outboxtest.Enqueue(t, db, msgs...)
	lost := outboxtest.Enqueue(t, db, outbox.Message{Destination: "lost", Payload: []byte("{}")})[0]

	outboxtest.StartRelay(t, outbox.RelayConfig{Store: store, Sender: sender, PollInterval: 10 * time.Millisecond,
		Backoff: rebound.Constant(20 * time.Millisecond), Logger: slog.New(slog.DiscardHandler)})

	ctx := context.Background()
	outboxtest.WaitFinished(t, store, n, 1, 20*time.Second)
	rec, err := store.Get(ctx, lost)
	want := fmt.Sprintf(`unroutable: exchange %q, routing key "unbound" (NO_ROUTE)`, top.Exchange)
	if err != nil || rec.State != outbox.Dead || rec.Attempt != 1 || !strings.Contains(rec.LastError, want) {
		t.Fatalf("the unroutable message: %+v, %v; want dead after one attempt, saying %s", rec, err, want)
	}
	for _, id := range ids {
		if rec, err := store.Get(ctx, id); err != nil || rec.State != outbox.Sent {
			t.Fatalf("message %s: %+v, %v; want sent", id, rec, err)
		}
	}

	got := drain(t, u, top.Queue, n)
	if len(got) != n {
		t.Fatalf("the queue holds %d messages, want %d", len(got), n)
	}
	pos := map[string]int{}
	for i, id := range ids {
		pos[id] = i
	}
	last := map[string]int{}
	seen := map[string]bool{}
	for _, m := range got {
		id := m.MessageId
		i, ok := pos[id]
		if !ok || seen[id] {
			t.Fatalf("unexpected or repeated message %q", id)
		}
		seen[id] = true
		if m.Headers[amqpsender.HeaderMessageID] != id || m.Headers[amqpsender.HeaderDestination] != "orders" ||
			m.Headers["X-Seq"] != fmt.Sprint(i) || m.ContentType != "text/plain" || string(m.Body) != fmt.Sprint(i) {
			t.Errorf("message %d: headers %v, content type %q, body %q", i, m.Headers, m.ContentType, m.Body)
		}
		if a, ok := m.Headers[amqpsender.HeaderAttempt].(int32); !ok || a < 1 {
			t.Errorf("message %d: %s = %#v, want an int32 attempt", i, amqpsender.HeaderAttempt, m.Headers[amqpsender.HeaderAttempt])
		}
		key := msgs[i].OrderingKey
		if prev, ok := last[key]; ok && prev > i {
			t.Errorf("key %s: message %d reached the queue after message %d", key, prev, i)
		}
		last[key] = i
	}
}
