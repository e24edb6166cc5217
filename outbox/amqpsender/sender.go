package amqpsender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/outbox"
)

// Defaults of Config.
const (
	DefaultConfirmTimeout = 10 * time.Second
	DefaultMinReconnect   = 100 * time.Millisecond
	DefaultMaxReconnect   = 30 * time.Second
	DefaultMaxChannels    = 64
)

// Headers set on every published message, besides the message's own.
// Rebound-Attempt is an integer (a signed 32-bit AMQP field); the others
// are strings.
const (
	HeaderMessageID   = "Rebound-Message-Id"
	HeaderAttempt     = "Rebound-Attempt"
	HeaderDestination = "Rebound-Destination"
)

// Destination is where a destination's messages go on the broker.
type Destination struct {
	// Exchange the messages are published to; "" is the default
	// exchange, which routes to the queue named by RoutingKey.
	Exchange string
	// RoutingKey of the messages. Required with the default exchange;
	// it may be "" for a named exchange that ignores it (fanout, headers).
	RoutingKey string
}

// Config configures a Sender. The zero value of every field but URL or
// Dial, and Destinations, means its default.
type Config struct {
	// URL of the broker, amqp:// or amqps://
	// (amqp://user:password@host:5672/vhost). Exactly one of URL and
	// Dial is required. The password never appears in an error or a log
	// line.
	URL string
	// Dial opens a connection, for what URL cannot say (TLS settings, a
	// custom net.Dialer): amqp.DialConfig with the settings you need.
	// Leave amqp.Config.Recovery nil: the Sender replaces a connection
	// that died itself. Dial should return by ctx's deadline.
	Dial func(ctx context.Context) (*amqp.Connection, error)
	// Destinations by name (Message.Destination). Required.
	Destinations map[string]Destination
	// ConfirmTimeout bounds one Send, from taking a channel to the
	// broker's publisher confirm, and one dial, when the caller's context
	// has no earlier deadline. Default 10 s.
	ConfirmTimeout time.Duration
	// MinReconnect and MaxReconnect space the attempts to replace a
	// connection that failed or died: the first waits MinReconnect, each
	// next one twice the last, up to MaxReconnect. A Send in the wait
	// fails at once with a Connection error that says when the next
	// attempt is. Defaults 100 ms and 30 s.
	MinReconnect time.Duration
	MaxReconnect time.Duration
	// MaxChannels bounds the channels open at once: each carries one
	// publish at a time, awaiting its confirm, so it bounds the
	// concurrent Sends too; more wait for a channel. Default 64.
	MaxChannels int
	// Logger receives connection failures and reconnections. Default
	// slog.Default().
	Logger *slog.Logger
}

// Sender publishes outbox messages to RabbitMQ, or another AMQP 0-9-1
// broker: an outbox.Sender. It holds one connection, opened on the first
// Send, shared by all concurrent Sends, each on a channel of its own in
// confirm mode. It is safe for concurrent use.
type Sender struct {
	dests          map[string]Destination
	dial           func(ctx context.Context) (*amqp.Connection, error)
	broker         string // host:port/vhost, for logs: no credentials
	confirmTimeout time.Duration
	minReconnect   time.Duration
	maxReconnect   time.Duration
	log            *slog.Logger
	slots          chan struct{} // one per Send holding a channel

	mu       sync.Mutex
	conn     *amqp.Connection // nil when none
	idle     []*pubChannel    // channels of conn free for a publish
	dialing  chan struct{}    // closed when the dial under way ends; nil when none
	failures int              // dials failed and connections lost since the last good dial
	next     time.Time        // no dial before this
	lastErr  error            // why the last dial failed, or the connection died
	closed   bool
	wg       sync.WaitGroup // the connection watchers and channel closers
}

