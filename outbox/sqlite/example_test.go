package sqlite_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/sqlite"
)

// An order and the event announcing it are written in one transaction;
// a relay's cycle then claims the event, delivers it and records it sent.
func Example() {
	dir, err := os.MkdirTemp("", "outbox-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "shop.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	ctx := context.Background()
	store, err := sqlite.New(db, sqlite.Config{})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE orders (id TEXT PRIMARY KEY, total INTEGER)`); err != nil {
		log.Fatal(err)
	}

	// The business change and its message commit together.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id, total) VALUES ('o-1', 4200)`); err != nil {
		log.Fatal(err)
	}
	ids, err := outbox.Enqueue(ctx, tx, outbox.Message{
		ID:          "order-o-1-placed",
		Destination: "billing",
		Payload:     []byte(`{"order":"o-1","total":4200}`),
		OrderingKey: "o-1",
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}

	// What a Relay does: claim, deliver, record.
	now := time.Now()
	claimed, err := store.Claim(ctx, now, 30*time.Second, 10, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range claimed {
		fmt.Printf("delivering %s to %s (attempt %d): %s\n", d.ID, d.Destination, d.Attempt, d.Payload)
		if err := store.MarkSent(ctx, d.ID, d.Attempt, now); err != nil {
			log.Fatal(err)
		}
	}

	rec, err := store.Get(ctx, ids[0])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rec.ID, rec.State)
	// Output:
	// delivering order-o-1-placed to billing (attempt 1): {"order":"o-1","total":4200}
	// order-o-1-placed sent
}
