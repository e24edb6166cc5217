package postgres

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrClosed is returned by Wait once the Store is closed.
var ErrClosed = errors.New("outbox/postgres: store closed")

// listener is the connection that Wait listens on, shared by every Wait
// of a Store: one of them (the leader) reads it, the others wait for the
// leader to finish and return with it if it saw a notification.
type listener struct {
	mu      sync.Mutex
	conn    *pgx.Conn               // LISTENing; nil until needed and after an error
	leading bool                    // a Wait is reading conn
	cancel  context.CancelCauseFunc // ends the leader's read
	done    chan struct{}           // closed when the leader stops reading
	woken   uint64                  // wake-ups the leaders saw
	closed  bool
}

// Wait implements outbox.Waker with PostgreSQL's LISTEN/NOTIFY: it returns
// nil when a transaction that enqueued messages commits, or the error that
// ended the wait (ctx's, ErrClosed, or the connection's). It is safe for
// concurrent use: every Wait in progress returns at a notification.
//
// Wait listens on a connection of its own, taken from the pool at the
// first call and held until Close, so that notifications arriving between
// two Waits are kept for the next. The first Wait returns as soon as it
// listens, and so does the first Wait after a connection error: messages
// committed while nothing listened may be due. After a connection error
// Wait returns the error and drops the connection; call it again (after a
// pause, polling meanwhile) and it connects anew.
//
// LISTEN needs a session of its own: it does not work through a
// transaction-pooling proxy such as PgBouncer in transaction mode.
func (s *Store) Wait(ctx context.Context) error {
	l := &s.listen
	l.mu.Lock()
	seen := l.woken
	for l.leading {
		done := l.done
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
		}
		l.mu.Lock()
		if l.woken != seen {
			l.mu.Unlock()
			return nil
		}
	}
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		l.mu.Unlock()
		return err
	}
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	l.leading, l.cancel, l.done = true, cancel, make(chan struct{})
	conn := l.conn
	l.mu.Unlock()

	conn, err := s.await(wctx, conn)

	l.mu.Lock()
	defer l.mu.Unlock()
	l.conn = conn
	if err == nil {
		l.woken++
	}
	l.leading, l.cancel = false, nil
	close(l.done)
	if err != nil && l.closed {
		return ErrClosed
	}
	return err
}

// await listens on conn, connecting first if it is nil, and waits for a
// notification. It returns the connection to keep: nil after an error
// that may have broken it.
func (s *Store) await(ctx context.Context, conn *pgx.Conn) (*pgx.Conn, error) {
	if conn == nil {
		c, err := s.pool.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		conn = c.Hijack()
		if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
			closeConn(conn)
			return nil, err
		}
		return conn, nil // listening now: what came before may be due
	}
	_, err := conn.WaitForNotification(ctx)
	if err != nil && (ctx.Err() == nil || conn.IsClosed()) {
		closeConn(conn)
		return nil, err
	}
	// A canceled wait leaves the connection usable (pgx interrupts the
	// read with a deadline), still listening.
	return conn, err
}

// Close ends a Wait in progress, makes later ones return ErrClosed, and
// closes the listening connection. It does not close the pool; the other
// methods keep working. It is safe to call more than once, and returns
// nil.
func (s *Store) Close() error {
	l := &s.listen
	l.mu.Lock()
	l.closed = true
	var done chan struct{}
	if l.leading {
		l.cancel(ErrClosed)
		done = l.done
	}
	l.mu.Unlock()
	if done != nil {
		<-done
	}
	l.mu.Lock()
	conn := l.conn
	l.conn = nil
	l.mu.Unlock()
	if conn != nil {
		closeConn(conn)
	}
	return nil
}

// closeConn closes a listening connection, bounded: the connection may
// be broken.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
