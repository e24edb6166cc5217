package amqpsender_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/tcpproxy"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/amqpsender"
)

// amqpURL returns the broker the tests publish to, or skips the test.
func amqpURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("REBOUND_TEST_AMQP")
	if u == "" {
		t.Skip("REBOUND_TEST_AMQP is unset: no RabbitMQ to publish to (e.g. amqp://guest:guest@127.0.0.1:5672/)")
	}
	return u
}

func randName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// admin opens a connection and channel of the test's own, to declare,
// inspect and delete, closed when t ends.
func admin(t *testing.T, u string) *amqp.Channel {
	t.Helper()
	c, err := amqp.Dial(u)
	if err != nil {
		t.Fatalf("dial the broker: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	ch, err := c.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// topology is an exchange and a queue bound to it with a routing key, all
// uniquely named and deleted when t ends.
type topology struct {
	Exchange, Queue, Key string
}

// declare creates a direct exchange and a queue bound to it, with the
// queue's args, on a connection of its own; both are deleted when t ends.
func declare(t *testing.T, u string, args amqp.Table) topology {
	t.Helper()
	ch := admin(t, u)
	top := topology{Exchange: randName("rb-x-"), Queue: randName("rb-q-"), Key: randName("rk-")}
	if err := ch.ExchangeDeclare(top.Exchange, amqp.ExchangeDirect, false, false, false, false, nil); err != nil {
		t.Fatalf("declare exchange: %v", err)
	}
	t.Cleanup(func() { deleteExchange(t, u, top.Exchange) })
	declareQueue(t, u, top.Queue, args)
	if err := ch.QueueBind(top.Queue, top.Key, top.Exchange, false, nil); err != nil {
		t.Fatalf("bind: %v", err)
	}
	return top
}

// declareQueue creates a queue, deleted when t ends.
func declareQueue(t *testing.T, u, name string, args amqp.Table) {
	t.Helper()
	ch := admin(t, u)
	if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
		t.Fatalf("declare queue: %v", err)
	}
	t.Cleanup(func() {
		c, err := amqp.Dial(u)
		if err != nil {
			return
		}
		defer c.Close()
		if ch, err := c.Channel(); err == nil {
			_, _ = ch.QueueDelete(name, false, false, false)
		}
	})
}

func deleteExchange(t *testing.T, u, name string) {
	c, err := amqp.Dial(u)
	if err != nil {
		return
	}
	defer c.Close()
	if ch, err := c.Channel(); err == nil {
		_ = ch.ExchangeDelete(name, false, false)
	}
}

// drain gets every message in queue, waiting up to 10 s for at least n.
func drain(t *testing.T, u, queue string, n int) []amqp.Delivery {
	t.Helper()
	ch := admin(t, u)
	var got []amqp.Delivery
	deadline := time.Now().Add(10 * time.Second)
	for range 100000 { // ends by the deadline, or once the queue is empty
		m, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatalf("get from %s: %v", queue, err)
		}
		if ok {
			got = append(got, m)
			continue
		}
		if len(got) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return got
}

func newSender(t *testing.T, cfg amqpsender.Config) *amqpsender.Sender {
	t.Helper()
	s, err := amqpsender.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func delivery(id, dest string, payload []byte) outbox.Delivery {
	var d outbox.Delivery
	d.ID, d.Destination, d.Payload, d.Attempt = id, dest, payload, 1
	d.Headers = map[string]string{"Content-Type": "application/json"}
	return d
}

// classOf returns the classification the relay acts on, and checks err
// is an *amqpsender.Error.
func classOf(t *testing.T, err error) (*amqpsender.Error, rebound.Classification) {
	t.Helper()
	var e *amqpsender.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is no *amqpsender.Error", err, err)
	}
	var p rebound.Policy
	return e, p.Classify(err)
}

// viaProxy returns a Config.Dial that connects to the broker at u through
// a loopback proxy, and the proxy: cutting it is a real network fault.
func viaProxy(t *testing.T, u string) (func(context.Context) (*amqp.Connection, error), *tcpproxy.Proxy) {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tcpproxy.New(pu.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	dial := func(ctx context.Context) (*amqp.Connection, error) {
		return amqp.DialConfig(u, amqp.Config{Dial: func(network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, p.Addr())
		}})
	}
	return dial, p
}
