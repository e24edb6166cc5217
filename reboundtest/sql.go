// Faults of a database/sql driver: the errors reboundsql.RetryTx retries,
// and the ambiguous COMMIT it must not.

package reboundtest

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// SQLOp is the kind of operation a SQLRule applies to.
type SQLOp int

const (
	// SQLStatement is a statement run with Exec or Query, on the
	// connection or through a prepared statement, in a transaction or not.
	SQLStatement SQLOp = iota + 1
	// SQLCommit is the COMMIT of a transaction.
	SQLCommit
)

// SQLFault is what a SQLRule does to the operation it picks.
type SQLFault int

const (
	// SQLSerializationFailure fails the operation, without running it,
	// with a *SQLError of SQLSTATE 40001, as PostgreSQL reports a
	// serialization failure. The transaction, if any, is rolled back.
	SQLSerializationFailure SQLFault = iota + 1
	// SQLDeadlock is SQLSerializationFailure with SQLSTATE 40P01
	// (deadlock_detected).
	SQLDeadlock
	// SQLConnLostBefore fails the operation, without running it, with the
	// error of a connection reset by the server (a *net.OpError wrapping
	// ECONNRESET, which rebound classifies as a Connection failure). The
	// transaction, if any, is rolled back, and the connection is gone: a
	// COMMIT lost before it reached the server, which applied nothing.
	SQLConnLostBefore
	// SQLConnLostAfter runs the operation on the wrapped driver and then
	// fails it with the error of SQLConnLostBefore, and the connection is
	// gone. On a COMMIT, this is the ambiguous commit: the transaction is
	// committed, but the client cannot know it. On a statement in a
	// transaction, the transaction is rolled back with the connection.
	SQLConnLostAfter
	// SQLReturnErr fails the operation, without running it, with the
	// rule's Err. A COMMIT so failed rolls the transaction back; a
	// statement leaves the transaction as it was.
	SQLReturnErr
)

// SQLRule picks operations of a wrapped driver and injects a fault into
// them.
type SQLRule struct {
	// Op is the kind of operation the rule counts: SQLStatement or
	// SQLCommit. Required.
	Op SQLOp
	// Match, when set, restricts the rule to the statements whose SQL text
	// it accepts and, for SQLCommit, to the commits of transactions that
	// ran such a statement. Nil matches every operation of kind Op.
	Match func(query string) bool
	// Nth is which of the matching operations gets the fault, counted
	// from 1 over the whole database (all connections): Nth 2 with Op
	// SQLCommit is the second commit. 0 means every matching operation.
	Nth int
	// Fault is what happens to it. Required.
	Fault SQLFault
	// Err is the error SQLReturnErr returns. Required with SQLReturnErr.
	Err error
}

// SQLCounts counts what a wrapped driver was asked to do.
type SQLCounts struct {
	// Begins counts the transactions begun.
	Begins int
	// Statements counts the statements run or faulted (Exec and Query).
	Statements int
	// Commits counts the COMMITs asked for, faulted or not; Committed
	// those the wrapped driver applied, including the ambiguous ones of
	// SQLConnLostAfter.
	Commits, Committed int
	// Rollbacks counts the ROLLBACKs asked for.
	Rollbacks int
	// Faults counts the faults injected.
	Faults int
}

// SQLFaults injects faults into the operations of a database/sql driver
// that it wraps, by the rules given to NewSQLFaults, and counts them.
//
// Open a database through it with OpenDB (a driver and a data source name)
// or sql.OpenDB(f.Connector(c)). The first rule that picks an operation
// decides its fault; every rule counts the operations it matches. A
// connection lost to a fault is lost for good: its next use returns
// driver.ErrBadConn, and database/sql replaces it.
//
// SQLFaults is safe for concurrent use, and so are the databases opened
// through it.
type SQLFaults struct {
	rules []SQLRule

	mu     sync.Mutex
	seen   []int // per rule, the operations it matched
	counts SQLCounts
}

