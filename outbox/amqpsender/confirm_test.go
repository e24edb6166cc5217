package amqpsender_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/outbox/amqpsender"
)

// holdProxy forwards loopback connections to the broker and, while held,
// keeps what the broker sends back: the publish reaches the broker, its
// confirm does not reach the client.
type holdProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	cond  *sync.Cond
	held  bool
	done  bool
	conns []net.Conn
}

func newHoldProxy(t *testing.T, target string) *holdProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holdProxy{ln: ln, target: target}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Go(p.serve)
	t.Cleanup(p.close)
	return p
}

func (p *holdProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Go(func() { io.Copy(s, c); s.Close(); c.Close() })
		p.wg.Go(func() { p.back(c, s); s.Close(); c.Close() })
	}
}

// back copies from the broker to the client, waiting while held.
func (p *holdProxy) back(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.held && !p.done {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *holdProxy) hold(on bool) {
	p.mu.Lock()
	p.held = on
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *holdProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.done = true
	p.cond.Broadcast()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// No confirm before the deadline (nor a channel open, while held: the
// channel's opening is bounded by the same deadline): a Connection error that says the broker
// may hold the message, which it does.
func TestConfirmTimeoutIsConnectionMaybeProcessed(t *testing.T) {
	u := amqpURL(t)
	top := declare(t, u, nil)
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p := newHoldProxy(t, pu.Host)
	s := newSender(t, amqpsender.Config{
		Dial: func(ctx context.Context) (*amqp.Connection, error) {
			return amqp.DialConfig(u, amqp.Config{Dial: func(network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, p.ln.Addr().String())
			}})
		},
		ConfirmTimeout: 300 * time.Millisecond,
		Logger:         slog.New(slog.DiscardHandler),
		Destinations:   map[string]amqpsender.Destination{"orders": {Exchange: top.Exchange, RoutingKey: top.Key}},
	})
	// A channel open and idle, so that the held Send gets as far as the
	// confirm.
	if err := s.Send(context.Background(), delivery("m0", "orders", nil)); err != nil {
		t.Fatal(err)
	}
	p.hold(true)
	err = s.Send(context.Background(), delivery("m1", "orders", nil))
	p.hold(false)
	e, c := classOf(t, err)
	if c.Class != rebound.Connection || !c.Retryable || !c.MaybeProcessed || e.Op != "confirm" || !strings.Contains(err.Error(), "no publisher confirm") {
		t.Fatalf("got %v (%+v), want a retryable Connection error, maybe processed", err, c)
	}
	got := drain(t, u, top.Queue, 2)
	if len(got) != 2 || got[1].MessageId != "m1" {
		t.Fatalf("the queue holds %d messages, want m0 and m1: the broker took the publish whose confirm was held", len(got))
	}
	if err := s.Send(context.Background(), delivery("m2", "orders", nil)); err != nil {
		t.Fatalf("the next Send: %v", err)
	}

	// A Sender connected, without a channel yet: the held channel.open-ok
	// bounds nothing but the deadline, and nothing was published.
	s2 := newSender(t, amqpsender.Config{
		Dial: func(ctx context.Context) (*amqp.Connection, error) {
			return amqp.DialConfig(u, amqp.Config{Dial: func(network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, p.ln.Addr().String())
			}})
		},
		ConfirmTimeout: 300 * time.Millisecond,
		Logger:         slog.New(slog.DiscardHandler),
		Destinations:   map[string]amqpsender.Destination{"orders": {Exchange: top.Exchange, RoutingKey: top.Key}},
	})
	if err := s2.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.hold(true)
	err = s2.Send(context.Background(), delivery("m3", "orders", nil))
	p.hold(false)
	e, c = classOf(t, err)
	if c.Class != rebound.Connection || !c.Retryable || c.MaybeProcessed || e.Op != "channel" {
		t.Fatalf("got %v (%+v), want a retryable Connection error opening a channel, not processed", err, c)
	}
}
