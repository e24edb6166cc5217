package bench

import (
	"context"
	"errors"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	wnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/forwarder"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/natssender"
	"github.com/rebound-go/rebound/outbox/postgres"
)

// rebound's side: postgres.Store, messages written with postgres.Enqueue
// in pgx transactions (the same reboundPG as the webhook benchmarks), and a
// Relay at its defaults (RelayConfig{Store, Sender}) publishing through the
// broker's sender at its defaults: natssender on a connection made as its
// doc says, amqpsender with the URL (publisher confirms, persistent
// messages, a channel per concurrent publish, up to 64).

// newReboundAMQPSender, when rebound's RabbitMQ sender is part of the
// tree, returns one publishing destination "orders" to queue through the
// default exchange, and a func that closes it.
var newReboundAMQPSender func(url, queue string) (outbox.Sender, func(), error)

// brokerWorkers is the relay's Workers: REBOUND_BENCH_BROKER_WORKERS, for
// an experiment, or 0, the default (16), which the benchmarks report.
func brokerWorkers(tb testing.TB) int {
	s := os.Getenv("REBOUND_BENCH_BROKER_WORKERS")
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		tb.Fatalf("REBOUND_BENCH_BROKER_WORKERS=%q: want a number of workers", s)
	}
	tb.Logf("relay Workers = %d (REBOUND_BENCH_BROKER_WORKERS)", n)
	return n
}

func newReboundBroker(tb testing.TB, dbURL, broker, url string, sink brokerSink, logs *logCounter) *reboundPG {
	tb.Helper()
	s := &reboundPG{pgSchema: newPGSchema(tb, dbURL)}
	var err error
	if s.store, err = postgres.New(s.pool, postgres.Config{}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.store.Close() })
	if err := s.store.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	var sender outbox.Sender
	switch broker {
	case brokerNATS:
		nc, err := nats.Connect(url, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(nc.Close)
		if sender, err = natssender.New(natssender.Config{
			Conn:         nc,
			Destinations: map[string]natssender.Destination{destination: {Subject: sink.target()}},
		}); err != nil {
			tb.Fatal(err)
		}
	case brokerAMQP:
		var closeSender func()
		if sender, closeSender, err = newReboundAMQPSender(url, sink.target()); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(closeSender)
	}
	s.timed = &timedStore{Store: s.store}
	var st outbox.Store = s.timed
	if w, ok := outbox.Store(s.store).(outbox.Waker); ok {
		st = timedWaker{s.timed, w}
	}
	if s.relay, err = outbox.NewRelay(outbox.RelayConfig{Store: st, Sender: sender, Workers: brokerWorkers(tb), Logger: logs.logger()}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.relay.Stop(context.Background()) })
	return s
}

// Watermill's side, as its docs set up the forwarder
// (components/forwarder): the business transaction publishes through a
// forwarder.Publisher wrapping a watermill-sql Publisher on that
// transaction, which writes an envelope (the message and its destination
// topic) to one SQL topic; a Forwarder (a router with one handler)
// subscribes to that topic with a watermill-sql Subscriber and publishes
// each message to its destination with the broker's publisher, acking the
// SQL message once the publish returns. watermill-sql runs on the same
// pgx pool as rebound, at DefaultPostgreSQLSchema and
// DefaultPostgreSQLOffsetsAdapter (the default PostgreSQL pair; batches of
// 100 rows, offsets per consumer group) and the subscriber's defaults
// otherwise (PollInterval 1 s, except in the -poll10ms cases). The broker publishers are configured for at-least-once:
//
//   - NATS: watermill-nats/v2 pkg/nats Publisher (its doc recommends it over
//     the beta pkg/jetstream one for production) with JetStream on,
//     publishing synchronously (Publish returns once JetStream acked) and
//     TrackMsgId (Nats-Msg-Id = the message's UUID, as rebound's sender
//     sets it), on a connection of its own.
//   - AMQP: watermill-amqp/v3 NewDurableQueueConfig (durable queue,
//     persistent messages, default exchange, routing key = the queue),
//     with Publish.ConfirmDelivery (each Publish waits for RabbitMQ's
//     publisher confirm) and a pool of one channel (ChannelPoolSize 1;
//     the default, 0, opens and closes a channel for every Publish).
type watermillBroker struct {
	*pgSchema
	target string
	logger watermill.LoggerAdapter
	sub    *wsql.Subscriber
	out    message.Publisher
	fwd    *forwarder.Forwarder

	mu      sync.Mutex
	started bool
	ran     chan error
}

