package kafkasender

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/outbox"
)

// DefaultTimeout bounds one Send, from handing the record to the client to
// the broker's ack, when Config.Timeout is 0.
const DefaultTimeout = 30 * time.Second

// Headers set on every record, besides the message's own.
const (
	HeaderMessageID   = "Rebound-Message-Id"
	HeaderAttempt     = "Rebound-Attempt"
	HeaderDestination = "Rebound-Destination"
	// HeaderContentType carries the message's Content-Type header, when it
	// has one (in any case): Kafka header names are case-sensitive, so it
	// is written with this spelling.
	HeaderContentType = "Content-Type"
)

// MaxTopicLength is the longest topic name Kafka accepts.
const MaxTopicLength = 249

// Destination is where a destination's messages go on Kafka.
type Destination struct {
	// Topic the records are produced to; it must exist (or the brokers
	// must create topics on first use). Required: 1 to 249 characters
	// of a-z, A-Z, 0-9, '.', '_' and '-', and not "." or "..".
	Topic string
}

// Config configures a Sender. Client and Destinations are required; a
// zero Timeout means DefaultTimeout.
type Config struct {
	// Client produces the records. Required. The caller owns it: the
	// Sender never closes it, so close it after the relay has stopped
	// (Client.Close fails the records it still holds). It must be an
	// idempotent producer with acks=all, franz-go's defaults: New refuses
	// a client made with kgo.DisableIdempotentWrite or a RequiredAcks
	// other than kgo.AllISRAcks, a transactional client (each produce
	// would need a transaction) and one with kgo.ManualFlushing (a Send
	// would wait for a Flush).
	Client *kgo.Client
	// Destinations by name (Message.Destination). Required.
	Destinations map[string]Destination
	// Timeout bounds one Send until the broker's ack. Default 30 s. A
	// Send that times out returns a Connection error; the client may
	// still deliver the record it was given (see the package doc).
	Timeout time.Duration
}

// Sender produces outbox messages to Kafka: an outbox.Sender. It is safe
// for concurrent use.
type Sender struct {
	cl      *kgo.Client
	dests   map[string]Destination
	timeout time.Duration
	closed  atomic.Bool
}

// New returns a Sender, or a *rebound.ConfigError naming the first
// invalid field. It sends nothing: a cluster that is down does not fail
// it.
func New(cfg Config) (*Sender, error) {
	bad := func(field, problem string) error {
		return &rebound.ConfigError{Field: "kafkasender.Config." + field, Problem: problem}
	}
	switch {
	case cfg.Client == nil:
		return nil, bad("Client", "required")
	case len(cfg.Destinations) == 0:
		return nil, bad("Destinations", "want at least one destination")
	case cfg.Timeout < 0:
		return nil, bad("Timeout", "want a positive duration, or 0 for the default")
	}
	if problem := checkClient(cfg.Client); problem != "" {
		return nil, bad("Client", problem)
	}
	dests := make(map[string]Destination, len(cfg.Destinations))
	for name, d := range cfg.Destinations {
		if problem := checkTopic(d.Topic); problem != "" {
			return nil, bad("Destinations["+strconv.Quote(name)+"].Topic", problem)
		}
		dests[name] = d
	}
	s := &Sender{cl: cfg.Client, dests: dests, timeout: cfg.Timeout}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	return s, nil
}

// checkClient returns why cl cannot be the Sender's producer, or "".
func checkClient(cl *kgo.Client) string {
	if acks, ok := cl.OptValue(kgo.RequiredAcks).(kgo.Acks); !ok || acks != kgo.AllISRAcks() {
		return "want a client producing with acks=all (kgo.AllISRAcks, the default): with fewer acks a record the broker acknowledged can be lost when its leader fails"
	}
	if off, _ := cl.OptValue(kgo.DisableIdempotentWrite).(bool); off {
		return "want an idempotent producer (no kgo.DisableIdempotentWrite): producer idempotence is what makes the client's retry of a produce whose answer was lost land once"
	}
	if v := cl.OptValues(kgo.TransactionalID); len(v) == 2 {
		if set, _ := v[1].(bool); set {
			return "want a client without kgo.TransactionalID: a transactional client produces only inside a transaction"
		}
	}
	if manual, _ := cl.OptValue(kgo.ManualFlushing).(bool); manual {
		return "want a client without kgo.ManualFlushing: a Send would wait for a Flush"
	}
	return ""
}

