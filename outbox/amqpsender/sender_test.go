package amqpsender_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/amqpsender"
)

func TestNewValidates(t *testing.T) {
	good := map[string]amqpsender.Destination{"orders": {Exchange: "orders", RoutingKey: "created"}}
	dial := func(context.Context) (*amqp.Connection, error) { return nil, errors.New("unused") }
	for _, tc := range []struct {
		name  string
		cfg   amqpsender.Config
		field string
	}{
		{"no URL nor Dial", amqpsender.Config{Destinations: good}, "amqpsender.Config.URL"},
		{"URL and Dial", amqpsender.Config{URL: "amqp://127.0.0.1/", Dial: dial, Destinations: good}, "amqpsender.Config.URL"},
		{"bad URL", amqpsender.Config{URL: "http://user:s3cret@127.0.0.1/", Destinations: good}, "amqpsender.Config.URL"},
		{"bad URL with a password", amqpsender.Config{URL: "amqp://user:s3cret@127.0.0.1:port/", Destinations: good}, "amqpsender.Config.URL"},
		{"no destinations", amqpsender.Config{URL: "amqp://127.0.0.1/"}, "amqpsender.Config.Destinations"},
		{"default exchange, no routing key", amqpsender.Config{URL: "amqp://127.0.0.1/", Destinations: map[string]amqpsender.Destination{"orders": {}}}, `amqpsender.Config.Destinations["orders"].RoutingKey`},
		{"long exchange", amqpsender.Config{URL: "amqp://127.0.0.1/", Destinations: map[string]amqpsender.Destination{"o": {Exchange: strings.Repeat("x", 256), RoutingKey: "k"}}}, `amqpsender.Config.Destinations["o"].Exchange`},
		{"negative timeout", amqpsender.Config{URL: "amqp://127.0.0.1/", Destinations: good, ConfirmTimeout: -1}, "amqpsender.Config.ConfirmTimeout"},
		{"negative reconnect", amqpsender.Config{URL: "amqp://127.0.0.1/", Destinations: good, MinReconnect: -1}, "amqpsender.Config.MinReconnect"},
		{"max under min", amqpsender.Config{URL: "amqp://127.0.0.1/", Destinations: good, MinReconnect: time.Second, MaxReconnect: time.Millisecond}, "amqpsender.Config.MaxReconnect"},
		{"too many channels", amqpsender.Config{URL: "amqp://127.0.0.1/", Destinations: good, MaxChannels: 5000}, "amqpsender.Config.MaxChannels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := amqpsender.New(tc.cfg)
			var ce *rebound.ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("got %v, want a *rebound.ConfigError for %s", err, tc.field)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
	// A named exchange may go without a routing key (fanout, headers).
	if _, err := amqpsender.New(amqpsender.Config{URL: "amqp://127.0.0.1/", Destinations: map[string]amqpsender.Destination{"all": {Exchange: "fanout"}}}); err != nil {
		t.Errorf("a fanout destination without a routing key: %v", err)
	}
}

// New connects to nothing, and a message for a destination not configured
// is a Logic error, without a connection.
func TestUnknownDestinationIsLogic(t *testing.T) {
	dials := 0
	s := newSender(t, amqpsender.Config{
		Dial:         func(context.Context) (*amqp.Connection, error) { dials++; return nil, errors.New("no broker") },
		Destinations: map[string]amqpsender.Destination{"orders": {RoutingKey: "orders"}},
	})
	err := s.Send(context.Background(), delivery("m1", "invoices", nil))
	e, c := classOf(t, err)
	if c.Class != rebound.Logic || c.Retryable || e.Op != "route" || e.Destination != "invoices" {
		t.Errorf("got %v (%+v), want a Logic error naming the destination", err, c)
	}
	if dials != 0 {
		t.Errorf("%d dials, want none", dials)
	}
}

// A message lands in the queue with every property and header, through a
// named exchange and through the default one.
func TestSendDeliversWithPropertiesAndHeaders(t *testing.T) {
	u := amqpURL(t)
	top := declare(t, u, nil)
	direct := randName("rb-direct-")
	declareQueue(t, u, direct, nil)
	s := newSender(t, amqpsender.Config{URL: u, Destinations: map[string]amqpsender.Destination{
		"orders": {Exchange: top.Exchange, RoutingKey: top.Key},
		"direct": {RoutingKey: direct},
	}})
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	d := delivery("01J-msg-1", "orders", []byte(`{"n":1}`))
	d.Headers["X-Tenant"] = "acme"
	d.Attempt = 3
	before := time.Now().Truncate(time.Second)
	if err := s.Send(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	got := drain(t, u, top.Queue, 1)
	if len(got) != 1 {
		t.Fatalf("the queue holds %d messages, want 1", len(got))
	}
	m := got[0]
	if !bytes.Equal(m.Body, []byte(`{"n":1}`)) || m.MessageId != "01J-msg-1" || m.ContentType != "application/json" ||
		m.DeliveryMode != amqp.Persistent || m.Timestamp.Before(before) || m.Exchange != top.Exchange || m.RoutingKey != top.Key {
		t.Errorf("got body %q, id %q, content type %q, mode %d, timestamp %v, exchange %s, key %s",
			m.Body, m.MessageId, m.ContentType, m.DeliveryMode, m.Timestamp, m.Exchange, m.RoutingKey)
	}
	want := amqp.Table{"Rebound-Message-Id": "01J-msg-1", "Rebound-Attempt": int32(3), "Rebound-Destination": "orders", "X-Tenant": "acme"}
	if len(m.Headers) != len(want) {
		t.Errorf("headers %v, want %v", m.Headers, want)
	}
	for k, v := range want {
		if m.Headers[k] != v {
			t.Errorf("header %s = %#v, want %#v", k, m.Headers[k], v)
		}
	}

	d = delivery("01J-msg-2", "direct", []byte("raw"))
	delete(d.Headers, "Content-Type")
	if err := s.Send(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	got = drain(t, u, direct, 1)
	if len(got) != 1 || got[0].MessageId != "01J-msg-2" || got[0].ContentType != "" || string(got[0].Body) != "raw" {
		t.Fatalf("through the default exchange: %+v", got)
	}
}

// Concurrent Sends share the connection, on channels of their own, more
// of them than MaxChannels: all are delivered.
func TestConcurrentSends(t *testing.T) {
	u := amqpURL(t)
	top := declare(t, u, nil)
	s := newSender(t, amqpsender.Config{URL: u, MaxChannels: 4, Destinations: map[string]amqpsender.Destination{"orders": {Exchange: top.Exchange, RoutingKey: top.Key}}})
	const workers, each = 16, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if err := s.Send(context.Background(), delivery(fmt.Sprintf("m-%d-%d", w, i), "orders", nil)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := drain(t, u, top.Queue, workers*each); len(got) != workers*each {
		t.Fatalf("the queue holds %d messages, want %d", len(got), workers*each)
	}
}

// An exchange that does not exist: the broker closes the channel with 404,
// a Logic error; the connection stays, and the next Send goes through.
func TestExchangeNotFoundIsLogic(t *testing.T) {
	u := amqpURL(t)
	top := declare(t, u, nil)
	missing := randName("rb-missing-")
	s := newSender(t, amqpsender.Config{URL: u, Destinations: map[string]amqpsender.Destination{
		"lost":   {Exchange: missing, RoutingKey: "k"},
		"orders": {Exchange: top.Exchange, RoutingKey: top.Key},
	}})
	err := s.Send(context.Background(), delivery("m1", "lost", nil))
	e, c := classOf(t, err)
	var ae *amqp.Error
	if c.Class != rebound.Logic || c.Retryable || e.Code != amqp.NotFound || !errors.As(err, &ae) || !strings.Contains(err.Error(), missing) {
		t.Errorf("got %v (%+v, code %d), want a Logic 404 naming the exchange", err, c, e.Code)
	}
	if err := s.Send(context.Background(), delivery("m2", "orders", nil)); err != nil {
		t.Fatalf("the next Send: %v", err)
	}
	if got := drain(t, u, top.Queue, 1); len(got) != 1 {
		t.Fatalf("the queue holds %d messages, want 1", len(got))
	}
}

// Publishing to an internal exchange is refused with 403 ACCESS_REFUSED: a
// Logic error.
func TestAccessRefusedIsLogic(t *testing.T) {
	u := amqpURL(t)
	ch := admin(t, u)
	internal := randName("rb-internal-")
	if err := ch.ExchangeDeclare(internal, amqp.ExchangeDirect, false, false, true, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteExchange(t, u, internal) })
	s := newSender(t, amqpsender.Config{URL: u, Destinations: map[string]amqpsender.Destination{"x": {Exchange: internal, RoutingKey: "k"}}})
	err := s.Send(context.Background(), delivery("m1", "x", nil))
	e, c := classOf(t, err)
	if c.Class != rebound.Logic || e.Code != amqp.AccessRefused {
		t.Errorf("got %v (%+v, code %d), want a Logic 403", err, c, e.Code)
	}
}

// An exchange with no queue bound for the routing key returns the
// mandatory message: unroutable, a Logic error with the reason; the
// channel stays usable.
func TestUnroutableIsLogic(t *testing.T) {
	u := amqpURL(t)
	top := declare(t, u, nil)
	s := newSender(t, amqpsender.Config{MaxChannels: 1, URL: u, Destinations: map[string]amqpsender.Destination{
		"nowhere": {Exchange: top.Exchange, RoutingKey: "unbound"},
		"orders":  {Exchange: top.Exchange, RoutingKey: top.Key},
	}})
	for i := range 2 {
		err := s.Send(context.Background(), delivery(fmt.Sprint("m", i), "nowhere", nil))
		e, c := classOf(t, err)
		want := fmt.Sprintf(`unroutable: exchange %q, routing key "unbound" (NO_ROUTE)`, top.Exchange)
		if c.Class != rebound.Logic || c.Retryable || !errors.Is(err, amqpsender.ErrUnroutable) || e.Code != amqp.NoRoute || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v (%+v), want a Logic error saying %s", err, c, want)
		}
	}
	if err := s.Send(context.Background(), delivery("m-ok", "orders", nil)); err != nil {
		t.Fatalf("the next Send: %v", err)
	}
	got := drain(t, u, top.Queue, 1)
	if len(got) != 1 || got[0].MessageId != "m-ok" {
		t.Fatalf("the queue holds %+v, want m-ok alone", got)
	}
}

// A queue full with overflow reject-publish nacks: a Response error,
// retried.
func TestNackIsResponse(t *testing.T) {
	u := amqpURL(t)
	top := declare(t, u, amqp.Table{"x-max-length": int32(0), "x-overflow": "reject-publish"})
	s := newSender(t, amqpsender.Config{URL: u, Destinations: map[string]amqpsender.Destination{"orders": {Exchange: top.Exchange, RoutingKey: top.Key}}})
	err := s.Send(context.Background(), delivery("m1", "orders", nil))
	_, c := classOf(t, err)
	if c.Class != rebound.Response || !c.Retryable || !strings.Contains(err.Error(), "nack") {
		t.Errorf("got %v (%+v), want a retryable Response error", err, c)
	}
}

// A message over the broker's max_message_size (128 MiB by default) is
// refused with 406 PRECONDITION_FAILED: a Logic error. (The outbox does
// not let such a message in; the sender is called directly.)
func TestTooLargeIsLogic(t *testing.T) {
	u := amqpURL(t)
	if testing.Short() {
		t.Skip("publishes 128 MiB")
	}
	top := declare(t, u, nil)
	s := newSender(t, amqpsender.Config{URL: u, ConfirmTimeout: time.Minute, Destinations: map[string]amqpsender.Destination{"orders": {Exchange: top.Exchange, RoutingKey: top.Key}}})
	err := s.Send(context.Background(), delivery("big", "orders", make([]byte, 128<<20+1)))
	e, c := classOf(t, err)
	if c.Class != rebound.Logic || e.Code != amqp.PreconditionFailed {
		t.Errorf("got %v (%+v, code %d), want a Logic 406", err, c, e.Code)
	}
}

// A broker that is down at start fails the Sends, not New; once it is up,
// a Send after the backoff connects. A connection cut under the Sender is
// a Connection error; the next Send in the backoff fails at once saying
// when the next attempt is, and a Send after it reconnects and delivers.
func TestConnectionCutReconnects(t *testing.T) {
	u := amqpURL(t)
	top := declare(t, u, nil)
	dial, proxy := viaProxy(t, u)
	proxy.Cut() // down at start
	const minWait = time.Second
	s := newSender(t, amqpsender.Config{Dial: dial, MinReconnect: minWait, MaxReconnect: 4 * minWait,
		Logger:       slog.New(slog.DiscardHandler),
		Destinations: map[string]amqpsender.Destination{"orders": {Exchange: top.Exchange, RoutingKey: top.Key}}})
	ctx := context.Background()

	if err := s.Ping(ctx); err == nil {
		t.Fatal("ping succeeded with the broker unreachable")
	}
	err := s.Send(ctx, delivery("m0", "orders", nil))
	if e, c := classOf(t, err); c.Class != rebound.Connection || !c.Retryable || !strings.Contains(e.Error(), "next attempt in") {
		t.Fatalf("a Send in the backoff: %v (%+v), want a Connection error saying when the next attempt is", err, c)
	}
	proxy.Restore()
	sendUntilDelivered(t, s, delivery("m1", "orders", nil))

	proxy.Cut()
	err = s.Send(ctx, delivery("m2", "orders", nil))
	if _, c := classOf(t, err); c.Class != rebound.Connection || !c.Retryable {
		t.Fatalf("a Send on a cut connection: %v (%+v), want a retryable Connection error", err, c)
	}
	err = s.Send(ctx, delivery("m2", "orders", nil))
	if _, c := classOf(t, err); c.Class != rebound.Connection || !strings.Contains(err.Error(), "next attempt in") {
		t.Fatalf("the next Send: %v (%+v), want a Connection error saying when the next attempt is", err, c)
	}
	proxy.Restore()
	sendUntilDelivered(t, s, delivery("m2", "orders", nil))
	if err := s.Ping(ctx); err != nil {
		t.Errorf("ping once reconnected: %v", err)
	}

	got := drain(t, u, top.Queue, 2)
	var ids []string
	for _, m := range got {
		ids = append(ids, m.MessageId)
	}
	if len(ids) != 2 || ids[0] != "m1" || ids[1] != "m2" {
		t.Fatalf("the queue holds %v, want [m1 m2]", ids)
	}
}

// sendUntilDelivered retries d every 50 ms, for up to 10 s, while the
// Sender waits out its backoff: a relay's retries, shortened.
func sendUntilDelivered(t *testing.T, s *amqpsender.Sender, d outbox.Delivery) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.Send(context.Background(), d)
		if err == nil {
			return
		}
		if _, c := classOf(t, err); c.Class != rebound.Connection {
			t.Fatalf("while reconnecting: %v (%+v), want Connection errors only", err, c)
		}
		if time.Now().After(deadline) {
			t.Fatalf("not delivered after 10 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A refused login is a Connection error, retried: the configuration is
// wrong, not the message. Neither the error nor the log shows the
// password.
func TestLoginRefusedIsConnectionWithoutThePassword(t *testing.T) {
	u, err := url.Parse(amqpURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "wr0ng-s3cret")
	var logs bytes.Buffer
	s := newSender(t, amqpsender.Config{URL: u.String(), Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Destinations: map[string]amqpsender.Destination{"orders": {RoutingKey: "orders"}}})
	err = s.Send(context.Background(), delivery("m1", "orders", nil))
	if _, c := classOf(t, err); c.Class != rebound.Connection || !c.Retryable {
		t.Errorf("got %v (%+v), want a retryable Connection error", err, c)
	}
	if strings.Contains(err.Error(), "wr0ng-s3cret") || strings.Contains(logs.String(), "wr0ng-s3cret") {
		t.Errorf("the password shows: error %q, logs %q", err, logs.String())
	}
	if !strings.Contains(logs.String(), "cannot connect") {
		t.Errorf("logs %q, want the failed connection", logs.String())
	}
}

// Sends after Close fail, as Connection errors wrapping ErrClosed, and
// closing twice is fine.
func TestSendAfterClose(t *testing.T) {
	s, err := amqpsender.New(amqpsender.Config{
		Dial:         func(context.Context) (*amqp.Connection, error) { return nil, errors.New("unused") },
		Destinations: map[string]amqpsender.Destination{"orders": {RoutingKey: "orders"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	err = s.Send(context.Background(), delivery("m1", "orders", nil))
	if _, c := classOf(t, err); c.Class != rebound.Connection || !errors.Is(err, amqpsender.ErrClosed) {
		t.Errorf("got %v (%+v), want a Connection error wrapping ErrClosed", err, c)
	}
	if err := s.Ping(context.Background()); !errors.Is(err, amqpsender.ErrClosed) {
		t.Errorf("ping after close: %v, want ErrClosed", err)
	}
}
