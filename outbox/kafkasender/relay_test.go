package kafkasender_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/sqlitetest"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/kafkasender"
	"github.com/rebound-go/rebound/outbox/outboxtest"
)

// A relay moves 200 messages of 5 ordering keys from a SQLite outbox onto
// a topic of 4 partitions: each once, with its headers, in enqueue order
// per key, all recorded as sent; a message for a topic that does not
// exist goes dead after one attempt.
func TestRelayPublishesTheOutbox(t *testing.T) {
	c := newCluster(t, 4)
	db, store := sqlitetest.Outbox(t)
	sender := newSender(t, newClient(t, c, kgo.MetadataMinAge(10*time.Millisecond)), 0)

	const n, keys = 200, 5
	var msgs []outbox.Message
	for i := range n {
		msgs = append(msgs, outbox.Message{Destination: "orders", OrderingKey: fmt.Sprint("k", i%keys), Payload: []byte(fmt.Sprint(i)), Headers: map[string]string{"Content-Type": "text/plain"}})
	}
	ids := outboxtest.Enqueue(t, db, msgs...)
	lost := outboxtest.Enqueue(t, db, outbox.Message{Destination: "missing", Payload: []byte("{}")})[0]

	outboxtest.StartRelay(t, outbox.RelayConfig{Store: store, Sender: sender, PollInterval: 10 * time.Millisecond, Backoff: rebound.Constant(20 * time.Millisecond)})
	outboxtest.WaitFinished(t, store, n, 1, 30*time.Second)
	rec, err := store.Get(context.Background(), lost)
	if err != nil || rec.State != outbox.Dead || rec.Attempt != 1 {
		t.Fatalf("the message for a missing topic: %+v, %v; want dead after one attempt", rec, err)
	}

	pos := map[string]int{}
	for i, id := range ids {
		pos[id] = i
	}
	last := map[string]int{}
	seen := map[string]bool{}
	partitionOf := map[string]int32{}
	for _, r := range consume(t, c, "orders", n) {
		h := headers(t, r)
		id := h[kafkasender.HeaderMessageID]
		i, ok := pos[id]
		if !ok || seen[id] {
			t.Fatalf("unexpected or repeated message %q", id)
		}
		seen[id] = true
		m := msgs[i]
		if string(r.Key) != m.OrderingKey || string(r.Value) != string(m.Payload) {
			t.Errorf("message %d: key %q value %q, want %q %q", i, r.Key, r.Value, m.OrderingKey, m.Payload)
		}
		if h[kafkasender.HeaderDestination] != "orders" || h[kafkasender.HeaderAttempt] != "1" || h[kafkasender.HeaderContentType] != "text/plain" {
			t.Errorf("message %d: headers %v", i, h)
		}
		if p, ok := partitionOf[m.OrderingKey]; ok && p != r.Partition {
			t.Errorf("key %s on partitions %d and %d", m.OrderingKey, p, r.Partition)
		}
		partitionOf[m.OrderingKey] = r.Partition
		// Records are consumed in order within a partition, and a key
		// lives in one partition.
		if prev, ok := last[m.OrderingKey]; ok && prev > i {
			t.Errorf("key %s: message %d reached the topic after message %d", m.OrderingKey, prev, i)
		}
		last[m.OrderingKey] = i
	}
	if len(seen) != n {
		t.Errorf("consumed %d distinct messages, want %d", len(seen), n)
	}
	parts := map[int32]bool{}
	for _, p := range partitionOf {
		parts[p] = true
	}
	if len(parts) < 2 {
		t.Errorf("5 keys all on partition %v: the test shows no spread", partitionOf)
	}
}
