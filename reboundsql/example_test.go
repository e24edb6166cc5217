package reboundsql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundsql"
)

// Move money between two accounts in a SERIALIZABLE transaction. A
// concurrent transfer that conflicts with it makes PostgreSQL fail one of
// them with a serialization failure; RetryTxOptions runs that one again,
// reading the balance anew. (This example needs a PostgreSQL server, so it
// is compiled but not run.)
func Example() {
	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	policy := rebound.Policy{
		Endpoint:    "postgres/transfer",
		MaxAttempts: 10,
		Backoff:     rebound.Exponential{Initial: 10 * time.Millisecond, Max: time.Second},
	}
	errInsufficient := errors.New("insufficient funds")
	opts := &sql.TxOptions{Isolation: sql.LevelSerializable}
	err = reboundsql.RetryTxOptions(context.Background(), db, opts, policy, func(ctx context.Context, tx *sql.Tx) error {
		var balance int64
		if err := tx.QueryRowContext(ctx, "SELECT balance FROM account WHERE id = $1", 1).Scan(&balance); err != nil {
			return err
		}
		if balance < 100 {
			return rebound.Permanent(errInsufficient)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE account SET balance = balance - 100 WHERE id = $1", 1); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE account SET balance = balance + 100 WHERE id = $1", 2)
		return err
	})
	switch {
	case errors.Is(err, reboundsql.ErrCommitUnknown):
		// The transfer may have happened: look before doing it again.
		log.Printf("transfer: outcome unknown: %v", err)
	case errors.Is(err, errInsufficient):
		log.Print("transfer refused: insufficient funds")
	case err != nil:
		log.Printf("transfer failed: %v", err)
	}
}

// sqlError stands for a driver's error, such as pgx's *pgconn.PgError.
type sqlError struct{ code, msg string }

func (e *sqlError) Error() string    { return e.msg }
func (e *sqlError) SQLState() string { return e.code }

// The SQLSTATE is found through any wrapping.
func ExampleSQLState() {
	err := fmt.Errorf("debit account 1: %w", &sqlError{"40001", "could not serialize access"})
	fmt.Println(reboundsql.SQLState(err), reboundsql.IsSerializationFailure(err))

	err = fmt.Errorf("debit account 1: %w", &sqlError{"23514", "violates check constraint"})
	fmt.Println(reboundsql.SQLState(err), reboundsql.IsSerializationFailure(err))

	fmt.Printf("%q\n", reboundsql.SQLState(errors.New("no SQLSTATE here")))
	// Output:
	// 40001 true
	// 23514 false
	// ""
}
