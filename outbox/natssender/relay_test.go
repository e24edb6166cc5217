package natssender_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/sqlitetest"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/natssender"
	"github.com/rebound-go/rebound/outbox/outboxtest"
)

// A relay moves 200 messages of 5 ordering keys from a SQLite outbox onto
// a stream: each once, in enqueue order per key, all recorded as sent; a
// message for a subject no stream captures goes dead with the reason.
func TestRelayPublishesTheOutbox(t *testing.T) {
	nc := connect(t, natsURL(t))
	prefix, st := testStream(t, nc, nil)
	db, store := sqlitetest.Outbox(t)
	sender := newSender(t, nc, map[string]natssender.Destination{
		"orders": {Subject: prefix + ".orders." + natssender.OrderingKeyToken},
		"lost":   {Subject: randName("nostream") + ".x"},
	}, 0)

	const n, keys = 200, 5
	var msgs []outbox.Message
	for i := range n {
		msgs = append(msgs, outbox.Message{Destination: "orders", OrderingKey: fmt.Sprint("k", i%keys), Payload: []byte(fmt.Sprint(i))})
	}
	ids := outboxtest.Enqueue(t, db, msgs...)
	lost := outboxtest.Enqueue(t, db, outbox.Message{Destination: "lost", Payload: []byte("{}")})[0]

	outboxtest.StartRelay(t, outbox.RelayConfig{Store: store, Sender: sender, PollInterval: 10 * time.Millisecond, Backoff: rebound.Constant(20 * time.Millisecond)})

	ctx := context.Background()
	outboxtest.WaitFinished(t, store, n, 1, 20*time.Second)
	rec, err := store.Get(ctx, lost)
	if err != nil || rec.State != outbox.Dead || rec.Attempt != 1 {
		t.Fatalf("the message without a stream: %+v, %v; want dead after one attempt", rec, err)
	}

	got := streamMsgs(t, st)
	if len(got) != n {
		t.Fatalf("the stream holds %d messages, want %d", len(got), n)
	}
	pos := map[string]int{}
	for i, id := range ids {
		pos[id] = i
	}
	last := map[string]int{}
	seen := map[string]bool{}
	for _, m := range got {
		id := m.Header.Get(natssender.HeaderMessageID)
		i, ok := pos[id]
		if !ok || seen[id] {
			t.Fatalf("unexpected or repeated message %q", id)
		}
		seen[id] = true
		key := msgs[i].OrderingKey
		if want := prefix + ".orders." + key; m.Subject != want {
			t.Errorf("message %d on %s, want %s", i, m.Subject, want)
		}
		if prev, ok := last[key]; ok && prev > i {
			t.Errorf("key %s: message %d reached the stream after message %d", key, prev, i)
		}
		last[key] = i
	}
}
