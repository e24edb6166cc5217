package reboundtest_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/internal/pgtest"
	"github.com/rebound-go/rebound/reboundsql"
	"github.com/rebound-go/rebound/reboundtest"
)

// sqliteDSN is outbox/sqlite's data source name for path: WAL, a busy
// timeout, immediate transactions.
func sqliteDSN(path string) string {
	return "file:" + url.PathEscape(path) + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// bank is an accounts table with account 1 holding 100, seen through a
// database with faults and through a plain one that tells what is really
// there.
type bank struct {
	faults      *reboundtest.SQLFaults
	db, plainDB *sql.DB
}

// openBank opens a SQLite file of the test's own twice: through rules, and
// plainly.
func openBank(t *testing.T, rules ...reboundtest.SQLRule) bank {
	t.Helper()
	dsn := sqliteDSN(filepath.Join(t.TempDir(), "bank.db"))
	plain, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Close() })
	if _, err := plain.Exec(`CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
		INSERT INTO accounts VALUES (1, 100)`); err != nil {
		t.Fatal(err)
	}
	f := reboundtest.NewSQLFaults(rules...)
	db, err := f.OpenDB(&sqlite.Driver{}, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return bank{f, db, plain}
}

// balance is account 1's balance, read without faults.
func (b bank) balance(t *testing.T) int {
	t.Helper()
	var n int
	if err := b.plainDB.QueryRow(`SELECT balance FROM accounts WHERE id = 1`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// fastTx is a transaction policy whose waits do not slow the tests.
var fastTx = rebound.Policy{MaxAttempts: 5, Backoff: rebound.Constant(time.Millisecond)}

// deposit returns a RetryTx function adding 10 to account 1, counting its
// runs in runs.
func deposit(runs *atomic.Int32) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		runs.Add(1)
		_, err := tx.ExecContext(ctx, `UPDATE accounts SET balance = balance + 10 WHERE id = 1`)
		return err
	}
}

func wantCounts(t *testing.T, got, want reboundtest.SQLCounts) {
	t.Helper()
	if got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
}

// A serialization failure at the first COMMIT: RetryTx runs the transaction
// once more, and its effect happens once.
func TestSQLSerializationFailureOnCommitRetried(t *testing.T) {
	b := openBank(t, reboundtest.SQLRule{Op: reboundtest.SQLCommit, Nth: 1, Fault: reboundtest.SQLSerializationFailure})
	var runs atomic.Int32
	if err := reboundsql.RetryTx(t.Context(), b.db, fastTx, deposit(&runs)); err != nil {
		t.Fatal(err)
	}
	if runs.Load() != 2 {
		t.Errorf("the transaction ran %d times, want 2", runs.Load())
	}
	if got := b.balance(t); got != 110 {
		t.Errorf("balance %d, want 110", got)
	}
	wantCounts(t, b.faults.Counts(), reboundtest.SQLCounts{Begins: 2, Statements: 2, Commits: 2, Committed: 1, Faults: 1})
}

// A deadlock reported by a statement: the transaction is rolled back and
// run again.
func TestSQLDeadlockOnStatementRetried(t *testing.T) {
	b := openBank(t, reboundtest.SQLRule{
		Op: reboundtest.SQLStatement, Nth: 1, Fault: reboundtest.SQLDeadlock,
		Match: func(q string) bool { return strings.HasPrefix(q, "UPDATE") },
	})
	var runs atomic.Int32
	if err := reboundsql.RetryTx(t.Context(), b.db, fastTx, deposit(&runs)); err != nil {
		t.Fatal(err)
	}
	if runs.Load() != 2 {
		t.Errorf("the transaction ran %d times, want 2", runs.Load())
	}
	if got := b.balance(t); got != 110 {
		t.Errorf("balance %d, want 110", got)
	}
	wantCounts(t, b.faults.Counts(), reboundtest.SQLCounts{Begins: 2, Statements: 2, Commits: 1, Committed: 1, Rollbacks: 1, Faults: 1})
}

// The injected errors read as PostgreSQL's and carry their SQLSTATE, and a
// transaction a fault rolled back refuses further statements, as
// PostgreSQL's does.
func TestSQLErrorsAndAbortedTransaction(t *testing.T) {
	b := openBank(t, reboundtest.SQLRule{Op: reboundtest.SQLStatement, Nth: 1, Fault: reboundtest.SQLSerializationFailure})
	tx, err := b.db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	_, err = tx.Exec(`UPDATE accounts SET balance = 0`)
	if !reboundsql.IsSerializationFailure(err) || !strings.Contains(err.Error(), "could not serialize access") {
		t.Fatalf("first statement: %v, want a serialization failure", err)
	}
	_, err = tx.Exec(`UPDATE accounts SET balance = 1`)
	if got := reboundsql.SQLState(err); got != "25P02" {
		t.Errorf("statement after the fault: %v (SQLSTATE %q), want 25P02", err, got)
	}
	if err := tx.Rollback(); err != nil {
		t.Errorf("rollback: %v", err)
	}
	if got := b.balance(t); got != 100 {
		t.Errorf("balance %d, want 100", got)
	}
	var se *reboundtest.SQLError
	err = (&reboundtest.SQLError{Code: "40P01", Message: "deadlock detected"})
	if !errors.As(err, &se) || err.Error() != "ERROR: deadlock detected (SQLSTATE 40P01)" || !reboundsql.IsDeadlock(err) {
		t.Errorf("SQLError reads %q", err)
	}
}

