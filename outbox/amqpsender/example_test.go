package amqpsender_test

import (
	"context"
	"database/sql"
	"log"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/amqpsender"
)

// A relay publishing an outbox's "orders" destination to the "orders"
// exchange of RabbitMQ, which routes it to a queue bound with
// "order.created".
func Example() {
	var store outbox.Store // outbox/postgres or outbox/sqlite, migrated
	sender, err := amqpsender.New(amqpsender.Config{
		URL:          "amqp://guest:guest@127.0.0.1:5672/",
		Destinations: map[string]amqpsender.Destination{"orders": {Exchange: "orders", RoutingKey: "order.created"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sender.Close()
	ctx := context.Background()
	relay, err := outbox.NewRelay(outbox.RelayConfig{Store: store, Sender: sender})
	if err != nil {
		log.Fatal(err)
	}
	if err := relay.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer relay.Stop(context.Background())
}

// A consumer that applies each message once, even one published twice (a
// confirm lost, and the relay's retry) or delivered twice (its own ack
// lost): the mark and the effect commit in one transaction, keyed by the
// message's ID, and the ack follows the commit.
func Example_consumer() {
	var db *sql.DB // the consumer's database, with rebound_processed (an idempotency store's Migrate creates it)
	conn, err := amqp.Dial("amqp://guest:guest@127.0.0.1:5672/")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		log.Fatal(err)
	}
	deliveries, err := ch.Consume("billing", "", false, false, false, false, nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	apply := func(m amqp.Delivery) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		fresh, err := idempotency.MarkTx(ctx, tx, "billing", m.MessageId) // or m.Headers[amqpsender.HeaderMessageID]
		if err != nil {
			return err
		}
		if fresh {
			if _, err := tx.ExecContext(ctx, `INSERT INTO invoices (order_event) VALUES ($1)`, m.Body); err != nil {
				return err
			}
		}
		return tx.Commit()
	}
	for m := range deliveries {
		if err := apply(m); err != nil {
			_ = m.Nack(false, true) // back in the queue, for another try
			continue
		}
		_ = m.Ack(false) // a lost ack redelivers; MarkTx then says it is done
	}
}
