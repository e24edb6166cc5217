package reboundsql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/pgtest"
	"github.com/rebound-go/rebound/reboundsql"
)

// These tests run against the PostgreSQL server named by
// REBOUND_TEST_POSTGRES, through pgx's database/sql driver.

// openPostgres returns a *sql.DB on the test server, closed when the test
// ends, and a context that bounds the test so that a broken handshake
// between transactions fails it rather than hangs it.
func openPostgres(t *testing.T) (context.Context, *sql.DB) {
	t.Helper()
	dsn := pgtest.URL(t, "run reboundsql's PostgreSQL tests")
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("REBOUND_TEST_POSTGRES: %v", err)
	}
	return ctx, db
}

// createTable creates a table of the given columns under a name of its own,
// dropped when the test ends, and returns the name.
func createTable(t *testing.T, ctx context.Context, db *sql.DB, columns string) string {
	t.Helper()
	name := "reboundsql_" + strconv.FormatUint(rand.Uint64(), 36)
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+name+" ("+columns+")"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := db.ExecContext(context.Background(), "DROP TABLE IF EXISTS "+name); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return name
}

// await waits until ch is closed or ctx is done.
func await(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("handshake between transactions: %w", ctx.Err())
	}
}

// numbers returns column n of table, in order.
func numbers(t *testing.T, ctx context.Context, db *sql.DB, table string) []int {
	t.Helper()
	rows, err := db.QueryContext(ctx, "SELECT n FROM "+table+" ORDER BY n")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ns []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		ns = append(ns, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ns
}

var serializable = &sql.TxOptions{Isolation: sql.LevelSerializable}

// Two SERIALIZABLE transactions each count the rows of a table and insert
// the next number: run side by side, they would both insert 1 (write skew).
// PostgreSQL fails the second with 40001, at its INSERT or at its COMMIT;
// RetryTx runs it again, and it inserts 2.
func TestPostgresRetriesSerializationFailure(t *testing.T) {
	for _, atCommit := range []bool{false, true} {
		name := "at statement"
		if atCommit {
			name = "at commit"
		}
		t.Run(name, func(t *testing.T) {
			ctx, db := openPostgres(t)
			table := createTable(t, ctx, db, "n int NOT NULL")
			insertNext := func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (n) VALUES ((SELECT count(*) FROM "+table+") + 1)")
				return err
			}
			count := func(ctx context.Context, tx *sql.Tx) error {
				var n int
				return tx.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n)
			}

			// The handshake, on the first attempts: both count; A inserts
			// and (at commit) waits for B's insert; A commits; then B
			// inserts (at statement) or commits (at commit).
			readA, readB, wroteB, doneA := make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{})
			var callsA, callsB int
			var firstB error // what B's function returned on its first attempt
			var seenA, seenB retries
			var errA, errB error
			var wg sync.WaitGroup
			wg.Go(func() {
				defer close(doneA)
				errA = reboundsql.RetryTxOptions(ctx, db, serializable, rebound.Policy{Backoff: rebound.Constant(0), Observer: &seenA},
					func(ctx context.Context, tx *sql.Tx) error {
						callsA++
						if err := count(ctx, tx); err != nil {
							return err
						}
						if callsA == 1 {
							close(readA)
							if err := await(ctx, readB); err != nil {
								return err
							}
						}
						if err := insertNext(ctx, tx); err != nil {
							return err
						}
						if atCommit && callsA == 1 {
							return await(ctx, wroteB)
						}
						return nil
					})
			})
			wg.Go(func() {
				errB = reboundsql.RetryTxOptions(ctx, db, serializable, rebound.Policy{Backoff: rebound.Constant(0), Observer: &seenB},
					func(ctx context.Context, tx *sql.Tx) error {
						callsB++
						if err := count(ctx, tx); err != nil {
							return err
						}
						if callsB > 1 {
							return insertNext(ctx, tx)
						}
						close(readB)
						if err := await(ctx, readA); err != nil {
							return err
						}
						if !atCommit {
							if err := await(ctx, doneA); err != nil {
								return err
							}
						}
						err := insertNext(ctx, tx)
						if atCommit {
							close(wroteB)
							if err == nil {
								err = await(ctx, doneA)
							}
						}
						firstB = err
						return err
					})
			})
			wg.Wait()

			if errA != nil || errB != nil {
				t.Fatalf("A: %v; B: %v", errA, errB)
			}
			if callsA != 1 || callsB != 2 {
				t.Errorf("A ran %d times, B %d times; want 1 and 2", callsA, callsB)
			}
			if ev := seenA.list(); len(ev) != 0 {
				t.Errorf("A was retried: %+v", ev)
			}
			ev := seenB.list()
			if len(ev) != 1 || !reboundsql.IsSerializationFailure(ev[0].Err) || ev[0].Class != rebound.Response {
				t.Errorf("B's retries: %+v, want one after a serialization failure", ev)
			}
			if atCommit && firstB != nil {
				t.Errorf("B's first attempt failed before COMMIT: %v", firstB)
			}
			if got := numbers(t, ctx, db, table); !slices.Equal(got, []int{1, 2}) {
				t.Errorf("table holds %v, want [1 2]", got)
			}
		})
	}
}

