package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rebound-go/rebound/outbox"
)

// natsSink is a JetStream stream of a run's own, on file storage, with a
// duplicate window as long as natssender's doc asks (the relay's lease
// plus its largest backoff), deleted when tb ends. Both libraries publish
// with Nats-Msg-Id set to the message's ID.
type natsSink struct {
	js      jetstream.JetStream
	stream  jetstream.Stream
	subject string
}

func newNATSSink(tb testing.TB, url string) *natsSink {
	tb.Helper()
	ctx := context.Background()
	nc, err := nats.Connect(url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	sfx := runSuffix()
	s := &natsSink{js: js, subject: "bench." + sfx + ".orders"}
	name := "BENCH_" + sfx
	s.stream, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       name,
		Subjects:   []string{s.subject},
		Storage:    jetstream.FileStorage,
		Duplicates: outbox.DefaultLease + outbox.DefaultBackoff.Max,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := js.DeleteStream(context.Background(), name); err != nil {
			tb.Errorf("deleting stream %s: %v", name, err)
		}
	})
	return s
}

func (s *natsSink) target() string { return s.subject }

func (s *natsSink) count(ctx context.Context) (int, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	return int(info.State.Msgs), nil
}

func (s *natsSink) consume(ctx context.Context, arrived func(string, time.Time)) (func(), error) {
	cons, err := s.js.OrderedConsumer(ctx, s.stream.CachedInfo().Config.Name, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		arrived(idFromPayload(m.Data()), time.Now())
	})
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(cc.Stop) }, nil
}

// amqpSink is a durable classic queue of a run's own on RabbitMQ, which
// both libraries publish to through the default exchange (routing key =
// the queue's name), deleted when tb ends.
type amqpSink struct {
	conn  *amqp.Connection
	ch    *amqp.Channel // for counting
	mu    sync.Mutex
	queue string
}

func newAMQPSink(tb testing.TB, url string) *amqpSink {
	tb.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		tb.Fatal(err)
	}
	s := &amqpSink{conn: conn, ch: ch, queue: "bench_" + runSuffix() + "_orders"}
	if _, err := ch.QueueDeclare(s.queue, true, false, false, false, nil); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ch, err := conn.Channel()
		if err == nil {
			_, err = ch.QueueDelete(s.queue, false, false, false)
			_ = ch.Close()
		}
		if err != nil {
			tb.Errorf("deleting queue %s: %v", s.queue, err)
		}
	})
	return s
}

func (s *amqpSink) target() string { return s.queue }

func (s *amqpSink) count(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.ch.QueueDeclarePassive(s.queue, true, false, false, false, nil)
	if err != nil {
		return 0, err
	}
	return q.Messages, nil
}

func (s *amqpSink) consume(_ context.Context, arrived func(string, time.Time)) (func(), error) {
	ch, err := s.conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Qos(1000, 0, false); err != nil {
		return nil, err
	}
	deliveries, err := ch.Consume(s.queue, "", true, false, false, false, nil)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for d := range deliveries {
			arrived(idFromPayload(d.Body), time.Now())
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = ch.Close()
			<-done
		})
	}, nil
}