// The ambiguous commit: the COMMIT is applied and the connection is lost
// before its answer. RetryTx does not run the transaction again; its error
// wraps ErrCommitUnknown and the connection error, a Connection failure
// that may have been processed. The deposit is there.
func TestSQLCommitLostAfterIsAmbiguous(t *testing.T) {
	b := openBank(t, reboundtest.SQLRule{Op: reboundtest.SQLCommit, Nth: 1, Fault: reboundtest.SQLConnLostAfter})
	var runs atomic.Int32
	err := reboundsql.RetryTx(t.Context(), b.db, fastTx, deposit(&runs))
	if !errors.Is(err, reboundsql.ErrCommitUnknown) {
		t.Fatalf("RetryTx: %v, want ErrCommitUnknown", err)
	}
	var re *rebound.Error
	if !errors.As(err, &re) || re.Attempts != 1 || re.Reason != rebound.ReasonPermanent || re.Class != rebound.Connection {
		t.Errorf("RetryTx: %#v, want one attempt given up as permanent, a Connection failure", re)
	}
	var lost *reboundtest.SQLConnLostError
	var op *net.OpError
	if !errors.As(err, &lost) || !lost.Applied || lost.Op != "COMMIT" || !errors.As(err, &op) {
		t.Errorf("RetryTx: %v, want a connection lost after COMMIT, a *net.OpError", err)
	}
	if c := rebound.Classify(lost); c.Class != rebound.Connection || !c.MaybeProcessed {
		t.Errorf("the lost connection classifies as %+v, want Connection, maybe processed", c)
	}
	if runs.Load() != 1 {
		t.Errorf("the transaction ran %d times, want 1", runs.Load())
	}
	if got := b.balance(t); got != 110 {
		t.Errorf("balance %d, want 110: the commit was applied", got)
	}
	wantCounts(t, b.faults.Counts(), reboundtest.SQLCounts{Begins: 1, Statements: 1, Commits: 1, Committed: 1, Faults: 1})

	// The lost connection is discarded; the next transaction gets another.
	if err := reboundsql.RetryTx(t.Context(), b.db, fastTx, deposit(&runs)); err != nil {
		t.Fatal(err)
	}
	if got := b.balance(t); got != 120 {
		t.Errorf("balance %d, want 120", got)
	}
}

// A COMMIT lost before it reached the database: nothing is applied. RetryTx
// cannot tell it from the ambiguous commit, and does not retry either.
func TestSQLCommitLostBeforeNotApplied(t *testing.T) {
	b := openBank(t, reboundtest.SQLRule{Op: reboundtest.SQLCommit, Nth: 1, Fault: reboundtest.SQLConnLostBefore})
	var runs atomic.Int32
	err := reboundsql.RetryTx(t.Context(), b.db, fastTx, deposit(&runs))
	var lost *reboundtest.SQLConnLostError
	if !errors.Is(err, reboundsql.ErrCommitUnknown) || !errors.As(err, &lost) || lost.Applied {
		t.Fatalf("RetryTx: %v, want ErrCommitUnknown and a connection lost before COMMIT", err)
	}
	if runs.Load() != 1 {
		t.Errorf("the transaction ran %d times, want 1", runs.Load())
	}
	if got := b.balance(t); got != 100 {
		t.Errorf("balance %d, want 100: the commit was not applied", got)
	}
	wantCounts(t, b.faults.Counts(), reboundtest.SQLCounts{Begins: 1, Statements: 1, Commits: 1, Faults: 1})
}

// A connection lost before a statement's answer, in a transaction, is
// retried by RetryTx: the server rolled the transaction back with the
// session.
func TestSQLConnLostOnStatementRetried(t *testing.T) {
	b := openBank(t, reboundtest.SQLRule{Op: reboundtest.SQLStatement, Nth: 1, Fault: reboundtest.SQLConnLostAfter})
	var runs atomic.Int32
	if err := reboundsql.RetryTx(t.Context(), b.db, fastTx, deposit(&runs)); err != nil {
		t.Fatal(err)
	}
	if runs.Load() != 2 {
		t.Errorf("the transaction ran %d times, want 2", runs.Load())
	}
	if got := b.balance(t); got != 110 {
		t.Errorf("balance %d, want 110", got)
	}
}