// Two transactions lock two rows in opposite orders. PostgreSQL breaks the
// deadlock by failing one of them with 40P01; RetryTx runs it again. (The
// retry waits for the other transaction to end: run at once, it could take
// the first row back before the other does, and deadlock again.)
func TestPostgresRetriesDeadlock(t *testing.T) {
	ctx, db := openPostgres(t)
	table := createTable(t, ctx, db, "id int PRIMARY KEY, n int NOT NULL")
	if _, err := db.ExecContext(ctx, "INSERT INTO "+table+" VALUES (1, 0), (2, 0)"); err != nil {
		t.Fatal(err)
	}
	bump := func(ctx context.Context, tx *sql.Tx, id int) error {
		if _, err := tx.ExecContext(ctx, "UPDATE "+table+" SET n = n + 1 WHERE id = $1", id); err != nil {
			return fmt.Errorf("update row %d: %w", id, err)
		}
		return nil
	}
	locked := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	done := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	var calls [2]int
	var errs [2]error
	var seen retries
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			defer close(done[i])
			first, second := i+1, 2-i
			errs[i] = reboundsql.RetryTx(ctx, db, rebound.Policy{Backoff: rebound.Constant(0), Observer: &seen},
				func(ctx context.Context, tx *sql.Tx) error {
					calls[i]++
					if calls[i] > 1 {
						if err := await(ctx, done[1-i]); err != nil {
							return err
						}
					}
					if err := bump(ctx, tx, first); err != nil {
						return err
					}
					if calls[i] == 1 {
						close(locked[i])
						if err := await(ctx, locked[1-i]); err != nil {
							return err
						}
					}
					return bump(ctx, tx, second)
				})
		})
	}
	wg.Wait()

	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("RetryTx: %v; %v", errs[0], errs[1])
	}
	if calls[0]+calls[1] != 3 || calls[0] == calls[1] {
		t.Errorf("the transactions ran %d and %d times; want 1 and 2 in some order", calls[0], calls[1])
	}
	ev := seen.list()
	if len(ev) != 1 || !reboundsql.IsDeadlock(ev[0].Err) || ev[0].Class != rebound.Response {
		t.Errorf("retries: %+v, want one after a deadlock", ev)
	}
	if got := numbers(t, ctx, db, table); !slices.Equal(got, []int{2, 2}) {
		t.Errorf("rows hold %v, want [2 2]", got)
	}
}

// A function error that RetryTx does not retry leaves no row behind.
func TestPostgresRollsBackWhatItDoesNotRetry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		class rebound.Class
	}{
		{"permanent", rebound.Permanent(errors.New("no such account")), rebound.Logic},
		{"unknown", errors.New("no such account"), rebound.Unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, db := openPostgres(t)
			table := createTable(t, ctx, db, "n int NOT NULL")
			calls := 0
			err := reboundsql.RetryTx(ctx, db, rebound.Policy{Backoff: rebound.Constant(0)}, func(ctx context.Context, tx *sql.Tx) error {
				calls++
				if _, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (n) VALUES (1)"); err != nil {
					return err
				}
				return tc.err
			})
			var re *rebound.Error
			if !errors.As(err, &re) || re.Reason != rebound.ReasonPermanent || re.Class != tc.class || !errors.Is(err, tc.err) {
				t.Fatalf("RetryTx: %v, want a permanent %v failure wrapping %v", err, tc.class, tc.err)
			}
			if calls != 1 {
				t.Errorf("%d calls, want 1", calls)
			}
			if got := numbers(t, ctx, db, table); len(got) != 0 {
				t.Errorf("table holds %v, want no rows", got)
			}
		})
	}
}

// A transaction whose connection is lost before COMMIT is retried on
// another connection, and its work is done once.
func TestPostgresRetriesLostConnection(t *testing.T) {
	ctx, db := openPostgres(t)
	table := createTable(t, ctx, db, "n int NOT NULL")
	calls := 0
	var seen retries
	err := reboundsql.RetryTx(ctx, db, rebound.Policy{Backoff: rebound.Constant(0), Observer: &seen}, func(ctx context.Context, tx *sql.Tx) error {
		calls++
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (n) VALUES ($1)", calls); err != nil {
			return err
		}
		if calls == 1 {
			_, err := tx.ExecContext(ctx, "SELECT pg_terminate_backend(pg_backend_pid())")
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("RetryTx: %v", err)
	}
	if ev := seen.list(); len(ev) != 1 || ev[0].Class != rebound.Connection {
		t.Errorf("retries: %+v, want one after a Connection failure", ev)
	}
	if got := numbers(t, ctx, db, table); !slices.Equal(got, []int{2}) {
		t.Errorf("table holds %v, want [2]", got)
	}
}
