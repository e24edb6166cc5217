package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/sqlite"
)

// A consumer that sends each welcome email at most once, however often the
// signup event is delivered, with the keys in a SQLite file.
func Example_once() {
	dir, err := os.MkdirTemp("", "idempotency-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	dsn := "file:" + filepath.Join(dir, "app.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
	db, err := sql.Open("sqlite", dsn)
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

	sendWelcome := func(ctx context.Context) error {
		fmt.Println("sending the welcome email to user 42")
		return nil
	}
	for delivery := 1; delivery <= 2; delivery++ {
		ran, err := idempotency.Once(ctx, store, "welcome-email/user-42", idempotency.OnceOptions{}, sendWelcome)
		fmt.Printf("delivery %d: ran=%v err=%v\n", delivery, ran, err)
	}
	// Output:
	// sending the welcome email to user 42
	// delivery 1: ran=true err=<nil>
	// delivery 2: ran=false err=<nil>
}