// Nth counts matching operations over the whole database: the second
// transaction's commit fails, the first and third commit.
func TestSQLRuleNthCommit(t *testing.T) {
	b := openBank(t, reboundtest.SQLRule{Op: reboundtest.SQLCommit, Nth: 2, Fault: reboundtest.SQLDeadlock})
	for i, wantErr := range []bool{false, true, false} {
		tx, err := b.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(`UPDATE accounts SET balance = balance + 1`); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); (err != nil) != wantErr || wantErr && !reboundsql.IsDeadlock(err) {
			t.Errorf("commit %d: %v, want an error: %t", i+1, err, wantErr)
		}
	}
	if got := b.balance(t); got != 102 {
		t.Errorf("balance %d, want 102", got)
	}
	wantCounts(t, b.faults.Counts(), reboundtest.SQLCounts{Begins: 3, Statements: 3, Commits: 3, Committed: 2, Faults: 1})
}

// A commit rule with Match picks the commits of the transactions that ran
// a matching statement; a rule with Nth 0 picks every one.
func TestSQLRuleMatchCommit(t *testing.T) {
	b := openBank(t, reboundtest.SQLRule{
		Op: reboundtest.SQLCommit, Fault: reboundtest.SQLSerializationFailure,
		Match: func(q string) bool { return strings.Contains(q, "audit") },
	})
	if _, err := b.plainDB.Exec(`CREATE TABLE audit (note TEXT)`); err != nil {
		t.Fatal(err)
	}
	run := func(stmts ...string) error {
		tx, err := b.db.Begin()
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for _, s := range stmts {
			if _, err := tx.Exec(s); err != nil {
				return err
			}
		}
		return tx.Commit()
	}
	for range 2 {
		if err := run(`UPDATE accounts SET balance = balance + 1`); err != nil {
			t.Errorf("a transaction without audit: %v", err)
		}
		if err := run(`UPDATE accounts SET balance = balance + 1`, `INSERT INTO audit VALUES ('x')`); !reboundsql.IsSerializationFailure(err) {
			t.Errorf("a transaction with audit: %v, want a serialization failure", err)
		}
	}
	if got := b.balance(t); got != 102 {
		t.Errorf("balance %d, want 102", got)
	}
	if got := b.faults.Counts().Faults; got != 2 {
		t.Errorf("%d faults, want 2", got)
	}
}

// SQLReturnErr fails a statement outside a transaction with the rule's
// error, without running it, and the connection stays usable; prepared
// statements get the faults too.
func TestSQLStatementReturnErr(t *testing.T) {
	errFull := errors.New("disk full")
	b := openBank(t, reboundtest.SQLRule{Op: reboundtest.SQLStatement, Nth: 2, Fault: reboundtest.SQLReturnErr, Err: errFull})
	stmt, err := b.db.Prepare(`UPDATE accounts SET balance = balance + ?`)
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	for i, want := range []error{nil, errFull, nil} {
		if _, err := stmt.Exec(5); !errors.Is(err, want) {
			t.Errorf("statement %d: %v, want %v", i+1, err, want)
		}
	}
	if got := b.balance(t); got != 110 {
		t.Errorf("balance %d, want 110", got)
	}
	wantCounts(t, b.faults.Counts(), reboundtest.SQLCounts{Statements: 3, Faults: 1})
}