// NewSQLFaults returns an injector with rules. It panics on a rule without
// Op or Fault, with a negative Nth, or with SQLReturnErr and no Err: a test
// that injects nothing must not pass silently.
func NewSQLFaults(rules ...SQLRule) *SQLFaults {
	for i, r := range rules {
		field := fmt.Sprintf("reboundtest: SQLRule %d", i)
		switch {
		case r.Op != SQLStatement && r.Op != SQLCommit:
			panic(field + ": Op must be SQLStatement or SQLCommit")
		case r.Fault < SQLSerializationFailure || r.Fault > SQLReturnErr:
			panic(field + ": Fault is not a SQLFault")
		case r.Nth < 0:
			panic(field + ": Nth must be 0 (every match) or positive")
		case r.Fault == SQLReturnErr && r.Err == nil:
			panic(field + ": SQLReturnErr needs Err")
		}
	}
	return &SQLFaults{rules: rules, seen: make([]int, len(rules))}
}

// Counts returns what the databases opened through f were asked so far.
func (f *SQLFaults) Counts() SQLCounts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts
}

// OpenDB opens a database on d and dsn, as sql.Open does, with f's faults.
// It uses d's connector when d is a driver.DriverContext (as pgx's stdlib
// driver is), and d.Open(dsn) otherwise (as modernc.org/sqlite).
func (f *SQLFaults) OpenDB(d driver.Driver, dsn string) (*sql.DB, error) {
	var c driver.Connector = sqlDSNConnector{d, dsn}
	if dc, ok := d.(driver.DriverContext); ok {
		var err error
		if c, err = dc.OpenConnector(dsn); err != nil {
			return nil, err
		}
	}
	return sql.OpenDB(f.Connector(c)), nil
}

// Connector returns a connector whose connections are c's with f's faults.
// It closes c, if c is an io.Closer, when it is closed.
func (f *SQLFaults) Connector(c driver.Connector) driver.Connector {
	return &sqlConnector{f: f, inner: c}
}

// decide counts an operation and returns the rule that faults it, if any.
// For a commit, queries are the statements of its transaction.
func (f *SQLFaults) decide(op SQLOp, queries ...string) *SQLRule {
	f.mu.Lock()
	defer f.mu.Unlock()
	if op == SQLStatement {
		f.counts.Statements++
	} else {
		f.counts.Commits++
	}
	var fired *SQLRule
	for i := range f.rules {
		r := &f.rules[i]
		if r.Op != op || !sqlMatches(r.Match, queries) {
			continue
		}
		f.seen[i]++
		if fired == nil && (r.Nth == 0 || r.Nth == f.seen[i]) {
			fired = r
		}
	}
	if fired != nil {
		f.counts.Faults++
	}
	return fired
}

func sqlMatches(match func(string) bool, queries []string) bool {
	if match == nil {
		return true
	}
	for _, q := range queries {
		if match(q) {
			return true
		}
	}
	return false
}

func (f *SQLFaults) count(field *int) {
	f.mu.Lock()
	*field++
	f.mu.Unlock()
}

// SQLError is an error with a SQLSTATE, as a PostgreSQL driver returns it
// (pgx's *pgconn.PgError): reboundsql reads the code through the
// SQLState method.
type SQLError struct {
	// Code is the SQLSTATE, such as "40001".
	Code string
	// Message is the server's message, such as "deadlock detected".
	Message string
}

// Error reads as pgx's: "ERROR: deadlock detected (SQLSTATE 40P01)".
func (e *SQLError) Error() string { return "ERROR: " + e.Message + " (SQLSTATE " + e.Code + ")" }

// SQLState returns e.Code.
func (e *SQLError) SQLState() string { return e.Code }

// The errors of the faults, as PostgreSQL words them.
func sqlFaultError(r *SQLRule) error {
	switch r.Fault {
	case SQLSerializationFailure:
		return &SQLError{"40001", "could not serialize access due to read/write dependencies among transactions"}
	case SQLDeadlock:
		return &SQLError{"40P01", "deadlock detected"}
	case SQLReturnErr:
		return r.Err
	}
	return nil
}

