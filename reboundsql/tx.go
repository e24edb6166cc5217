package reboundsql

import (
	"context"
	"database/sql"
	"errors"

	"github.com/rebound-go/rebound"
)

// ErrCommitUnknown reports that COMMIT failed without saying whether the
// transaction was committed: the connection broke, or the context ended,
// while the commit was on its way. RetryTx never retries such a failure;
// errors.Is(err, ErrCommitUnknown) tells it apart, and errors.Is and
// errors.As also reach the driver's error.
var ErrCommitUnknown = errors.New("reboundsql: commit outcome unknown")

// RetryTx runs fn in a transaction and commits it, retrying the whole
// transaction under p when it fails in a way that leaves nothing done and
// can succeed next time: a serialization failure (SQLSTATE 40001) or a
// deadlock (40P01) from a statement or from COMMIT, or a connection lost
// before COMMIT was sent. Other errors of fn are classified by p as for
// rebound.Do: a rebound.Permanent error is not retried, nor by default is an
// error that nothing recognises. A failure of COMMIT other than 40001 or
// 40P01 is never retried and wraps ErrCommitUnknown.
//
// Each attempt begins a new transaction with the attempt's context, which
// it passes to fn, and rolls it back unless it commits, also when fn
// panics. fn must return the errors of its statements, and must neither
// commit nor roll back tx.
//
// When the call fails, the error is the *rebound.Error of rebound.Do, which
// wraps the last attempt's error.
func RetryTx(ctx context.Context, db *sql.DB, p rebound.Policy, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return RetryTxOptions(ctx, db, nil, p, fn)
}

// RetryTxOptions is RetryTx with transaction options, such as
// &sql.TxOptions{Isolation: sql.LevelSerializable}. A nil opts means the
// driver's defaults.
func RetryTxOptions(ctx context.Context, db *sql.DB, opts *sql.TxOptions, p rebound.Policy, fn func(ctx context.Context, tx *sql.Tx) error) error {
	// Our classifier goes first, so that no classifier of the caller can
	// make an ambiguous commit retryable.
	p.Classifiers = append([]rebound.Classifier{classifier{}}, p.Classifiers...)
	return rebound.Run(ctx, p, func(ctx context.Context) error {
		return runTx(ctx, db, opts, fn)
	})
}

// runTx is one attempt of RetryTx.
func runTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(context.Context, *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	// A no-op once the transaction has committed.
	defer tx.Rollback()
	if err := fn(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		if rolledBack(SQLState(err)) {
			return err
		}
		return &commitError{err}
	}
	return nil
}

// commitError is a failed COMMIT whose outcome is unknown.
type commitError struct{ err error }

func (e *commitError) Error() string { return ErrCommitUnknown.Error() + ": " + e.err.Error() }

func (e *commitError) Unwrap() error { return e.err }

func (e *commitError) Is(target error) bool { return target == ErrCommitUnknown }

// Classification keeps the class of the driver's error but is never
// retryable, and the commit may have been processed. A context that ended
// during the commit makes it a Connection failure: rebound.Do would take a
// Canceled class for the attempt's own timeout and retry it.
func (e *commitError) Classification() rebound.Classification {
	c := rebound.Classify(e.err).Class
	if c == rebound.Canceled {
		c = rebound.Connection
	}
	return rebound.Classification{Class: c, MaybeProcessed: true}
}