// checkTopic returns what is wrong with a topic name, or "".
func checkTopic(topic string) string {
	switch {
	case topic == "":
		return "required"
	case len(topic) > MaxTopicLength:
		return "want at most " + strconv.Itoa(MaxTopicLength) + " characters, got " + strconv.Itoa(len(topic))
	case topic == "." || topic == "..":
		return `want a topic name other than "." and ".."`
	}
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return "want only a-z, A-Z, 0-9, '.', '_' and '-', got " + strconv.Quote(topic)
		}
	}
	return ""
}

// errClosed is the cause of a Send after Close.
var errClosed = errors.New("sender closed")

// Send produces d to its destination's topic and waits for the broker's
// ack (from every in-sync replica): a nil error means the topic holds the
// record. The record's key is d's ordering key (none when it has none),
// so the messages of a key share a partition and keep their order. Errors
// are *Error values.
//
// Send returns when ctx ends or Config.Timeout passes, even while the
// client is still waiting to learn whether a produce it sent was written:
// the client then keeps the record and may still write it, once. The
// relay's retry of the message is a new record, which is why consumers
// dedupe by the Rebound-Message-Id header.
func (s *Sender) Send(ctx context.Context, d outbox.Delivery) error {
	dest, ok := s.dests[d.Destination]
	if !ok {
		return &Error{Destination: d.Destination, Op: "route", Err: errors.New("no destination by this name is configured"), class: rebound.Classification{Class: rebound.Logic}}
	}
	if s.closed.Load() {
		return &Error{Destination: d.Destination, Topic: dest.Topic, Op: "produce", Err: errClosed, class: rebound.Classification{Class: rebound.Connection, Retryable: true}}
	}
	rec := record(ctx, dest.Topic, d)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// The client answers a record only once it knows whether it was
	// written, which can take as long as the cluster is unreachable; the
	// goroutine waits for that answer, and Send only as long as ctx
	// lasts. The goroutine ends when the client answers: on the ack, on
	// the record failing (the client fails a record whose context ended
	// as soon as that is safe), or at the latest when the caller closes
	// the Client.
	done := make(chan error, 1)
	go func() { done <- s.cl.ProduceSync(ctx, rec).FirstErr() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		// The record's fate may be unknown: it may be in the topic, or
		// be written later.
		err = context.Cause(ctx)
	}
	if err != nil {
		return newError(d.Destination, dest.Topic, "produce", err)
	}
	return nil
}

// record builds the Kafka record of d, with the W3C trace context of
// ctx's span (the relay's delivery span) as traceparent and tracestate
// headers.
func record(ctx context.Context, topic string, d outbox.Delivery) *kgo.Record {
	rec := &kgo.Record{Topic: topic, Value: d.Payload}
	if d.OrderingKey != "" {
		rec.Key = []byte(d.OrderingKey)
	}
	names := make([]string, 0, len(d.Headers))
	for k := range d.Headers {
		names = append(names, k)
	}
	slices.Sort(names) // one order for every attempt
	rec.Headers = make([]kgo.RecordHeader, 0, len(names)+3)
	for _, k := range names {
		name := k
		switch {
		case strings.EqualFold(k, HeaderContentType):
			name = HeaderContentType
		case strings.EqualFold(k, HeaderMessageID), strings.EqualFold(k, HeaderAttempt), strings.EqualFold(k, HeaderDestination):
			continue // the sender's own, set below
		}
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: name, Value: []byte(d.Headers[k])})
	}
	rec.Headers = append(rec.Headers,
		kgo.RecordHeader{Key: HeaderMessageID, Value: []byte(d.ID)},
		kgo.RecordHeader{Key: HeaderAttempt, Value: []byte(strconv.Itoa(d.Attempt))},
		kgo.RecordHeader{Key: HeaderDestination, Value: []byte(d.Destination)},
	)
	if tp, ts := outbox.TraceContext(ctx); tp != "" {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: "traceparent", Value: []byte(tp)})
		if ts != "" {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: "tracestate", Value: []byte(ts)})
		}
	}
	return rec
}

// Ping reports whether a broker of the cluster answers, for readiness
// checks: nil, or a Connection *Error.
func (s *Sender) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return &Error{Op: "ping", Err: errClosed, class: rebound.Classification{Class: rebound.Connection, Retryable: true}}
	}
	if err := s.cl.Ping(ctx); err != nil {
		return &Error{Op: "ping", Err: err, class: rebound.Classification{Class: rebound.Connection, Retryable: true}}
	}
	return nil
}

// Close makes later Sends and Pings fail at once, with a Connection
// error, and returns nil. It does not close the Client, which the caller
// owns: stop the relay, Close the Sender, then close the Client, which
// fails the records it still holds (those of Sends that timed out) and
// ends the goroutines waiting for them. Close is safe to call twice.
func (s *Sender) Close() error {
	s.closed.Store(true)
	return nil
}
