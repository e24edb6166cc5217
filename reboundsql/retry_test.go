package reboundsql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundsql"
)

// retries records the RetryScheduled events of calls.
type retries struct {
	mu     sync.Mutex
	events []rebound.Event
}

func (r *retries) Observe(_ context.Context, e rebound.Event) {
	if e.Kind != rebound.RetryScheduled {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *retries) list() []rebound.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rebound.Event(nil), r.events...)
}

// retryAnything is a policy whose own classifier would retry every error.
var retryAnything = rebound.Policy{
	Backoff: rebound.Constant(0),
	RetryOn: rebound.Classes(rebound.Unknown, rebound.Connection, rebound.Response, rebound.Logic),
	Classifiers: []rebound.Classifier{rebound.ClassifierFunc(func(error) (rebound.Classification, bool) {
		return rebound.Classification{Class: rebound.Connection, Retryable: true}, true
	})},
}

func TestRetryTxRetriesWhatLeftNothingDone(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		class rebound.Class
	}{
		{"serialization failure", &pgError{"40001"}, rebound.Response},
		{"wrapped deadlock", fmt.Errorf("update: %w", &pgError{"40P01"}), rebound.Response},
		{"bad connection", driver.ErrBadConn, rebound.Connection},
		{"unexpected EOF", fmt.Errorf("select: %w", io.ErrUnexpectedEOF), rebound.Connection},
		{"connection failure", &pgError{"08006"}, rebound.Connection},
		{"admin shutdown", &pgError{"57P01"}, rebound.Connection},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeDB{}
			var seen retries
			calls := 0
			err := reboundsql.RetryTx(t.Context(), f.open(t), rebound.Policy{Backoff: rebound.Constant(0), Observer: &seen},
				func(ctx context.Context, tx *sql.Tx) error {
					calls++
					if calls == 1 {
						return tc.err
					}
					return nil
				})
			if err != nil {
				t.Fatalf("RetryTx: %v", err)
			}
			if begun, commits, rollbacks := f.counts(); calls != 2 || begun != 2 || commits != 1 || rollbacks != 1 {
				t.Errorf("%d calls, %d transactions, %d COMMITs, %d ROLLBACKs; want 2, 2, 1, 1", calls, begun, commits, rollbacks)
			}
			ev := seen.list()
			if len(ev) != 1 || ev[0].Class != tc.class || !errors.Is(ev[0].Err, tc.err) {
				t.Errorf("retries %+v, want one of class %v for %v", ev, tc.class, tc.err)
			}
		})
	}
}

func TestRetryTxRetriesCommitRolledBack(t *testing.T) {
	for _, code := range []string{"40001", "40P01"} {
		t.Run(code, func(t *testing.T) {
			f := &fakeDB{commit: func(_ context.Context, n int) error {
				if n == 1 {
					return &pgError{code}
				}
				return nil
			}}
			calls := 0
			err := reboundsql.RetryTx(t.Context(), f.open(t), rebound.Policy{Backoff: rebound.Constant(0)},
				func(context.Context, *sql.Tx) error { calls++; return nil })
			if err != nil {
				t.Fatalf("RetryTx: %v", err)
			}
			if begun, commits, _ := f.counts(); calls != 2 || begun != 2 || commits != 2 {
				t.Errorf("%d calls, %d transactions, %d COMMITs; want 2 of each", calls, begun, commits)
			}
		})
	}
}

func TestRetryTxNeverRetriesAmbiguousCommit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		class rebound.Class
	}{
		{"EOF", io.EOF, rebound.Connection},
		{"bad connection", driver.ErrBadConn, rebound.Unknown},
		{"admin shutdown", &pgError{"57P01"}, rebound.Unknown},
		{"unique violation", &pgError{"23505"}, rebound.Unknown},
		{"transaction done", sql.ErrTxDone, rebound.Unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeDB{commit: func(context.Context, int) error { return tc.err }}
			calls := 0
			err := reboundsql.RetryTx(t.Context(), f.open(t), retryAnything,
				func(context.Context, *sql.Tx) error { calls++; return nil })
			if !errors.Is(err, reboundsql.ErrCommitUnknown) || !errors.Is(err, tc.err) {
				t.Fatalf("RetryTx: %v, want ErrCommitUnknown wrapping %v", err, tc.err)
			}
			var re *rebound.Error
			if !errors.As(err, &re) || re.Reason != rebound.ReasonPermanent || re.Attempts != 1 || re.Class != tc.class {
				t.Errorf("RetryTx: %#v, want a permanent %v failure after 1 attempt", re, tc.class)
			}
			if begun, commits, _ := f.counts(); calls != 1 || begun != 1 || commits != 1 {
				t.Errorf("%d calls, %d transactions, %d COMMITs; want 1 of each", calls, begun, commits)
			}
			// An outer retry loop does not retry it either.
			if c := rebound.Classify(err); c.Retryable || !c.MaybeProcessed {
				t.Errorf("Classify(%v) = %+v, want not retryable, maybe processed", err, c)
			}
		})
	}
}

