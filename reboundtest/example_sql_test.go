package reboundtest_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundsql"
	"github.com/rebound-go/rebound/reboundtest"
)

// The first COMMIT fails with a serialization failure (SQLSTATE 40001), as
// PostgreSQL reports a conflict between SERIALIZABLE transactions:
// reboundsql.RetryTx runs the transaction again, and the transfer happens
// once.
func ExampleSQLFaults() {
	dir, _ := os.MkdirTemp("", "reboundtest-example")
	defer os.RemoveAll(dir)
	dsn := "file:" + filepath.Join(dir, "bank.db") + "?_txlock=immediate"

	faults := reboundtest.NewSQLFaults(reboundtest.SQLRule{
		Op: reboundtest.SQLCommit, Nth: 1, Fault: reboundtest.SQLSerializationFailure,
	})
	db, err := faults.OpenDB(&sqlite.Driver{}, dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	_, _ = db.ExecContext(ctx, `CREATE TABLE accounts (id TEXT PRIMARY KEY, balance INTEGER)`)
	_, _ = db.ExecContext(ctx, `INSERT INTO accounts VALUES ('alice', 100), ('bob', 0)`)

	policy := rebound.Policy{MaxAttempts: 5, Backoff: rebound.Constant(time.Millisecond)}
	runs := 0
	err = reboundsql.RetryTx(ctx, db, policy, func(ctx context.Context, tx *sql.Tx) error {
		runs++
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET balance = balance - 30 WHERE id = 'alice'`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE accounts SET balance = balance + 30 WHERE id = 'bob'`)
		return err
	})
	fmt.Println("err:", err)
	fmt.Println("runs:", runs)

	var alice, bob int
	_ = db.QueryRowContext(ctx, `SELECT balance FROM accounts WHERE id = 'alice'`).Scan(&alice)
	_ = db.QueryRowContext(ctx, `SELECT balance FROM accounts WHERE id = 'bob'`).Scan(&bob)
	fmt.Println("alice:", alice, "bob:", bob)
	c := faults.Counts()
	fmt.Println("commits:", c.Commits, "applied:", c.Committed, "faults:", c.Faults)
	// Output:
	// err: <nil>
	// runs: 2
	// alice: 70 bob: 30
	// commits: 2 applied: 1 faults: 1
}