// sqlErrAborted answers the statements of a transaction that a fault
// rolled back, as PostgreSQL answers them until ROLLBACK.
var sqlErrAborted = &SQLError{"25P02", "current transaction is aborted, commands ignored until end of transaction block"}

// SQLConnLostError is the error of SQLConnLostBefore and SQLConnLostAfter:
// the connection was reset during Op. It unwraps to a *net.OpError with
// ECONNRESET, which rebound classifies as a Connection failure that may
// have been processed, as it classifies a real reset.
type SQLConnLostError struct {
	// Op is "COMMIT" or the statement's SQL text.
	Op string
	// Applied reports whether the wrapped driver had done Op (the fault
	// was SQLConnLostAfter). A real driver cannot know it; a test can.
	Applied bool
	err     error
}

func (e *SQLConnLostError) Error() string {
	return "reboundtest: connection lost during " + e.Op + ": " + e.err.Error()
}

func (e *SQLConnLostError) Unwrap() error { return e.err }

func sqlConnLost(op string, applied bool) error {
	return &SQLConnLostError{Op: op, Applied: applied, err: &net.OpError{
		Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET),
	}}
}

type sqlDSNConnector struct {
	d   driver.Driver
	dsn string
}

func (c sqlDSNConnector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c sqlDSNConnector) Driver() driver.Driver                        { return c.d }

type sqlConnector struct {
	f     *SQLFaults
	inner driver.Connector
}

func (c *sqlConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &sqlConn{f: c.f, inner: conn}, nil
}

func (c *sqlConnector) Driver() driver.Driver { return sqlDriver{c.f, c.inner.Driver()} }

