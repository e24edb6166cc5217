package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/rebound-go/rebound/internal/config"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/amqpsender"
	"github.com/rebound-go/rebound/outbox/kafkasender"
	"github.com/rebound-go/rebound/outbox/natssender"
)

// broker is one broker destination's sender, on a connection of its own
// that its workers share.
type broker struct {
	name, kind string
	sender     interface {
		outbox.Sender
		Ping(ctx context.Context) error
	}
	headers map[string]string // the destination's headers, added to each message
	close   func()
	// accepts, when set, reports why a message cannot go to this
	// destination (a *outbox.FieldError), before it is enqueued.
	accepts func(outbox.Message) error
	// check, when set, reads the broker's side of the configuration once
	// it answers (a NATS stream's duplicate window); see checkBrokers.
	check func(ctx context.Context) error
}

// Send sends d with the destination's headers added (a message's own
// header of the same name wins).
func (b *broker) Send(ctx context.Context, d outbox.Delivery) error {
	if len(b.headers) > 0 {
		h := make(map[string]string, len(d.Headers)+len(b.headers))
		for k, v := range b.headers {
			h[k] = v
		}
		for k, v := range d.Headers {
			h[k] = v
		}
		d.Headers = h
	}
	return b.sender.Send(ctx, d)
}

// openBrokers makes a sender for each broker destination of cfg. It
// connects to none of them before returning: a broker that is down at
// start is reached later, and its messages wait (and retry) meanwhile.
// need is the longest a message can wait between two attempts (the lease
// plus the largest backoff), which a NATS stream's duplicate window
// should cover.
func openBrokers(cfg *config.Config, need func(dest string) time.Duration, log *slog.Logger) (map[string]*broker, error) {
	out := map[string]*broker{}
	closeAll := func() {
		for _, b := range out {
			b.close()
		}
	}
	for _, name := range cfg.DestinationNames() {
		d := cfg.Destinations[name]
		key := "destinations." + name
		var (
			b   *broker
			err error
		)
		switch d.KindOf() {
		case config.KindWebhook:
			continue
		case config.KindNATS:
			b, err = openNATS(name, key, d, need(name), log)
		case config.KindKafka:
			b, err = openKafka(name, key, d)
		case config.KindAMQP:
			b, err = openAMQP(name, key, d, log)
		default:
			err = &config.Error{Key: key + ".kind", Want: "webhook, nats, kafka or amqp, got " + d.Kind}
		}
		if err != nil {
			closeAll()
			return nil, err
		}
		b.name, b.kind, b.headers = name, d.KindOf(), d.Headers
		out[name] = b
	}
	return out, nil
}

func openNATS(name, key string, d config.Destination, need time.Duration, log *slog.Logger) (*broker, error) {
	n := d.NATS
	opts := []nats.Option{
		nats.Name("rebound relay: " + name),
		nats.RetryOnFailedConnect(true), // a server down at start is retried
		nats.MaxReconnects(-1),          // and so is one that goes down later
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats: disconnected; reconnecting", "destination", name, "error", err.Error())
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("nats: reconnected", "destination", name) }),
	}
	switch {
	case n.Token != "":
		opts = append(opts, nats.Token(n.Token))
	case n.User != "":
		opts = append(opts, nats.UserInfo(n.User, n.Password))
	}
	if n.TLS != nil {
		tc, err := tlsConfig(key+".nats.tls", n.TLS)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(tc))
	}
	nc, err := nats.Connect(strings.Join(n.Servers, ","), opts...)
	if err != nil {
		return nil, &config.Error{Key: key + ".nats", Want: "a connection this relay can open: " + err.Error()}
	}
	s, err := natssender.New(natssender.Config{
		Conn:         nc,
		Destinations: map[string]natssender.Destination{name: {Subject: n.Subject}},
		Timeout:      time.Duration(d.Timeout),
	})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &broker{
		sender:  s,
		close:   nc.Close,
		accepts: s.Check,
		check: func(ctx context.Context) error {
			err := s.CheckWindows(ctx, need)
			var we *natssender.WindowError
			if errors.As(err, &we) {
				log.Warn("nats: the stream's duplicate window is shorter than a redelivery can be late; a message whose ack was lost may reach the stream twice",
					"destination", name, "stream", we.Short[0].Stream, "window", we.Short[0].Window, "need", need, "error", err.Error())
				return nil
			}
			return err
		},
	}, nil
}