// A statement outside a transaction whose answer is lost was applied:
// database/sql does not run it again (the error is not driver.ErrBadConn).
func TestSQLStatementLostAfterApplied(t *testing.T) {
	b := openBank(t, reboundtest.SQLRule{Op: reboundtest.SQLStatement, Nth: 1, Fault: reboundtest.SQLConnLostAfter})
	_, err := b.db.Exec(`UPDATE accounts SET balance = balance + 10 WHERE id = 1`)
	var lost *reboundtest.SQLConnLostError
	if !errors.As(err, &lost) || !lost.Applied || errors.Is(err, driver.ErrBadConn) {
		t.Fatalf("Exec: %v, want a connection lost after the statement", err)
	}
	if got := b.balance(t); got != 110 {
		t.Errorf("balance %d, want 110", got)
	}
	if _, err := b.db.Exec(`UPDATE accounts SET balance = balance + 10 WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if got := b.balance(t); got != 120 {
		t.Errorf("balance %d, want 120", got)
	}
}

// NewSQLFaults refuses a rule that would inject nothing.
func TestSQLRuleValidation(t *testing.T) {
	for _, r := range []reboundtest.SQLRule{
		{Fault: reboundtest.SQLDeadlock},
		{Op: reboundtest.SQLCommit},
		{Op: reboundtest.SQLCommit, Fault: reboundtest.SQLDeadlock, Nth: -1},
		{Op: reboundtest.SQLCommit, Fault: reboundtest.SQLReturnErr},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewSQLFaults(%+v) did not panic", r)
				}
			}()
			reboundtest.NewSQLFaults(r)
		}()
	}
}

// The wrapper works over pgx's database/sql driver: a serialization
// failure at COMMIT is retried, and the ambiguous commit leaves its row.
func TestSQLPostgres(t *testing.T) {
	u := pgtest.URL(t, "run reboundtest's SQL faults against PostgreSQL")
	_, dsn := pgtest.Schema(t, u, "reboundtest_")
	plain, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := plain.ExecContext(ctx, `CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL); INSERT INTO accounts VALUES (1, 100)`); err != nil {
		t.Fatal(err)
	}
	f := reboundtest.NewSQLFaults(
		reboundtest.SQLRule{Op: reboundtest.SQLCommit, Nth: 1, Fault: reboundtest.SQLSerializationFailure},
		reboundtest.SQLRule{Op: reboundtest.SQLCommit, Nth: 3, Fault: reboundtest.SQLConnLostAfter},
	)
	db, err := f.OpenDB(stdlib.GetDefaultDriver(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	balance := func() int {
		var n int
		if err := plain.QueryRowContext(ctx, `SELECT balance FROM accounts WHERE id = 1`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var runs atomic.Int32
	opts := &sql.TxOptions{Isolation: sql.LevelSerializable}
	// Commits 1 (40001) and 2: one deposit.
	if err := reboundsql.RetryTxOptions(ctx, db, opts, fastTx, deposit(&runs)); err != nil {
		t.Fatal(err)
	}
	if runs.Load() != 2 || balance() != 110 {
		t.Errorf("after a serialization failure: %d runs, balance %d; want 2 and 110", runs.Load(), balance())
	}
	// Commit 3: applied, then lost.
	err = reboundsql.RetryTxOptions(ctx, db, opts, fastTx, deposit(&runs))
	if !errors.Is(err, reboundsql.ErrCommitUnknown) {
		t.Fatalf("RetryTx: %v, want ErrCommitUnknown", err)
	}
	if runs.Load() != 3 || balance() != 120 {
		t.Errorf("after an ambiguous commit: %d runs, balance %d; want 3 and 120", runs.Load(), balance())
	}
	// The database works on: the lost connection was replaced.
	if err := reboundsql.RetryTxOptions(ctx, db, opts, fastTx, deposit(&runs)); err != nil {
		t.Fatal(err)
	}
	if balance() != 130 {
		t.Errorf("balance %d, want 130", balance())
	}
	wantCounts(t, f.Counts(), reboundtest.SQLCounts{Begins: 4, Statements: 4, Commits: 4, Committed: 3, Faults: 2})
}

// skipConn is a SQLite connection whose driver has no ExecContext of its
// own: it answers driver.ErrSkip, and database/sql prepares the statement
// instead.
type skipConn struct{ driver.Conn }

func (skipConn) ExecContext(context.Context, string, []driver.NamedValue) (driver.Result, error) {
	return nil, driver.ErrSkip
}

type skipConnector struct{ dsn string }

func (c skipConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := (&sqlite.Driver{}).Open(c.dsn)
	return skipConn{conn}, err
}

func (skipConnector) Driver() driver.Driver { return &sqlite.Driver{} }

// A statement the wrapped driver skips, and database/sql runs again
// through a prepared statement, counts once and gets its fault once.
func TestSQLSkippedStatementCountsOnce(t *testing.T) {
	dsn := sqliteDSN(filepath.Join(t.TempDir(), "skip.db"))
	f := reboundtest.NewSQLFaults(reboundtest.SQLRule{Op: reboundtest.SQLStatement, Nth: 3, Fault: reboundtest.SQLDeadlock})
	db := sql.OpenDB(f.Connector(skipConnector{dsn}))
	t.Cleanup(func() { db.Close() })
	for i, stmt := range []string{`CREATE TABLE t (n INTEGER)`, `INSERT INTO t VALUES (1)`, `INSERT INTO t VALUES (2)`, `INSERT INTO t VALUES (3)`} {
		if _, err := db.Exec(stmt); (err != nil) != (i == 2) || i == 2 && !reboundsql.IsDeadlock(err) {
			t.Errorf("statement %d: %v", i+1, err)
		}
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d rows (%v), want 2", n, err)
	}
	wantCounts(t, f.Counts(), reboundtest.SQLCounts{Statements: 5, Faults: 1})
}