func (c *sqlConnector) Close() error {
	if cl, ok := c.inner.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// sqlDriver is the connector's Driver, for callers of sql.DB.Driver.
type sqlDriver struct {
	f     *SQLFaults
	inner driver.Driver
}

func (d sqlDriver) Open(name string) (driver.Conn, error) {
	conn, err := d.inner.Open(name)
	if err != nil {
		return nil, err
	}
	return &sqlConn{f: d.f, inner: conn}, nil
}

// sqlConn is a connection with faults. database/sql uses a connection
// from one goroutine at a time, so its fields need no lock.
type sqlConn struct {
	f     *SQLFaults
	inner driver.Conn
	lost  bool // a fault lost the connection

	tx      *sqlTx   // the open transaction
	queries []string // its statements, for the commit rules' Match

	// pending is the decision on a statement whose ExecContext or
	// QueryContext the wrapped driver skipped (driver.ErrSkip):
	// database/sql runs it again through a prepared statement, which
	// must not count it twice.
	pending *sqlDecision
}

type sqlDecision struct {
	query string
	rule  *SQLRule
}

var (
	_ driver.Conn               = (*sqlConn)(nil)
	_ driver.ConnBeginTx        = (*sqlConn)(nil)
	_ driver.ConnPrepareContext = (*sqlConn)(nil)
	_ driver.ExecerContext      = (*sqlConn)(nil)
	_ driver.QueryerContext     = (*sqlConn)(nil)
	_ driver.Pinger             = (*sqlConn)(nil)
	_ driver.SessionResetter    = (*sqlConn)(nil)
	_ driver.Validator          = (*sqlConn)(nil)
	_ driver.NamedValueChecker  = (*sqlConn)(nil)
)

func (c *sqlConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *sqlConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if c.lost {
		return nil, driver.ErrBadConn
	}
	var s driver.Stmt
	var err error
	if pc, ok := c.inner.(driver.ConnPrepareContext); ok {
		s, err = pc.PrepareContext(ctx, query)
	} else {
		s, err = c.inner.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &sqlStmt{c: c, inner: s, query: query}, nil
}

func (c *sqlConn) Close() error { return c.inner.Close() }

func (c *sqlConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *sqlConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.lost {
		return nil, driver.ErrBadConn
	}
	var tx driver.Tx
	var err error
	if bt, ok := c.inner.(driver.ConnBeginTx); ok {
		tx, err = bt.BeginTx(ctx, opts)
	} else if opts.Isolation != driver.IsolationLevel(sql.LevelDefault) || opts.ReadOnly {
		// What database/sql answers for such a driver.
		err = errors.New("sql: driver does not support non-default isolation level or read-only transactions")
	} else {
		tx, err = c.inner.Begin() //nolint:staticcheck // the driver has nothing else
	}
	if err != nil {
		return nil, err
	}
	c.f.count(&c.f.counts.Begins)
	c.tx = &sqlTx{c: c, inner: tx}
	c.queries = c.queries[:0]
	return c.tx, nil
}

// before decides on a statement about to run. A non-nil error is the
// fault's, returned instead of running it.
func (c *sqlConn) before(query string) (*SQLRule, error) {
	if c.tx != nil {
		if c.tx.aborted {
			c.f.count(&c.f.counts.Statements)
			return nil, sqlErrAborted
		}
		c.queries = append(c.queries, query)
	}
	var r *SQLRule
	if p := c.pending; p != nil && p.query == query {
		r = p.rule // counted when it was skipped
	} else {
		r = c.f.decide(SQLStatement, query)
	}
	c.pending = nil
	if r == nil || r.Fault == SQLConnLostAfter {
		return r, nil
	}
	switch r.Fault {
	case SQLConnLostBefore:
		c.lose()
		return r, sqlConnLost(query, false)
	case SQLReturnErr:
		return r, r.Err
	}
	c.abort() // 40001 and 40P01 roll the transaction back
	return r, sqlFaultError(r)
}

// after applies a SQLConnLostAfter rule once the statement ran.
func (c *sqlConn) after(r *SQLRule, query string, err error) error {
	if r == nil || r.Fault != SQLConnLostAfter {
		return err
	}
	c.lose()
	return sqlConnLost(query, err == nil)
}

// skipped records the decision on a statement the wrapped driver did not
// run, for the prepared statement database/sql runs it with next.
func (c *sqlConn) skipped(query string, r *SQLRule) {
	c.pending = &sqlDecision{query, r}
	if c.tx != nil {
		c.queries = c.queries[:len(c.queries)-1]
	}
}

// abort rolls the open transaction back on the wrapped driver, as the
// server does when it fails one.
func (c *sqlConn) abort() {
	if c.tx != nil && !c.tx.aborted {
		c.tx.aborted = true
		_ = c.tx.inner.Rollback()
	}
}

// lose ends the connection: its transaction is rolled back, and database/sql
// discards it.
func (c *sqlConn) lose() {
	c.abort()
	c.lost = true
}

func (c *sqlConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.lost {
		return nil, driver.ErrBadConn
	}
	ec, ok := c.inner.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip // database/sql prepares the statement instead
	}
	r, err := c.before(query)
	if err != nil {
		return nil, err
	}
	res, err := ec.ExecContext(ctx, query, args)
	if errors.Is(err, driver.ErrSkip) {
		c.skipped(query, r)
		return nil, err
	}
	if err = c.after(r, query, err); err != nil {
		return nil, err
	}
	return res, nil
}

func (c *sqlConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.lost {
		return nil, driver.ErrBadConn
	}
	qc, ok := c.inner.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	r, err := c.before(query)
	if err != nil {
		return nil, err
	}
	rows, err := qc.QueryContext(ctx, query, args)
	if errors.Is(err, driver.ErrSkip) {
		c.skipped(query, r)
		return nil, err
	}
	return sqlAfterQuery(c, r, query, rows, err)
}

func sqlAfterQuery(c *sqlConn, r *SQLRule, query string, rows driver.Rows, err error) (driver.Rows, error) {
	if err = c.after(r, query, err); err != nil {
		if rows != nil {
			rows.Close()
		}
		return nil, err
	}
	return rows, nil
}

func (c *sqlConn) Ping(ctx context.Context) error {
	if c.lost {
		return driver.ErrBadConn
	}
	if p, ok := c.inner.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *sqlConn) ResetSession(ctx context.Context) error {
	if c.lost {
		return driver.ErrBadConn
	}
	if r, ok := c.inner.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *sqlConn) IsValid() bool {
	if c.lost {
		return false
	}
	if v, ok := c.inner.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *sqlConn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.inner.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip // database/sql's own conversion
}

// sqlTx is a transaction with faults on its COMMIT.
type sqlTx struct {
	c       *sqlConn
	inner   driver.Tx
	aborted bool // rolled back on the wrapped driver by a fault
}

func (t *sqlTx) Commit() error {
	c := t.c
	defer func() { c.tx = nil }()
	if c.lost {
		return driver.ErrBadConn
	}
	if t.aborted {
		c.f.count(&c.f.counts.Commits)
		return sqlErrAborted
	}
	r := c.f.decide(SQLCommit, c.queries...)
	if r == nil {
		err := t.inner.Commit()
		if err == nil {
			c.f.count(&c.f.counts.Committed)
		}
		return err
	}
	switch r.Fault {
	case SQLConnLostAfter:
		err := t.inner.Commit()
		if err != nil {
			return err // the commit failed on its own: no ambiguity to inject
		}
		c.f.count(&c.f.counts.Committed)
		c.lost = true
		return sqlConnLost("COMMIT", true)
	case SQLConnLostBefore:
		c.lose()
		return sqlConnLost("COMMIT", false)
	}
	c.abort()
	return sqlFaultError(r)
}

func (t *sqlTx) Rollback() error {
	c := t.c
	defer func() { c.tx = nil }()
	if c.lost {
		return driver.ErrBadConn
	}
	c.f.count(&c.f.counts.Rollbacks)
	if t.aborted {
		return nil // already rolled back by the fault
	}
	return t.inner.Rollback()
}

// sqlStmt is a prepared statement with faults on its executions.
type sqlStmt struct {
	c     *sqlConn
	inner driver.Stmt
	query string
}

var (
	_ driver.StmtExecContext   = (*sqlStmt)(nil)
	_ driver.StmtQueryContext  = (*sqlStmt)(nil)
	_ driver.NamedValueChecker = (*sqlStmt)(nil)
)

func (s *sqlStmt) Close() error  { return s.inner.Close() }
func (s *sqlStmt) NumInput() int { return s.inner.NumInput() }

func (s *sqlStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), sqlNamed(args))
}