func openKafka(name, key string, d config.Destination) (*broker, error) {
	k := d.Kafka
	opts := []kgo.Opt{
		kgo.SeedBrokers(k.Brokers...),
		kgo.ClientID("rebound-relay"),
		// franz-go's defaults: an idempotent producer with acks=all, which
		// kafkasender requires. The client connects on first use, so a
		// cluster that is down at start is retried like any other.
	}
	if s := k.SASL; s != nil {
		switch s.Mechanism {
		case "plain":
			opts = append(opts, kgo.SASL(plain.Auth{User: s.User, Pass: s.Password}.AsMechanism()))
		case "scram-sha-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: s.User, Pass: s.Password}.AsSha256Mechanism()))
		case "scram-sha-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: s.User, Pass: s.Password}.AsSha512Mechanism()))
		}
	}
	if k.TLS != nil {
		tc, err := tlsConfig(key+".kafka.tls", k.TLS)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, &config.Error{Key: key + ".kafka", Want: "a client this relay can make: " + err.Error()}
	}
	s, err := kafkasender.New(kafkasender.Config{
		Client:       cl,
		Destinations: map[string]kafkasender.Destination{name: {Topic: k.Topic}},
		Timeout:      time.Duration(d.Timeout),
	})
	if err != nil {
		cl.Close()
		return nil, err
	}
	return &broker{sender: s, close: func() { s.Close(); cl.Close() }}, nil
}

func openAMQP(name, key string, d config.Destination, log *slog.Logger) (*broker, error) {
	a := d.AMQP
	u, err := url.Parse(a.URL)
	if err != nil {
		return nil, &config.Error{Key: key + ".amqp.url", Want: "an amqp:// URL"}
	}
	if a.Password != "" {
		user := ""
		if u.User != nil {
			user = u.User.Username()
		}
		u.User = url.UserPassword(user, a.Password)
	}
	cfg := amqpsender.Config{
		Destinations:   map[string]amqpsender.Destination{name: {Exchange: a.Exchange, RoutingKey: a.RoutingKey}},
		ConfirmTimeout: time.Duration(d.Timeout),
		Logger:         log.With("destination", name),
	}
	if a.TLS != nil {
		tc, err := tlsConfig(key+".amqp.tls", a.TLS)
		if err != nil {
			return nil, err
		}
		addr := u.String()
		cfg.Dial = func(ctx context.Context) (*amqp.Connection, error) {
			return amqp.DialTLS(addr, tc)
		}
	} else {
		cfg.URL = u.String()
	}
	s, err := amqpsender.New(cfg)
	if err != nil {
		return nil, err
	}
	return &broker{sender: s, close: func() { s.Close() }}, nil
}

// tlsConfig builds a broker connection's TLS configuration; errors name
// the key.
func tlsConfig(key string, t *config.TLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, &config.Error{Key: key + ".ca_file", Want: "a readable PEM file: " + err.Error()}
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, &config.Error{Key: key + ".ca_file", Want: "PEM certificates; found none in " + t.CAFile}
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, &config.Error{Key: key + ".cert_file", Want: "a certificate and key pair: " + err.Error()}
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// checkBrokers runs each broker's check once it gets an answer, retrying
// every retry while the broker cannot be reached, until ctx ends. A check
// that fails for good (no stream captures the subject) is logged: the
// destination's messages then go dead with the same reason, which the
// status page and the alerts show.
func checkBrokers(ctx context.Context, brokers map[string]*broker, retry time.Duration, log *slog.Logger) {
	var wg sync.WaitGroup
	for _, b := range brokers {
		if b.check == nil {
			continue
		}
		wg.Go(func() {
			for {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := b.check(cctx)
				cancel()
				var ne *natssender.Error
				if err == nil || !errors.As(err, &ne) || !ne.Classification().Retryable {
					if err != nil {
						log.Error("broker destination misconfigured", "destination", b.name, "kind", b.kind, "error", err.Error())
					}
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(retry):
				}
			}
		})
	}
	wg.Wait()
}

// brokerStatus reports each broker destination's connection, one line
// each, sorted by name: "orders (nats): ok" or the error.
func brokerStatus(ctx context.Context, brokers map[string]*broker) []string {
	names := make([]string, 0, len(brokers))
	for n := range brokers {
		names = append(names, n)
	}
	sort.Strings(names)
	lines := make([]string, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		b := brokers[n]
		wg.Go(func() {
			status := "ok"
			if err := b.sender.Ping(ctx); err != nil {
				status = "unreachable: " + err.Error()
			}
			lines[i] = fmt.Sprintf("destination %s (%s): %s", n, b.kind, status)
		})
	}
	wg.Wait()
	return lines
}
