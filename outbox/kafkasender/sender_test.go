package kafkasender_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/kafkasender"
)

func TestNewRefusesBadConfig(t *testing.T) {
	c := newCluster(t, 1)
	good := newClient(t, c)
	dests := map[string]kafkasender.Destination{"orders": {Topic: "orders"}}
	for _, tc := range []struct {
		name  string
		cfg   kafkasender.Config
		field string
		says  string
	}{
		{"no client", kafkasender.Config{Destinations: dests}, "Client", "required"},
		{"acks=1", kafkasender.Config{Client: newClient(t, c, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()), Destinations: dests}, "Client", "acks=all"},
		{"not idempotent", kafkasender.Config{Client: newClient(t, c, kgo.DisableIdempotentWrite()), Destinations: dests}, "Client", "idempoten"},
		{"transactional", kafkasender.Config{Client: newClient(t, c, kgo.TransactionalID("tx")), Destinations: dests}, "Client", "TransactionalID"},
		{"manual flushing", kafkasender.Config{Client: newClient(t, c, kgo.ManualFlushing()), Destinations: dests}, "Client", "ManualFlushing"},
		{"no destinations", kafkasender.Config{Client: good}, "Destinations", "at least one"},
		{"negative timeout", kafkasender.Config{Client: good, Destinations: dests, Timeout: -time.Second}, "Timeout", "positive"},
		{"empty topic", kafkasender.Config{Client: good, Destinations: map[string]kafkasender.Destination{"orders": {}}}, `Destinations["orders"].Topic`, "required"},
		{"dot", kafkasender.Config{Client: good, Destinations: map[string]kafkasender.Destination{"orders": {Topic: "."}}}, `Destinations["orders"].Topic`, `"."`},
		{"dot dot", kafkasender.Config{Client: good, Destinations: map[string]kafkasender.Destination{"orders": {Topic: ".."}}}, `Destinations["orders"].Topic`, `".."`},
		{"space", kafkasender.Config{Client: good, Destinations: map[string]kafkasender.Destination{"orders": {Topic: "my orders"}}}, `Destinations["orders"].Topic`, "a-z"},
		{"slash", kafkasender.Config{Client: good, Destinations: map[string]kafkasender.Destination{"orders": {Topic: "a/b"}}}, `Destinations["orders"].Topic`, "a-z"},
		{"too long", kafkasender.Config{Client: good, Destinations: map[string]kafkasender.Destination{"orders": {Topic: strings.Repeat("a", 250)}}}, `Destinations["orders"].Topic`, "249"},
	} {
		_, err := kafkasender.New(tc.cfg)
		var ce *rebound.ConfigError
		if !errors.As(err, &ce) || ce.Field != "kafkasender.Config."+tc.field || !strings.Contains(ce.Problem, tc.says) {
			t.Errorf("%s: %v; want a ConfigError of field %s saying %q", tc.name, err, tc.field, tc.says)
		}
	}
	for _, topic := range []string{"a", "orders.v1", "Orders_2-x", "...", strings.Repeat("a", 249)} {
		if _, err := kafkasender.New(kafkasender.Config{Client: good, Destinations: map[string]kafkasender.Destination{"d": {Topic: topic}}}); err != nil {
			t.Errorf("topic %q: %v", topic, err)
		}
	}
}