// watermillSQLTopic is the SQL topic the forwarder listens to (its table
// is watermill_<topic>, in the run's schema).
const watermillSQLTopic = "outbox"

func newWatermillBroker(tb testing.TB, dbURL, broker, url string, sink brokerSink, poll time.Duration, logs *logCounter) *watermillBroker {
	tb.Helper()
	s := &watermillBroker{pgSchema: newPGSchema(tb, dbURL), target: sink.target(), logger: watermillLogs{logs}, ran: make(chan error, 1)}
	var err error
	if s.sub, err = wsql.NewSubscriber(wsql.BeginnerFromPgx(s.pool), wsql.SubscriberConfig{
		SchemaAdapter:    wsql.DefaultPostgreSQLSchema{},
		OffsetsAdapter:   wsql.DefaultPostgreSQLOffsetsAdapter{},
		InitializeSchema: true,
		PollInterval:     poll, // 0: the default, 1 s
	}, s.logger); err != nil {
		tb.Fatal(err)
	}
	if err := s.sub.SubscribeInitialize(watermillSQLTopic); err != nil {
		tb.Fatal(err)
	}
	switch broker {
	case brokerNATS:
		nc, err := nats.Connect(url, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(nc.Close)
		if s.out, err = wnats.NewPublisherWithNatsConn(nc, wnats.PublisherPublishConfig{
			Marshaler:         &wnats.NATSMarshaler{},
			SubjectCalculator: wnats.DefaultSubjectCalculator,
			JetStream:         wnats.JetStreamConfig{TrackMsgId: true},
		}, s.logger); err != nil {
			tb.Fatal(err)
		}
	case brokerAMQP:
		cfg := wamqp.NewDurableQueueConfig(url)
		cfg.Publish.ConfirmDelivery = true
		cfg.Publish.ChannelPoolSize = 1
		if s.out, err = wamqp.NewPublisher(cfg, s.logger); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() { _ = s.out.Close() })
	if s.fwd, err = forwarder.NewForwarder(s.sub, s.out, s.logger, forwarder.Config{ForwarderTopic: watermillSQLTopic}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = s.stop(context.Background())
		_ = s.sub.Close()
	})
	return s
}

// publisher returns the forwarder's publisher on tx.
func (s *watermillBroker) publisher(tx wsql.Tx) (message.Publisher, error) {
	pub, err := wsql.NewPublisher(tx, wsql.PublisherConfig{SchemaAdapter: wsql.DefaultPostgreSQLSchema{}}, s.logger)
	if err != nil {
		return nil, err
	}
	return forwarder.NewPublisher(pub, forwarder.PublisherConfig{ForwarderTopic: watermillSQLTopic}), nil
}

func (s *watermillBroker) enqueueBatch(ctx context.Context, ids []string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	pub, err := s.publisher(wsql.TxFromPgx(tx))
	if err != nil {
		return err
	}
	msgs := make([]*message.Message, len(ids))
	for i, id := range ids {
		msgs[i] = message.NewMessage(id, payload(id))
	}
	if err := pub.Publish(s.target, msgs...); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func (s *watermillBroker) enqueueBusiness(ctx context.Context, id string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO orders (ref, total) VALUES ($1, 4200)`, id); err != nil {
		return err
	}
	pub, err := s.publisher(wsql.TxFromPgx(tx))
	if err != nil {
		return err
	}
	if err := pub.Publish(s.target, message.NewMessage(id, payload(id))); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func (s *watermillBroker) start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("started twice")
	}
	s.started = true
	go func() { s.ran <- s.fwd.Run(context.Background()) }()
	select {
	case <-s.fwd.Running():
		return nil
	case err := <-s.ran:
		s.ran <- err
		return err
	}
}

func (s *watermillBroker) stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return nil
	}
	s.started = false
	if err := s.fwd.Close(); err != nil {
		return err
	}
	select {
	case err := <-s.ran:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// watermillLogs adapts a logCounter to Watermill's logger: errors count
// (and the first few are kept), the rest is dropped.
type watermillLogs struct{ logs *logCounter }

func (l watermillLogs) Error(msg string, err error, fields watermill.LogFields) {
	l.logs.logger().Error(msg, "err", err, "fields", fields)
}
func (watermillLogs) Info(string, watermill.LogFields)                   {}
func (watermillLogs) Debug(string, watermill.LogFields)                  {}
func (watermillLogs) Trace(string, watermill.LogFields)                  {}
func (l watermillLogs) With(watermill.LogFields) watermill.LoggerAdapter { return l }

var (
	_ brokerSystem = (*reboundPG)(nil)
	_ brokerSystem = (*watermillBroker)(nil)
)
