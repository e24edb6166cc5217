package natssender_test

import (
	"context"
	"database/sql"
	"log"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/natssender"
)

// A relay publishing an outbox's "orders" destination to a stream. The
// stream's duplicate window covers a redelivery: the lease plus the
// largest backoff.
func Example() {
	var store outbox.Store // outbox/postgres or outbox/sqlite, migrated
	nc, err := nats.Connect("nats://127.0.0.1:4222", nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: "ORDERS", Subjects: []string{"orders.>"}, Storage: jetstream.FileStorage,
		Duplicates: outbox.DefaultLease + outbox.DefaultBackoff.Max,
	}); err != nil {
		log.Fatal(err)
	}
	sender, err := natssender.New(natssender.Config{
		Conn:         nc,
		Destinations: map[string]natssender.Destination{"orders": {Subject: "orders.created"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := sender.CheckWindows(ctx, outbox.DefaultLease+outbox.DefaultBackoff.Max); err != nil {
		log.Fatal(err)
	}
	relay, err := outbox.NewRelay(outbox.RelayConfig{Store: store, Sender: sender})
	if err != nil {
		log.Fatal(err)
	}
	if err := relay.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer relay.Stop(context.Background())
}

// A consumer that applies each message once, even one the stream let in
// twice (a redelivery past its duplicate window): the mark and the effect
// commit in one transaction, keyed by the message's Rebound-Message-Id.
func Example_consumer() {
	var db *sql.DB // the consumer's database, with rebound_processed (an idempotency store's Migrate creates it)
	nc, err := nats.Connect("nats://127.0.0.1:4222")
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	js, _ := jetstream.New(nc)
	cons, err := js.CreateOrUpdateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: "billing", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		log.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			_ = m.NakWithDelay(time.Second)
			return
		}
		defer tx.Rollback()
		fresh, err := idempotency.MarkTx(ctx, tx, "billing", m.Headers().Get(natssender.HeaderMessageID))
		if err != nil {
			_ = m.NakWithDelay(time.Second)
			return
		}
		if fresh {
			if _, err := tx.ExecContext(ctx, `INSERT INTO invoices (order_event) VALUES ($1)`, m.Data()); err != nil {
				_ = m.NakWithDelay(time.Second)
				return
			}
		}
		if err := tx.Commit(); err != nil {
			_ = m.NakWithDelay(time.Second)
			return
		}
		_ = m.Ack() // a lost ack redelivers; MarkTx then says it is done
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Stop()
}
