package natssender

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/outbox"
)

// OrderingKeyToken in a Destination's Subject stands for the message's
// ordering key: "orders.{ordering_key}" publishes the messages of key
// "eu-17" on orders.eu-17.
const OrderingKeyToken = "{ordering_key}"

// DefaultTimeout bounds one publish, from sending it to JetStream's ack,
// when Config.Timeout is 0.
const DefaultTimeout = 10 * time.Second

// Headers set on every published message, besides the message's own.
const (
	HeaderMessageID   = "Rebound-Message-Id"
	HeaderAttempt     = "Rebound-Attempt"
	HeaderDestination = "Rebound-Destination"
)

// Destination is where a destination's messages go on NATS.
type Destination struct {
	// Subject the messages are published on; a stream must capture it.
	// It may hold OrderingKeyToken once, as one whole token, which the
	// message's ordering key replaces; a message without an ordering key
	// (or with one that is not a valid subject token) is then refused.
	Subject string
}

// Config configures a Sender.
type Config struct {
	// Conn is the connection to publish through. Required. The caller
	// owns it: connect with nats.RetryOnFailedConnect(true) and
	// nats.MaxReconnects(-1), so that a server that is down, at start or
	// later, makes publishes fail (and the relay retry them) instead of
	// closing the connection for good.
	Conn *nats.Conn
	// Destinations by name (Message.Destination). Required.
	Destinations map[string]Destination
	// Timeout bounds one publish until JetStream's ack. Default 10 s.
	Timeout time.Duration
}

// Sender publishes outbox messages to NATS JetStream: an outbox.Sender.
type Sender struct {
	js      jetstream.JetStream
	conn    *nats.Conn
	dests   map[string]Destination
	timeout time.Duration
}

// New returns a Sender, or a *rebound.ConfigError naming the first
// invalid field. It sends nothing: a server that is down does not fail
// it.
func New(cfg Config) (*Sender, error) {
	bad := func(field, problem string) error {
		return &rebound.ConfigError{Field: field, Problem: problem}
	}
	switch {
	case cfg.Conn == nil:
		return nil, bad("Conn", "required")
	case len(cfg.Destinations) == 0:
		return nil, bad("Destinations", "want at least one destination")
	case cfg.Timeout < 0:
		return nil, bad("Timeout", "want a positive duration, or 0 for the default")
	}
	for name, d := range cfg.Destinations {
		if err := checkSubject(d.Subject); err != "" {
			return nil, bad("Destinations["+strconv.Quote(name)+"].Subject", err)
		}
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, bad("Conn", err.Error())
	}
	s := &Sender{js: js, conn: cfg.Conn, dests: cfg.Destinations, timeout: cfg.Timeout}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	return s, nil
}

// checkSubject returns what is wrong with a destination's subject, or "".
func checkSubject(subj string) string {
	if subj == "" {
		return "required"
	}
	if strings.Count(subj, OrderingKeyToken) > 1 {
		return "want " + OrderingKeyToken + " at most once"
	}
	for _, tok := range strings.Split(subj, ".") {
		switch {
		case tok == OrderingKeyToken:
		case tok == "":
			return "want dot-separated tokens, none empty, such as orders.created"
		case tok == "*" || tok == ">" || strings.ContainsAny(tok, "*> \t\r\n{}"):
			return "want a literal subject: no wildcards, spaces or braces (except " + OrderingKeyToken + " as a whole token)"
		}
	}
	return ""
}

// subject returns the subject of m on dest, or a *outbox.FieldError
// saying why m cannot go there.
func subject(dest Destination, m outbox.Message) (string, error) {
	for k := range m.Headers {
		if len(k) >= 5 && strings.EqualFold(k[:5], "Nats-") {
			// Nats-Rollup would purge the stream, Nats-Msg-Id undo the
			// deduplication: JetStream's own headers are not the
			// message's to set.
			return "", &outbox.FieldError{Field: "Headers", Expected: "no JetStream header (Nats-…): the sender sets Nats-Msg-Id itself, got " + strconv.Quote(k)}
		}
	}
	if !strings.Contains(dest.Subject, OrderingKeyToken) {
		return dest.Subject, nil
	}
	k := m.OrderingKey
	if k == "" || strings.ContainsAny(k, ".*> \t\r\n") {
		return "", &outbox.FieldError{Field: "OrderingKey", Expected: "a subject token for " + OrderingKeyToken + " (non-empty, no dots, spaces or wildcards), got " + strconv.Quote(k)}
	}
	return strings.Replace(dest.Subject, OrderingKeyToken, k, 1), nil
}

// Check reports, as a *outbox.FieldError, why m cannot be published to its
// destination (a subject built from an ordering key it lacks, a Nats-…
// header), or nil: a caller can refuse m before enqueueing it, instead of
// seeing it go dead. An unknown destination is not checked here.
func (s *Sender) Check(m outbox.Message) error {
	dest, ok := s.dests[m.Destination]
	if !ok {
		return nil
	}
	_, err := subject(dest, m)
	return err
}

// Send publishes d with Nats-Msg-Id set to its ID and waits for
// JetStream's ack; a nil error means the stream holds the message (a
// duplicate the stream dropped included). Errors are *Error values.
func (s *Sender) Send(ctx context.Context, d outbox.Delivery) error {
	dest, ok := s.dests[d.Destination]
	if !ok {
		return &Error{Destination: d.Destination, Op: "route", class: logic, Err: errors.New("no destination by this name is configured")}
	}
	subj, err := subject(dest, d.Message)
	if err != nil {
		return &Error{Destination: d.Destination, Op: "route", class: logic, Err: err}
	}
	m := nats.NewMsg(subj)
	m.Data = d.Payload
	for k, v := range d.Headers {
		m.Header.Set(k, v)
	}
	m.Header.Set(jetstream.MsgIDHeader, d.ID)
	m.Header.Set(HeaderMessageID, d.ID)
	m.Header.Set(HeaderAttempt, strconv.Itoa(d.Attempt))
	m.Header.Set(HeaderDestination, d.Destination)
	if tp, ts := outbox.TraceContext(ctx); tp != "" { // the delivery span's W3C trace context
		m.Header.Set("traceparent", tp)
		if ts != "" {
			m.Header.Set("tracestate", ts)
		}
	}

	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// No retries of the client's own on no responders: the relay retries,
	// with its backoff, and its breaker sees each failure.
	_, err = s.js.PublishMsg(ctx, m, jetstream.WithRetryAttempts(0))
	if err != nil {
		return s.classify(ctx, d.Destination, subj, err)
	}
	return nil
}

// Ping reports whether the connection is up and JetStream answers, for
// readiness checks.
func (s *Sender) Ping(ctx context.Context) error {
	if !s.conn.IsConnected() {
		return &Error{Op: "ping", class: connection, Err: fmt.Errorf("not connected (%s)", s.conn.Status())}
	}
	if _, err := s.js.AccountInfo(ctx); err != nil {
		return &Error{Op: "ping", class: connection, Err: err}
	}
	return nil
}