func (s *sqlStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), sqlNamed(args))
}

func (s *sqlStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if s.c.lost {
		return nil, driver.ErrBadConn
	}
	r, err := s.c.before(s.query)
	if err != nil {
		return nil, err
	}
	var res driver.Result
	if ec, ok := s.inner.(driver.StmtExecContext); ok {
		res, err = ec.ExecContext(ctx, args)
	} else {
		var vals []driver.Value
		if vals, err = sqlValues(args); err == nil {
			res, err = s.inner.Exec(vals) //nolint:staticcheck // the driver has nothing else
		}
	}
	if err = s.c.after(r, s.query, err); err != nil {
		return nil, err
	}
	return res, nil
}

func (s *sqlStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if s.c.lost {
		return nil, driver.ErrBadConn
	}
	r, err := s.c.before(s.query)
	if err != nil {
		return nil, err
	}
	var rows driver.Rows
	if qc, ok := s.inner.(driver.StmtQueryContext); ok {
		rows, err = qc.QueryContext(ctx, args)
	} else {
		var vals []driver.Value
		if vals, err = sqlValues(args); err == nil {
			rows, err = s.inner.Query(vals) //nolint:staticcheck // the driver has nothing else
		}
	}
	return sqlAfterQuery(s.c, r, s.query, rows, err)
}

func (s *sqlStmt) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := s.inner.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return s.c.CheckNamedValue(nv)
}

func sqlNamed(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, v := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return nv
}

func sqlValues(args []driver.NamedValue) ([]driver.Value, error) {
	vals := make([]driver.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, errors.New("reboundtest: the wrapped driver does not support named arguments")
		}
		vals[i] = a.Value
	}
	return vals, nil
}