// A Send lands one record: the ordering key as its key, the payload as
// its value, the rebound headers and the message's own.
func TestSendProducesTheRecord(t *testing.T) {
	c := newCluster(t, 3)
	s := newSender(t, newClient(t, c), 0)
	d := delivery("m1", "customer-7", `{"n":1}`)
	d.Attempt = 3
	d.Headers = map[string]string{"content-type": "application/json", "Trace": "abc", "rebound-attempt": "forged"}
	if err := s.Send(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	nokey := delivery("m2", "", "x")
	if err := s.Send(context.Background(), nokey); err != nil {
		t.Fatal(err)
	}
	recs := consume(t, c, "orders", 2)
	for _, r := range recs {
		h := headers(t, r)
		switch h[kafkasender.HeaderMessageID] {
		case "m1":
			if string(r.Key) != "customer-7" || string(r.Value) != `{"n":1}` {
				t.Errorf("key %q value %q", r.Key, r.Value)
			}
			want := map[string]string{"Rebound-Message-Id": "m1", "Rebound-Attempt": "3", "Rebound-Destination": "orders", "Content-Type": "application/json", "Trace": "abc"}
			if len(h) != len(want) {
				t.Errorf("headers %v, want %v", h, want)
			}
			for k, v := range want {
				if h[k] != v {
					t.Errorf("header %s = %q, want %q (all: %v)", k, h[k], v, h)
				}
			}
		case "m2":
			if r.Key != nil {
				t.Errorf("a message without an ordering key has key %q, want none", r.Key)
			}
			if _, ok := h[kafkasender.HeaderContentType]; ok {
				t.Errorf("Content-Type set without one in the message: %v", h)
			}
		default:
			t.Errorf("unexpected record %v", h)
		}
	}
}

// Each row of the package doc's error table.
func TestErrorTable(t *testing.T) {
	c := newCluster(t, 1)
	plain := newClient(t, c)
	noRetries := newClient(t, c, kgo.RecordRetries(0))
	recordTimeout := newClient(t, c, kgo.RecordDeliveryTimeout(time.Second), kgo.MetadataMinAge(50*time.Millisecond))
	small := newClient(t, c, kgo.ProducerBatchMaxBytes(1024))
	dead := newClientAt(t, []string{closedAddr(t)})

	closedCluster := newCluster(t, 1)
	afterClose := newClient(t, closedCluster)
	if err := newSender(t, afterClose, 0).Send(context.Background(), delivery("warm", "", "x")); err != nil {
		t.Fatal(err)
	}
	closedCluster.Close()

	type want struct {
		class rebound.Class
		retry bool
		maybe bool
	}
	logic := want{rebound.Logic, false, false}
	response := want{rebound.Response, true, false}
	connection := want{rebound.Connection, true, true}
	fault := func(e *kerr.Error) *kfake.Fault {
		return &kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "orders", Err: e, Count: -1}
	}
	for _, tc := range []struct {
		name    string
		client  *kgo.Client
		fault   *kfake.Fault
		dest    string
		payload int
		timeout time.Duration // of the Send; default 500 ms
		cause   error
		want    want
	}{
		{"unknown destination", plain, nil, "nowhere", 1, 0, nil, logic},
		{"UNKNOWN_TOPIC_OR_PARTITION after the client's retries", plain, nil, "missing", 1, 10 * time.Second, kerr.UnknownTopicOrPartition, logic},
		{"MESSAGE_TOO_LARGE", plain, fault(kerr.MessageTooLarge), "orders", 1, 0, kerr.MessageTooLarge, logic},
		{"record too large for the client", small, nil, "orders", 4096, 0, kerr.MessageTooLarge, logic},
		{"RECORD_LIST_TOO_LARGE", plain, fault(kerr.RecordListTooLarge), "orders", 1, 0, kerr.RecordListTooLarge, logic},
		{"TOPIC_AUTHORIZATION_FAILED", plain, fault(kerr.TopicAuthorizationFailed), "orders", 1, 0, kerr.TopicAuthorizationFailed, logic},
		{"INVALID_RECORD", plain, fault(kerr.InvalidRecord), "orders", 1, 0, kerr.InvalidRecord, logic},
		{"LEADER_NOT_AVAILABLE", noRetries, fault(kerr.LeaderNotAvailable), "orders", 1, 0, kerr.LeaderNotAvailable, response},
		{"NOT_LEADER_FOR_PARTITION", noRetries, fault(kerr.NotLeaderForPartition), "orders", 1, 0, kerr.NotLeaderForPartition, response},
		{"NOT_ENOUGH_REPLICAS", noRetries, fault(kerr.NotEnoughReplicas), "orders", 1, 0, kerr.NotEnoughReplicas, response},
		{"retriable, retried by the client until Timeout", plain, fault(kerr.LeaderNotAvailable), "orders", 1, 0, context.DeadlineExceeded, connection},
		{"REQUEST_TIMED_OUT (written, answered timed out)", plain, fault(kerr.RequestTimedOut), "orders", 1, 0, context.DeadlineExceeded, connection},
		{"kgo.ErrRecordTimeout", recordTimeout, fault(kerr.LeaderNotAvailable), "orders", 1, 10 * time.Second, kgo.ErrRecordTimeout, connection},
		{"nothing listening", dead, nil, "orders", 1, 0, context.DeadlineExceeded, connection},
		{"cluster gone", afterClose, nil, "orders", 1, 0, context.DeadlineExceeded, connection},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fault != nil {
				h := c.Fault(*tc.fault)
				defer h.Remove()
			}
			if tc.timeout == 0 {
				tc.timeout = 500 * time.Millisecond
			}
			s := newSender(t, tc.client, tc.timeout)
			d := delivery("id-"+tc.name, "", strings.Repeat("x", tc.payload))
			d.Destination = tc.dest
			err := s.Send(context.Background(), d)
			var ke *kafkasender.Error
			if !errors.As(err, &ke) {
				t.Fatalf("%v (%T), want a *kafkasender.Error", err, err)
			}
			cl := ke.Classification()
			if got := (want{cl.Class, cl.Retryable, cl.MaybeProcessed}); got != tc.want {
				t.Errorf("%v: %+v, want %+v", err, got, tc.want)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("%v does not wrap %v", err, tc.cause)
			}
			if !strings.Contains(err.Error(), "destination "+tc.dest) {
				t.Errorf("%q does not name the destination", err)
			}
			if tc.dest != "nowhere" && !strings.Contains(err.Error(), "topic ") {
				t.Errorf("%q does not name the topic", err)
			}
			var p rebound.Policy // the relay classifies with one
			if got := p.Classify(err); got.Class != cl.Class {
				t.Errorf("the relay's policy classifies it %v, want %v", got.Class, cl.Class)
			}
		})
	}
}