// New returns a Sender, or a *rebound.ConfigError naming the first
// invalid field. It does not connect: a broker that is down at start
// fails the Sends (which the relay retries), not New.
func New(cfg Config) (*Sender, error) {
	bad := func(field, problem string) (*Sender, error) {
		return nil, &rebound.ConfigError{Field: "amqpsender.Config." + field, Problem: problem}
	}
	var broker string
	switch {
	case cfg.URL == "" && cfg.Dial == nil:
		return bad("URL", "required, or Dial")
	case cfg.URL != "" && cfg.Dial != nil:
		return bad("URL", "want URL or Dial, not both")
	case cfg.URL != "":
		u, err := amqp.ParseURI(cfg.URL)
		if err != nil {
			// Not err's text: it may quote the URL, password and all.
			return bad("URL", "want amqp://user:password@host:port/vhost or amqps://…; a reserved character in the user or password must be percent-encoded")
		}
		broker = u.Host + ":" + strconv.Itoa(u.Port) + "/" + u.Vhost
	}
	switch {
	case len(cfg.Destinations) == 0:
		return bad("Destinations", "want at least one destination")
	case cfg.ConfirmTimeout < 0:
		return bad("ConfirmTimeout", "want a positive duration, or 0 for the default (10 s)")
	case cfg.MinReconnect < 0:
		return bad("MinReconnect", "want a positive duration, or 0 for the default (100 ms)")
	case cfg.MaxReconnect < 0:
		return bad("MaxReconnect", "want a positive duration, or 0 for the default (30 s)")
	case cfg.MaxChannels < 0 || cfg.MaxChannels > 2000:
		return bad("MaxChannels", "want 1 to 2000 (under RabbitMQ's channel_max), or 0 for the default (64), got "+strconv.Itoa(cfg.MaxChannels))
	}
	for name, d := range cfg.Destinations {
		field := "Destinations[" + strconv.Quote(name) + "]"
		switch {
		case len(d.Exchange) > 255:
			return bad(field+".Exchange", "at most 255 bytes")
		case len(d.RoutingKey) > 255:
			return bad(field+".RoutingKey", "at most 255 bytes")
		case d.Exchange == "" && d.RoutingKey == "":
			return bad(field+".RoutingKey", "required with the default exchange (Exchange \"\"): the name of the queue")
		}
	}
	s := &Sender{
		dests:          make(map[string]Destination, len(cfg.Destinations)),
		dial:           cfg.Dial,
		broker:         broker,
		confirmTimeout: cfg.ConfirmTimeout,
		minReconnect:   cfg.MinReconnect,
		maxReconnect:   cfg.MaxReconnect,
		log:            cfg.Logger,
	}
	for name, d := range cfg.Destinations {
		s.dests[name] = d
	}
	if s.confirmTimeout == 0 {
		s.confirmTimeout = DefaultConfirmTimeout
	}
	if s.minReconnect == 0 {
		s.minReconnect = DefaultMinReconnect
	}
	if s.maxReconnect == 0 {
		s.maxReconnect = DefaultMaxReconnect
	}
	if s.maxReconnect < s.minReconnect {
		return bad("MaxReconnect", "want at least MinReconnect ("+s.minReconnect.String()+"), got "+s.maxReconnect.String())
	}
	if cfg.MaxChannels == 0 {
		cfg.MaxChannels = DefaultMaxChannels
	}
	s.slots = make(chan struct{}, cfg.MaxChannels)
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.dial == nil {
		url := cfg.URL
		s.dial = func(ctx context.Context) (*amqp.Connection, error) { return dialURL(ctx, url) }
	}
	return s, nil
}

