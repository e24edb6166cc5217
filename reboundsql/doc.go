// Package reboundsql runs database/sql transactions under a rebound.Policy,
// retrying the whole transaction when PostgreSQL rolls it back for a reason
// that a new attempt can get past.
//
//	err := reboundsql.RetryTxOptions(ctx, db, &sql.TxOptions{Isolation: sql.LevelSerializable}, policy,
//		func(ctx context.Context, tx *sql.Tx) error {
//			// read and write through tx; return every error
//		})
//
// The package imports only the standard library and rebound: it recognises
// the driver's errors by their SQLState() string method (pgx's
// *pgconn.PgError has one), never by their text, and needs no driver.
//
// # What is retried
//
// Each attempt begins a transaction, runs the function in it and commits
// it. An attempt that fails is rolled back, and the next one starts from
// scratch; the function must therefore read again whatever it decides on.
// Retried, as long as the policy allows another attempt:
//
//   - a serialization failure (SQLSTATE 40001) or a deadlock (40P01), from
//     a statement or from COMMIT (PostgreSQL reports some serialization
//     failures of SERIALIZABLE transactions at commit). They are Response
//     failures: the server answered, and undid the transaction.
//   - a connection lost before COMMIT was sent: network errors and io.EOF
//     (rebound's own rules), driver.ErrBadConn, a connection exception
//     (class 08) or the server ending the session (57P01, 57P02, 57P03, as
//     when the backend is terminated). They are Connection failures.
//     Nothing was committed, since COMMIT was never sent.
//
// These SQLSTATEs and driver.ErrBadConn are decided before the policy's
// Classifiers, though a rebound.Permanent or rebound.Transient mark on the
// function's error still wins. Every other error of the function is
// classified by the policy as rebound.Do classifies it: an error marked with
// rebound.Permanent is not retried, and an error that nothing recognises
// (such as a unique violation, 23505) is not by default.
//
// # Ambiguous commits
//
// When COMMIT itself fails with anything but 40001 or 40P01 (the connection
// broke, the context ended, the server went away), the transaction may or
// may not have been committed. Such a failure is never retried, whatever
// the policy and its classifiers say: the error wraps ErrCommitUnknown and
// the driver's error, keeps the driver error's class (a Connection failure
// for an ended context) and says that the commit may have been processed.
// Callers that must know check the database before doing the work again,
// or make the transaction idempotent with a key of their own.
//
// # Policies
//
// The zero rebound.Policy makes 3 attempts with backoff from 1 s to 10 s.
// Conflicts between transactions clear up fast, so a policy for
// transactions often waits less and tries more:
//
//	rebound.Policy{MaxAttempts: 10, Backoff: rebound.Exponential{Initial: 10 * time.Millisecond, Max: time.Second}}
//
// Keep the jitter: transactions that retry in step collide again, and the
// victim of a deadlock that retries at once can take its first lock back
// before the other transaction gets it, and deadlock again.
//
// RetryTx is safe for concurrent use, as *sql.DB is. Events, budgets and
// breakers work as for rebound.Do; Policy.AttemptTimeout bounds each
// attempt's transaction, and a commit that runs out of it is ambiguous.
package reboundsql