// A commit that runs out of the attempt's timeout is ambiguous, although
// rebound.Do retries an attempt that timed out.
func TestRetryTxNeverRetriesCommitThatTimedOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeDB{commit: func(ctx context.Context, _ int) error {
			<-ctx.Done()
			return ctx.Err()
		}}
		calls := 0
		p := rebound.Policy{Backoff: rebound.Constant(0), AttemptTimeout: time.Second}
		err := reboundsql.RetryTx(t.Context(), f.open(t), p,
			func(context.Context, *sql.Tx) error { calls++; return nil })
		if !errors.Is(err, reboundsql.ErrCommitUnknown) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("RetryTx: %v, want ErrCommitUnknown wrapping context.DeadlineExceeded", err)
		}
		var re *rebound.Error
		if !errors.As(err, &re) || re.Reason != rebound.ReasonPermanent || re.Class != rebound.Connection {
			t.Errorf("RetryTx: %#v, want a permanent Connection failure", re)
		}
		if calls != 1 {
			t.Errorf("%d calls, want 1", calls)
		}
	})
}

func TestRetryTxRollsBackWhatItDoesNotRetry(t *testing.T) {
	logic := errors.New("no such account")
	for _, tc := range []struct {
		name   string
		err    error
		class  rebound.Class
		reason rebound.Reason
	}{
		{"permanent", rebound.Permanent(logic), rebound.Logic, rebound.ReasonPermanent},
		{"permanent serialization failure", rebound.Permanent(&pgError{"40001"}), rebound.Logic, rebound.ReasonPermanent},
		{"unknown", logic, rebound.Unknown, rebound.ReasonPermanent},
		{"unique violation", &pgError{"23505"}, rebound.Unknown, rebound.ReasonPermanent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeDB{}
			calls := 0
			err := reboundsql.RetryTx(t.Context(), f.open(t), rebound.Policy{Backoff: rebound.Constant(0)},
				func(context.Context, *sql.Tx) error { calls++; return tc.err })
			var re *rebound.Error
			if !errors.As(err, &re) || re.Reason != tc.reason || re.Class != tc.class || re.Attempts != 1 || !errors.Is(err, tc.err) {
				t.Fatalf("RetryTx: %v, want %v after 1 attempt, class %v, wrapping %v", err, tc.reason, tc.class, tc.err)
			}
			if errors.Is(err, reboundsql.ErrCommitUnknown) {
				t.Errorf("RetryTx: %v, is ErrCommitUnknown", err)
			}
			if begun, commits, rollbacks := f.counts(); calls != 1 || begun != 1 || commits != 0 || rollbacks != 1 {
				t.Errorf("%d calls, %d transactions, %d COMMITs, %d ROLLBACKs; want 1, 1, 0, 1", calls, begun, commits, rollbacks)
			}
		})
	}
}

func TestRetryTxStopsWhenCanceled(t *testing.T) {
	f := &fakeDB{}
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	err := reboundsql.RetryTx(ctx, f.open(t), rebound.Policy{Backoff: rebound.Constant(0)},
		func(context.Context, *sql.Tx) error {
			calls++
			cancel()
			return driver.ErrBadConn
		})
	if !errors.Is(err, rebound.ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("RetryTx: %v, want canceled", err)
	}
	if calls != 1 {
		t.Errorf("%d calls, want 1", calls)
	}
}

func TestRetryTxRollsBackWhenFnPanics(t *testing.T) {
	f := &fakeDB{}
	db := f.open(t)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not reach the caller")
			}
		}()
		reboundsql.RetryTx(t.Context(), db, rebound.Policy{}, func(context.Context, *sql.Tx) error { panic("boom") })
	}()
	if begun, commits, rollbacks := f.counts(); begun != 1 || commits != 0 || rollbacks != 1 {
		t.Errorf("%d transactions, %d COMMITs, %d ROLLBACKs; want 1, 0, 1", begun, commits, rollbacks)
	}
	if s := db.Stats(); s.InUse != 0 {
		t.Errorf("%d connections in use, want 0", s.InUse)
	}
}

// The policy's classifiers still decide the errors of fn that RetryTx does
// not know.
func TestRetryTxKeepsPolicyClassifiers(t *testing.T) {
	f := &fakeDB{}
	busy := errors.New("account locked by a batch job")
	p := rebound.Policy{Backoff: rebound.Constant(0), Classifiers: []rebound.Classifier{
		rebound.ClassifierFunc(func(err error) (rebound.Classification, bool) {
			if errors.Is(err, busy) {
				return rebound.Classification{Class: rebound.Response, Retryable: true}, true
			}
			return rebound.Classification{}, false
		}),
	}}
	calls := 0
	err := reboundsql.RetryTx(t.Context(), f.open(t), p, func(context.Context, *sql.Tx) error {
		calls++
		if calls < 3 {
			return busy
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("RetryTx: %v after %d calls, want success after 3", err, calls)
	}
	if len(p.Classifiers) != 1 {
		t.Errorf("the caller's policy has %d classifiers, want 1", len(p.Classifiers))
	}
}