// Send publishes d to its destination's exchange with its routing key,
// mandatory and persistent, and waits for the broker's publisher confirm;
// a nil error means the broker routed the message and took
// responsibility for it. Errors are *Error values.
//
// The message carries MessageId d.ID, Timestamp (now), ContentType (its
// Content-Type header, case-insensitive; unset when it has none) and a
// header table of its other headers as strings, and HeaderMessageID,
// HeaderAttempt and HeaderDestination.
func (s *Sender) Send(ctx context.Context, d outbox.Delivery) error {
	dest, ok := s.dests[d.Destination]
	if !ok {
		return &Error{Destination: d.Destination, Op: "route", class: rebound.Logic, Err: errors.New("no destination by this name is configured")}
	}
	ctx, cancel := context.WithTimeout(ctx, s.confirmTimeout)
	defer cancel()

	pc, err := s.channel(ctx)
	if err != nil {
		err.Destination = d.Destination
		return err
	}
	dc, perr := pc.ch.PublishWithDeferredConfirmWithContext(ctx, dest.Exchange, dest.RoutingKey, true, false, publishing(ctx, d))
	if perr != nil {
		s.discard(pc)
		return s.closedOr(pc, &Error{Destination: d.Destination, Op: "publish", class: causeClass(perr), Err: perr})
	}
	ack, werr := dc.WaitContext(ctx)
	if werr != nil {
		// Written, and no confirm in time: the broker may hold the
		// message, and the channel may still get its confirm or return,
		// so it is not used again.
		s.discard(pc)
		class := rebound.Connection
		if errors.Is(werr, context.Canceled) {
			class = rebound.Canceled
		}
		return &Error{Destination: d.Destination, Op: "confirm", class: class, sent: true, Err: fmt.Errorf("no publisher confirm before the deadline: %w", werr)}
	}
	// With mandatory set, the broker returns an unroutable message before
	// it acks it, and the client delivers both in that order: the return,
	// if any, is already buffered.
	select {
	case r, ok := <-pc.returns:
		if ok && r.MessageId == d.ID {
			if ack {
				s.release(pc)
			} else {
				s.discard(pc)
			}
			return &Error{Destination: d.Destination, Op: "return", Code: int(r.ReplyCode), class: rebound.Logic, sent: true,
				Err: returned(dest, r)}
		}
	default:
	}
	if ack {
		s.release(pc)
		return nil
	}
	// A nack, or the channel closed (the client resolves the confirms of
	// a closed channel as nacks, after it has sent the close error).
	if e := s.closedOr(pc, nil); e != nil {
		s.discard(pc)
		e.Destination, e.Op, e.sent = d.Destination, "publish", true
		return e
	}
	s.release(pc)
	return &Error{Destination: d.Destination, Op: "confirm", class: rebound.Response, sent: true,
		Err: errors.New("the broker nacked the message (basic.nack): it could not take it, e.g. a queue full with overflow reject-publish")}
}

// closedOr returns the error pc's channel was closed with, as an *Error,
// or fallback when it is open.
func (s *Sender) closedOr(pc *pubChannel, fallback *Error) *Error {
	select {
	case ae, ok := <-pc.closes:
		if ok && ae != nil {
			pc.closeErr = ae
		}
	default:
	}
	if pc.closeErr != nil {
		return &Error{Op: "publish", Code: pc.closeErr.Code, class: brokerClass(pc.closeErr), Err: pc.closeErr}
	}
	if pc.ch.IsClosed() && fallback == nil {
		return &Error{Op: "publish", class: rebound.Connection, Err: amqp.ErrClosed}
	}
	return fallback
}

// returned says why the broker returned a message.
func returned(dest Destination, r amqp.Return) error {
	cause := fmt.Errorf("returned (code %d)", r.ReplyCode)
	if r.ReplyCode == amqp.NoRoute {
		cause = ErrUnroutable
	}
	return fmt.Errorf("%w: exchange %q, routing key %q (%s)", cause, dest.Exchange, dest.RoutingKey, r.ReplyText)
}

// publishing builds the AMQP message of d, with the W3C trace context of
// ctx's span (the relay's delivery span) as traceparent and tracestate.
func publishing(ctx context.Context, d outbox.Delivery) amqp.Publishing {
	p := amqp.Publishing{
		Headers:      make(amqp.Table, len(d.Headers)+3),
		DeliveryMode: amqp.Persistent,
		MessageId:    d.ID,
		Timestamp:    time.Now(),
		Body:         d.Payload,
	}
	for k, v := range d.Headers {
		if strings.EqualFold(k, "Content-Type") {
			p.ContentType = v
			continue
		}
		p.Headers[k] = v
	}
	p.Headers[HeaderMessageID] = d.ID
	p.Headers[HeaderAttempt] = int32(d.Attempt)
	p.Headers[HeaderDestination] = d.Destination
	if tp, ts := outbox.TraceContext(ctx); tp != "" {
		p.Headers["traceparent"] = tp
		if ts != "" {
			p.Headers["tracestate"] = ts
		}
	}
	return p
}

// Ping connects if there is no connection (unless a reconnection is
// waiting out its backoff) and returns nil when connected: a readiness
// check. Errors are *Error values.
func (s *Sender) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.confirmTimeout)
	defer cancel()
	if _, err := s.connect(ctx); err != nil {
		err.Op = "ping"
		return err
	}
	return nil
}

// Close closes the connection, which fails the Sends in flight with
// Connection errors, and waits for the Sender's goroutines to end. Sends
// after Close fail. Closing twice is fine.
func (s *Sender) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	c := s.conn
	s.conn, s.idle = nil, nil
	s.mu.Unlock()
	var err error
	if c != nil {
		if err = c.Close(); errors.Is(err, amqp.ErrClosed) {
			err = nil
		}
	}
	s.wg.Wait()
	return err
}
