package kafkasender_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/kafkasender"
	"github.com/rebound-go/rebound/outbox/sqlite"
)

// A relay producing an outbox's "orders" destination to the topic
// "orders.v1". The client is franz-go's default producer: idempotent,
// acks=all.
func Example() {
	var store outbox.Store // outbox/postgres or outbox/sqlite, migrated
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:9092"))
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close() // last: the sender does not close it
	sender, err := kafkasender.New(kafkasender.Config{
		Client:       cl,
		Destinations: map[string]kafkasender.Destination{"orders": {Topic: "orders.v1"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sender.Close()
	relay, err := outbox.NewRelay(outbox.RelayConfig{Store: store, Sender: sender})
	if err != nil {
		log.Fatal(err)
	}
	if err := relay.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer relay.Stop(context.Background())
}

// A consumer that applies each message once, though the topic holds it
// twice: a Send that timed out after the broker wrote the record, and the
// relay's retry of the message, produce two records with the same
// Rebound-Message-Id. The mark and the effect commit in one transaction
// of the consumer's database, keyed by that header.
func Example_consumer() {
	ctx := context.Background()
	// An in-process Kafka cluster stands in for a real one.
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders.v1"))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	// The producing side: the first attempt, and the relay's retry.
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close()
	sender, err := kafkasender.New(kafkasender.Config{
		Client:       producer,
		Destinations: map[string]kafkasender.Destination{"orders": {Topic: "orders.v1"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sender.Close()
	for attempt := 1; attempt <= 2; attempt++ {
		d := outbox.Delivery{Record: outbox.Record{Message: outbox.Message{ID: "order-17", Destination: "orders", OrderingKey: "customer-4", Payload: []byte(`{"total":42}`)}, Attempt: attempt}}
		if err := sender.Send(ctx, d); err != nil {
			log.Fatal(err)
		}
	}

	// The consuming side: its own database, with rebound_processed.
	dir, err := os.MkdirTemp("", "consumer")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "billing.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := idempotency.CreateMarkTable(ctx, db); err != nil {
		log.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE invoices (order_event TEXT)`); err != nil {
		log.Fatal(err)
	}
	apply := func(r *kgo.Record) (bool, error) {
		var id string
		for _, h := range r.Headers {
			if h.Key == kafkasender.HeaderMessageID {
				id = string(h.Value)
			}
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return false, err
		}
		defer tx.Rollback()
		fresh, err := idempotency.MarkTx(ctx, tx, "billing", id)
		if err != nil || !fresh {
			return false, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO invoices (order_event) VALUES ($1)`, r.Value); err != nil {
			return false, err
		}
		return true, tx.Commit()
	}

	consumer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...),
		kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders.v1"), kgo.DisableAutoCommit())
	if err != nil {
		log.Fatal(err)
	}
	defer consumer.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for seen := 0; seen < 2 && pctx.Err() == nil; {
		fetches := consumer.PollFetches(pctx)
		fetches.EachRecord(func(r *kgo.Record) {
			seen++
			applied, err := apply(r)
			if err != nil {
				log.Fatal(err) // a real consumer stops here, uncommitted, and retries
			}
			fmt.Printf("offset %d: applied %v\n", r.Offset, applied)
		})
		// Commit after the effects: a crash before this redelivers,
		// and MarkTx then says the message is done.
		if err := consumer.CommitUncommittedOffsets(pctx); err != nil {
			log.Fatal(err)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM invoices`).Scan(&n); err != nil {
		log.Fatal(err)
	}
	fmt.Println("invoices:", n)
	// Output:
	// offset 0: applied true
	// offset 1: applied false
	// invoices: 1
}