// A produce the broker writes but answers REQUEST_TIMED_OUT: the client's
// own retry is deduplicated by the broker (producer idempotence), so one
// record lands. A Send that gave up waiting, and the relay's retry of the
// message (a new record), land two: the consumer dedupes them by
// Rebound-Message-Id.
func TestAmbiguousWrite(t *testing.T) {
	c := newCluster(t, 1)
	cl := newClient(t, c)
	s := newSender(t, cl, 500*time.Millisecond)
	ctx := context.Background()

	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "orders", Err: kerr.RequestTimedOut})
	if err := s.Send(ctx, delivery("once", "k", "1")); err != nil {
		t.Fatalf("the client's retry after REQUEST_TIMED_OUT: %v", err)
	}
	if h.Hits() != 1 {
		t.Fatalf("the fault answered %d produces, want 1", h.Hits())
	}
	h = c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "orders", Err: kerr.RequestTimedOut, Count: -1})
	err := s.Send(ctx, delivery("twice", "k", "2"))
	if cl := rebound.Classify(err); cl.Class != rebound.Connection || !cl.MaybeProcessed {
		t.Fatalf("a Send whose produce keeps timing out: %v, %+v; want Connection, maybe processed", err, cl)
	}
	h.Remove()
	retry := delivery("twice", "k", "2")
	retry.Attempt = 2
	if err := s.Send(ctx, retry); err != nil {
		t.Fatalf("the relay's retry: %v", err)
	}
	recs := consume(t, c, "orders", 3)
	var ids []string
	seen := map[string]bool{}
	var applied []string
	for _, r := range recs {
		id := headers(t, r)[kafkasender.HeaderMessageID]
		ids = append(ids, id)
		if !seen[id] { // the consumer's dedupe
			seen[id] = true
			applied = append(applied, id)
		}
	}
	if strings.Join(ids, " ") != "once twice twice" {
		t.Errorf("the topic holds %v, want once, twice, twice", ids)
	}
	if strings.Join(applied, " ") != "once twice" {
		t.Errorf("deduped by header: %v", applied)
	}
}

func TestPingAndClose(t *testing.T) {
	c := newCluster(t, 1)
	cl := newClient(t, c)
	s := newSender(t, cl, 0)
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	dead := newSender(t, newClientAt(t, []string{closedAddr(t)}), 0)
	err := dead.Ping(ctx)
	if cl := rebound.Classify(err); err == nil || cl.Class != rebound.Connection {
		t.Errorf("ping of nothing: %v, %+v; want a Connection error", err, cl)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	err = s.Send(ctx, delivery("late", "", "x"))
	if cl := rebound.Classify(err); err == nil || cl.Class != rebound.Connection {
		t.Errorf("Send after Close: %v, %+v; want a Connection error", err, cl)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}
	// The client is the caller's: still open.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr(); err != nil {
		t.Errorf("the client after the sender's Close: %v", err)
	}
}

// One Send to an in-process cluster: the relay's per-message cost here.
func BenchmarkSend(b *testing.B) {
	c := newCluster(b, 1)
	s := newSender(b, newClient(b, c), 0)
	ctx := context.Background()
	d := delivery("bench", "k", `{"total":42}`)
	d.Headers = map[string]string{"Content-Type": "application/json"}
	for b.Loop() {
		if err := s.Send(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
}

var _ outbox.Sender = (*kafkasender.Sender)(nil)
