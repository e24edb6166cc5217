package daemon_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rebound-go/rebound/internal/tcpproxy"
)

// natsStream creates a stream of its own on the test server, capturing
// "<prefix>.>", with a 2-minute duplicate window; it is deleted when t
// ends.
func natsStream(t *testing.T) (u *url.URL, prefix string, st jetstream.Stream) {
	t.Helper()
	addr := os.Getenv("REBOUND_TEST_NATS")
	if addr == "" {
		t.Skip("REBOUND_TEST_NATS is unset: no NATS server with JetStream (e.g. nats://127.0.0.1:4222)")
	}
	u, err := url.Parse(addr)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	b := make([]byte, 6)
	rand.Read(b)
	prefix = "rbd" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: prefix, Subjects: []string{prefix + ".>"}, Storage: jetstream.MemoryStorage, Duplicates: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), prefix) })
	return u, prefix, st
}

// A NATS destination whose server is unreachable when the relay starts:
// the relay starts anyway, says so on /readyz, accepts messages, and
// publishes them once the server answers; it warns that the stream's
// duplicate window is shorter than a redelivery can be late.
func TestNATSDestinationDownAtStart(t *testing.T) {
	u, prefix, st := natsStream(t)
	p, err := tcpproxy.New(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Cut()
	d := start(t, fmt.Sprintf("destinations:\n  shipments:\n    kind: nats\n    headers: {X-Env: test}\n    nats: {servers: ['nats://%s'], subject: '%s.shipments.{ordering_key}'}\n", p.Addr(), prefix), true)

	resp, body := d.get(t, "/readyz")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "destination shipments (nats): unreachable") {
		t.Fatalf("/readyz with NATS down: %d %q; want 200 listing the destination as unreachable", resp.StatusCode, body)
	}
	// A message the subject cannot be built for is refused before it is
	// stored, naming the field.
	resp, m := d.do(t, "POST", "/v1/messages", adminToken, `{"destination":"shipments","payload":{"n":0}}`)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(fmt.Sprint(m), "ordering_key") {
		t.Fatalf("enqueue without an ordering key: %d %v; want 422 naming ordering_key", resp.StatusCode, m)
	}
	resp, m = d.do(t, "POST", "/v1/messages", adminToken, `{"destination":"shipments","ordering_key":"eu-1","payload":{"n":1}}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("enqueue: %d %v", resp.StatusCode, m)
	}
	id := m["id"].(string)

	p.Restore()
	d.waitState(t, id, "sent")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg, err := st.GetLastMsgForSubject(ctx, prefix+".shipments.eu-1")
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Nats-Msg-Id") != id || msg.Header.Get("X-Env") != "test" || string(msg.Data) != `{"n":1}` {
		t.Fatalf("published %v %q", msg.Header, msg.Data)
	}
	resp, body = d.get(t, "/readyz")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "destination shipments (nats): ok") {
		t.Fatalf("/readyz with NATS back: %d %q", resp.StatusCode, body)
	}
	for range 500 {
		if strings.Contains(d.logs.String(), "duplicate window is shorter") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no warning about the 2m duplicate window; logs:\n%s", d.logs.String())
}

// A NATS destination whose subject no stream captures: its messages go
// dead at once with the reason, and the relay says so in its log.
func TestNATSDestinationWithoutAStream(t *testing.T) {
	u, _, _ := natsStream(t)
	d := start(t, fmt.Sprintf("destinations:\n  lost:\n    kind: nats\n    nats: {servers: ['%s'], subject: nostream.%d}\n", u.String(), time.Now().UnixNano()), true)
	_, m := d.do(t, "POST", "/v1/messages", adminToken, `{"destination":"lost","payload":{}}`)
	id, _ := m["id"].(string)
	got := d.waitState(t, id, "dead")
	if !strings.Contains(fmt.Sprint(got["last_error"]), "no stream captures") {
		t.Fatalf("dead message: %v; want the reason", got)
	}
}

func (r *running) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(r.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// A Kafka destination (kfake, an in-process cluster speaking the
// protocol): the message is produced keyed by its ordering key, with its
// ID in a header, and /readyz lists the destination.
func TestKafkaDestination(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "invoices"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := start(t, fmt.Sprintf("destinations:\n  invoices:\n    kind: kafka\n    kafka: {brokers: ['%s'], topic: invoices}\n", c.ListenAddrs()[0]), true)
	_, m := d.do(t, "POST", "/v1/messages", adminToken, `{"destination":"invoices","ordering_key":"cust-7","payload":{"n":1}}`)
	id, _ := m["id"].(string)
	d.waitState(t, id, "sent")

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("invoices"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fs := cl.PollFetches(ctx)
	if err := fs.Err(); err != nil {
		t.Fatal(err)
	}
	recs := fs.Records()
	if len(recs) != 1 || string(recs[0].Key) != "cust-7" || string(recs[0].Value) != `{"n":1}` {
		t.Fatalf("records %v", recs)
	}
	var gotID string
	for _, h := range recs[0].Headers {
		if h.Key == "Rebound-Message-Id" {
			gotID = string(h.Value)
		}
	}
	if gotID != id {
		t.Fatalf("Rebound-Message-Id %q, want %q", gotID, id)
	}
	if resp, body := d.get(t, "/readyz"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "destination invoices (kafka): ok") {
		t.Fatalf("/readyz: %d %q", resp.StatusCode, body)
	}
}

// A RabbitMQ destination whose broker is unreachable at start (a cut
// proxy): the relay starts, lists it as unreachable, and publishes once
// the broker answers; an unroutable message goes dead with the reason.
func TestAMQPDestinationDownAtStart(t *testing.T) {
	addr := os.Getenv("REBOUND_TEST_AMQP")
	if addr == "" {
		t.Skip("REBOUND_TEST_AMQP is unset: no RabbitMQ (e.g. amqp://guest:guest@127.0.0.1:5672/)")
	}
	u, err := url.Parse(addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := amqp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	queue := "rbd-" + hex.EncodeToString(b)
	if _, err := ch.QueueDeclare(queue, false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	defer ch.QueueDelete(queue, false, false, false)

	p, err := tcpproxy.New(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Cut()
	pass, _ := u.User.Password()
	d := start(t, fmt.Sprintf("destinations:\n  emails:\n    kind: amqp\n    amqp: {url: 'amqp://%s@%s/', password: '%s', routing_key: %s}\n  nowhere:\n    kind: amqp\n    amqp: {url: 'amqp://%s@%s/', password: '%s', routing_key: no-such-queue-%s}\n",
		u.User.Username(), p.Addr(), pass, queue, u.User.Username(), p.Addr(), pass, queue), true)
	if resp, body := d.get(t, "/readyz"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "destination emails (amqp): unreachable") {
		t.Fatalf("/readyz with RabbitMQ down: %d %q", resp.StatusCode, body)
	}
	_, m := d.do(t, "POST", "/v1/messages", adminToken, `{"destination":"emails","payload":{"to":"a@example.com"}}`)
	id, _ := m["id"].(string)
	p.Restore()
	d.waitState(t, id, "sent")
	got, ok, err := ch.Get(queue, true)
	if err != nil || !ok || got.MessageId != id || string(got.Body) != `{"to":"a@example.com"}` {
		t.Fatalf("queue holds %+v (%v, %v)", got, ok, err)
	}
	_, m = d.do(t, "POST", "/v1/messages", adminToken, `{"destination":"nowhere","payload":{}}`)
	id, _ = m["id"].(string)
	dead := d.waitState(t, id, "dead")
	if !strings.Contains(fmt.Sprint(dead["last_error"]), "unroutable") {
		t.Fatalf("unroutable message: %v", dead)
	}
}
