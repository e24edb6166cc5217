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
