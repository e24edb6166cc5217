package kafkasender_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/kafkasender"
)

// newCluster starts an in-process Kafka cluster with topic "orders" of
// partitions partitions, closed when t ends.
func newCluster(t testing.TB, partitions int32, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, "orders")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// newClient returns a producer client of c, closed when t ends.
func newClient(t testing.TB, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClientAt(t, c.ListenAddrs(), opts...)
}

func newClientAt(t testing.TB, addrs []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// newSender returns a sender of destination "orders" to topic "orders".
func newSender(t testing.TB, cl *kgo.Client, timeout time.Duration) *kafkasender.Sender {
	t.Helper()
	s, err := kafkasender.New(kafkasender.Config{
		Client:       cl,
		Destinations: map[string]kafkasender.Destination{"orders": {Topic: "orders"}, "missing": {Topic: "no-such-topic"}},
		Timeout:      timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func delivery(id, key, payload string) outbox.Delivery {
	return outbox.Delivery{Record: outbox.Record{Message: outbox.Message{ID: id, Destination: "orders", OrderingKey: key, Payload: []byte(payload)}, Attempt: 1}}
}

// consume reads the first n records of topic from c, within 20 s.
func consume(t testing.TB, c *kfake.Cluster, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := newClient(t, c, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	if len(out) < n {
		t.Fatalf("consumed %d records of %s in 20 s, want %d", len(out), topic, n)
	}
	return out
}

// headers returns r's headers by name, and fails t on a repeated name.
func headers(t testing.TB, r *kgo.Record) map[string]string {
	t.Helper()
	h := map[string]string{}
	for _, kv := range r.Headers {
		if _, dup := h[kv.Key]; dup {
			t.Errorf("header %s twice", kv.Key)
		}
		h[kv.Key] = string(kv.Value)
	}
	return h
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
