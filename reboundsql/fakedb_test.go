package reboundsql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync"
	"testing"
)

// pgError is a driver error with a SQLSTATE, as pgx's *pgconn.PgError.
type pgError struct{ code string }

func (e *pgError) Error() string    { return "fake: SQLSTATE " + e.code }
func (e *pgError) SQLState() string { return e.code }

// fakeDB is a database/sql driver without statements whose COMMITs fail as
// the test says. It counts transactions, COMMITs and ROLLBACKs.
type fakeDB struct {
	// commit returns the outcome of the nth COMMIT (from 1) of a
	// transaction that began with ctx.
	commit func(ctx context.Context, n int) error

	mu                        sync.Mutex
	begun, commits, rollbacks int
}

// open returns a *sql.DB on f, closed when the test ends.
func (f *fakeDB) open(t *testing.T) *sql.DB {
	db := sql.OpenDB(f)
	t.Cleanup(func() { db.Close() })
	return db
}

// counts returns how many transactions began, and how many COMMITs and ROLLBACKs were sent.
func (f *fakeDB) counts() (begun, commits, rollbacks int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.begun, f.commits, f.rollbacks
}

func (f *fakeDB) Connect(context.Context) (driver.Conn, error) { return fakeConn{f}, nil }
func (f *fakeDB) Driver() driver.Driver                        { return fakeDriver{} }

type fakeDriver struct{}

func (fakeDriver) Open(string) (driver.Conn, error) { return nil, errors.New("fake: use sql.OpenDB") }

type fakeConn struct{ db *fakeDB }

func (fakeConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("fake: no statements") }
func (fakeConn) Close() error                        { return nil }
func (c fakeConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c fakeConn) BeginTx(ctx context.Context, _ driver.TxOptions) (driver.Tx, error) {
	c.db.mu.Lock()
	defer c.db.mu.Unlock()
	c.db.begun++
	return fakeTx{c.db, ctx}, nil
}

type fakeTx struct {
	db  *fakeDB
	ctx context.Context
}

func (t fakeTx) Commit() error {
	t.db.mu.Lock()
	t.db.commits++
	n := t.db.commits
	t.db.mu.Unlock()
	if t.db.commit == nil {
		return nil
	}
	return t.db.commit(t.ctx, n)
}

func (t fakeTx) Rollback() error {
	t.db.mu.Lock()
	defer t.db.mu.Unlock()
	t.db.rollbacks++
	return nil
}
