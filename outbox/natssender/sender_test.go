package natssender_test

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/natssender"
)

func delivery(id, dest, key string, payload []byte) outbox.Delivery {
	var d outbox.Delivery
	d.ID, d.Destination, d.OrderingKey, d.Payload, d.Attempt = id, dest, key, payload, 1
	d.Headers = map[string]string{"Content-Type": "application/json"}
	return d
}

func newSender(t *testing.T, nc *nats.Conn, dests map[string]natssender.Destination, timeout time.Duration) *natssender.Sender {
	t.Helper()
	s, err := natssender.New(natssender.Config{Conn: nc, Destinations: dests, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// classOf returns the classification the relay would act on.
func classOf(t *testing.T, err error) rebound.Classification {
	t.Helper()
	var e *natssender.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is no *natssender.Error", err, err)
	}
	var p rebound.Policy
	return p.Classify(err)
}

func TestSendPublishesOnceWithHeaders(t *testing.T) {
	nc := connect(t, natsURL(t))
	prefix, st := testStream(t, nc, nil)
	s := newSender(t, nc, map[string]natssender.Destination{"orders": {Subject: prefix + ".orders"}}, 0)
	d := delivery("01J-msg-1", "orders", "", []byte(`{"n":1}`))
	d.Headers["X-Tenant"] = "acme"
	d.Attempt = 3
	// The relay's delivery span: its W3C trace context goes with the message.
	ctx := outbox.WithTraceContext(context.Background(), traceParent, "rojo=1")
	for range 3 { // a redelivery, twice: the stream keeps one
		if err := s.Send(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	msgs := streamMsgs(t, st)
	if len(msgs) != 1 {
		t.Fatalf("the stream holds %d messages, want 1: Nats-Msg-Id did not dedupe", len(msgs))
	}
	m := msgs[0]
	want := map[string]string{
		"Nats-Msg-Id": "01J-msg-1", "Rebound-Message-Id": "01J-msg-1", "Rebound-Attempt": "3",
		"Rebound-Destination": "orders", "Content-Type": "application/json", "X-Tenant": "acme",
		"traceparent": traceParent, "tracestate": "rojo=1",
	}
	for k, v := range want {
		if got := m.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if m.Subject != prefix+".orders" || !bytes.Equal(m.Data, []byte(`{"n":1}`)) {
		t.Errorf("got %s %q", m.Subject, m.Data)
	}
}

func TestSendSubjectFromOrderingKey(t *testing.T) {
	nc := connect(t, natsURL(t))
	prefix, st := testStream(t, nc, nil)
	s := newSender(t, nc, map[string]natssender.Destination{"orders": {Subject: prefix + ".orders." + natssender.OrderingKeyToken + ".created"}}, 0)
	if err := s.Send(context.Background(), delivery("a", "orders", "eu-17", []byte("{}"))); err != nil {
		t.Fatal(err)
	}
	if msgs := streamMsgs(t, st); len(msgs) != 1 || msgs[0].Subject != prefix+".orders.eu-17.created" {
		t.Fatalf("got %v", msgs)
	}
	for _, key := range []string{"", "a.b", "a b", "*", ">"} {
		err := s.Send(context.Background(), delivery("b", "orders", key, []byte("{}")))
		if cl := classOf(t, err); cl.Class != rebound.Logic || cl.Retryable {
			t.Errorf("ordering key %q: %v classified %+v, want logic", key, err, cl)
		}
	}
}

// Each row of the package doc's error table that a real server can
// produce here.
func TestSendClassifiesRefusals(t *testing.T) {
	nc := connect(t, natsURL(t))
	prefix, _ := testStream(t, nc, func(c *jetstream.StreamConfig) { c.MaxMsgSize = 64 })
	limited, _ := testStream(t, nc, func(c *jetstream.StreamConfig) { c.MaxMsgs = 1; c.Discard = jetstream.DiscardNew })
	s := newSender(t, nc, map[string]natssender.Destination{
		"small":    {Subject: prefix + ".small"},
		"nostream": {Subject: randName("nostream") + ".x"},
		"full":     {Subject: limited + ".full"},
	}, 2*time.Second)
	if err := s.Send(context.Background(), delivery("fills-it", "full", "", []byte("{}"))); err != nil {
		t.Fatal(err)
	}
	withHeader := delivery("h", "small", "", []byte("{}"))
	withHeader.Headers["Nats-Rollup"] = "all"
	for _, tc := range []struct {
		name  string
		d     outbox.Delivery
		class rebound.Class
		retry bool
		text  string
	}{
		{"unknown destination", delivery("u", "nowhere", "", []byte("{}")), rebound.Logic, false, "no destination"},
		{"a Nats- header", withHeader, rebound.Logic, false, "Nats-Rollup"},
		{"over max_payload", delivery("big", "small", "", bytes.Repeat([]byte("x"), int(nc.MaxPayload())+1)), rebound.Logic, false, "maximum payload"},
		{"no stream", delivery("n", "nostream", "", []byte("{}")), rebound.Logic, false, "no stream captures"},
		{"over the stream's max message size", delivery("m", "small", "", bytes.Repeat([]byte("x"), 200)), rebound.Logic, false, "size"},
		{"limits reached, discard new", delivery("second", "full", "", []byte("{}")), rebound.Response, true, "maximum messages"},
	} {
		err := s.Send(context.Background(), tc.d)
		if err == nil {
			t.Errorf("%s: delivered", tc.name)
			continue
		}
		cl := classOf(t, err)
		if cl.Class != tc.class || cl.Retryable != tc.retry || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %v classified %+v; want %v, retryable %v, naming %q", tc.name, err, cl, tc.class, tc.retry, tc.text)
		}
	}
}

// A server that cannot be reached makes a publish a Connection error that
// may have reached the stream; once it is back, the next attempt
// delivers.
func TestSendThroughAnOutage(t *testing.T) {
	u, err := url.Parse(natsURL(t))
	if err != nil {
		t.Fatal(err)
	}
	direct := connect(t, u.String())
	prefix, st := testStream(t, direct, nil)
	p := newProxy(t, u.Host)
	nc := connect(t, "nats://"+p.Addr())
	s := newSender(t, nc, map[string]natssender.Destination{"orders": {Subject: prefix + ".orders"}}, 300*time.Millisecond)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("ping while connected: %v", err)
	}
	p.Cut()
	err = s.Send(context.Background(), delivery("during", "orders", "", []byte("{}")))
	cl := classOf(t, err)
	if cl.Class != rebound.Connection || !cl.Retryable {
		t.Fatalf("publish during the outage: %v classified %+v, want a retryable connection error", err, cl)
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Fatal("ping during the outage: nil")
	}
	p.Restore()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err = s.Send(context.Background(), delivery("during", "orders", "", []byte("{}")))
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("publish after the outage: %v", err)
	}
	// The publish buffered during the outage may have reached the stream
	// on reconnect; with its redelivery it is there once.
	if msgs := streamMsgs(t, st); len(msgs) != 1 {
		t.Fatalf("the stream holds %d messages, want 1", len(msgs))
	}
}

func TestSendOnAClosedConnection(t *testing.T) {
	nc := connect(t, natsURL(t))
	s := newSender(t, nc, map[string]natssender.Destination{"orders": {Subject: "rb.closed"}}, 0)
	nc.Close()
	err := s.Send(context.Background(), delivery("c", "orders", "", []byte("{}")))
	if cl := classOf(t, err); cl.Class != rebound.Connection || !errors.Is(err, nats.ErrConnectionClosed) {
		t.Fatalf("%v classified %+v, want connection", err, cl)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	nc := connect(t, natsURL(t))
	for _, tc := range []struct {
		cfg   natssender.Config
		field string
	}{
		{natssender.Config{Destinations: map[string]natssender.Destination{"a": {Subject: "a"}}}, "Conn"},
		{natssender.Config{Conn: nc}, "Destinations"},
		{natssender.Config{Conn: nc, Destinations: map[string]natssender.Destination{"a": {}}}, `Destinations["a"].Subject`},
		{natssender.Config{Conn: nc, Destinations: map[string]natssender.Destination{"a": {Subject: "orders.*"}}}, `Destinations["a"].Subject`},
		{natssender.Config{Conn: nc, Destinations: map[string]natssender.Destination{"a": {Subject: "orders..x"}}}, `Destinations["a"].Subject`},
		{natssender.Config{Conn: nc, Destinations: map[string]natssender.Destination{"a": {Subject: "o.{ordering_key}.{ordering_key}"}}}, `Destinations["a"].Subject`},
		{natssender.Config{Conn: nc, Destinations: map[string]natssender.Destination{"a": {Subject: "o.x{ordering_key}"}}}, `Destinations["a"].Subject`},
		{natssender.Config{Conn: nc, Destinations: map[string]natssender.Destination{"a": {Subject: "a"}}, Timeout: -1}, "Timeout"},
	} {
		_, err := natssender.New(tc.cfg)
		var ce *rebound.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("New(%+v) = %v, want a ConfigError on %s", tc.cfg, err, tc.field)
		}
	}
}

func TestCheckWindows(t *testing.T) {
	nc := connect(t, natsURL(t))
	short, _ := testStream(t, nc, func(c *jetstream.StreamConfig) { c.Duplicates = 2 * time.Minute })
	long, _ := testStream(t, nc, func(c *jetstream.StreamConfig) { c.Duplicates = 2 * time.Hour })
	s := newSender(t, nc, map[string]natssender.Destination{
		"short": {Subject: short + ".x"},
		"long":  {Subject: long + "." + natssender.OrderingKeyToken},
	}, 0)
	ctx := context.Background()
	if err := s.CheckWindows(ctx, time.Minute); err != nil {
		t.Fatalf("need 1m: %v", err)
	}
	err := s.CheckWindows(ctx, time.Hour+30*time.Second)
	var we *natssender.WindowError
	if !errors.As(err, &we) || len(we.Short) != 1 || we.Short[0].Destination != "short" || we.Short[0].Stream != short || we.Short[0].Window != 2*time.Minute {
		t.Fatalf("need 1h30s: %v, want the short stream named", err)
	}
	if !strings.Contains(err.Error(), "1h0m30s") {
		t.Errorf("error does not say what window is needed: %v", err)
	}
	missing := newSender(t, nc, map[string]natssender.Destination{"gone": {Subject: randName("gone") + ".x"}}, 0)
	if err := missing.CheckWindows(ctx, time.Minute); classOf(t, err).Class != rebound.Logic {
		t.Fatalf("no stream: %v, want a logic error", err)
	}
}

func TestCheckRefusesWhatCannotBePublished(t *testing.T) {
	nc := connect(t, natsURL(t))
	s := newSender(t, nc, map[string]natssender.Destination{
		"keyed": {Subject: "orders." + natssender.OrderingKeyToken},
		"plain": {Subject: "orders.created"},
	}, 0)
	for _, tc := range []struct {
		m     outbox.Message
		field string
	}{
		{outbox.Message{Destination: "keyed", OrderingKey: "eu-1"}, ""},
		{outbox.Message{Destination: "keyed"}, "OrderingKey"},
		{outbox.Message{Destination: "keyed", OrderingKey: "a.b"}, "OrderingKey"},
		{outbox.Message{Destination: "plain"}, ""},
		{outbox.Message{Destination: "plain", Headers: map[string]string{"nats-rollup": "all"}}, "Headers"},
		{outbox.Message{Destination: "elsewhere"}, ""},
	} {
		err := s.Check(tc.m)
		var fe *outbox.FieldError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("Check(%+v) = %v, want nil", tc.m, err)
		case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
			t.Errorf("Check(%+v) = %v, want a FieldError on %s", tc.m, err, tc.field)
		}
	}
}

// traceParent is a W3C traceparent, as the relay's delivery span has.
const traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
