package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"time"
)

// WakeInterval is how often Wait asks SQLite whether another connection
// has committed a change.
const WakeInterval = 10 * time.Millisecond

// watcher is the connection Wait watches the database on, kept between
// Waits so that a commit between two of them is not missed.
type watcher struct {
	turn chan struct{} // held by the Wait in progress
	conn *sql.Conn     // nil until the first Wait and after its release
	last int64         // PRAGMA data_version at the last look
}

// Wait implements outbox.Waker: it returns nil once another connection
// (another goroutine's transaction, another process) has committed a
// change to the database, such as a transaction that enqueued messages,
// or ctx's error when ctx ends. So a Relay on this Store claims within
// about WakeInterval (10 ms) of an enqueue instead of at its next poll.
//
// SQLite has no notifications. Wait looks every WakeInterval at PRAGMA
// data_version, a counter of the commits of other connections that costs
// no table read and takes no lock, on a connection of its own: taken from
// the pool by the first Wait, kept between Waits, and given back when a
// Wait ends with ctx's error, as when the Relay stops. The first Wait
// returns at once, since anything committed before it may be due. Every
// commit wakes it, the Relay's own outcomes included; a claim that finds
// nothing commits no change, so an idle database stays quiet.
//
// With a pool of one connection (db.SetMaxOpenConns(1)) the watch would
// hold the only connection: Wait then only waits for ctx to end, and the
// Relay finds new messages by polling. Concurrent Waits take turns.
//
// After Close, Wait returns ErrClosed.
func (s *Store) Wait(ctx context.Context) error {
	if s.db.Stats().MaxOpenConnections == 1 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closed:
			return ErrClosed
		}
	}
	w := &s.watch
	select {
	case w.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return ErrClosed
	}
	defer func() { <-w.turn }()
	select {
	case <-s.closed: // Close released the connection before this turn
		return ErrClosed
	default:
	}
	if w.conn == nil {
		c, err := s.db.Conn(ctx)
		if err != nil {
			return err
		}
		v, err := dataVersion(ctx, c)
		if err != nil {
			_ = c.Close()
			return err
		}
		w.conn, w.last = c, v
		return nil
	}
	t := time.NewTicker(WakeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			w.release()
			return ctx.Err()
		case <-s.closed:
			w.release()
			return ErrClosed
		case <-t.C:
		}
		v, err := dataVersion(ctx, w.conn)
		if err != nil {
			w.release()
			return err
		}
		if v != w.last {
			w.last = v
			// Every commit changes data_version, the relay's own
			// included: under load, waking at each would have the relay
			// make many small claims whose writes crowd out the
			// enqueues'. So a wake-up comes no sooner than three times
			// the last claim's duration after it ended: claims then take
			// at most a quarter of the time, and an idle relay still
			// wakes within about one claim's time.
			if gap := time.Until(s.claimPace.next()); gap > 0 {
				pause := time.NewTimer(gap)
				defer pause.Stop()
				select {
				case <-ctx.Done():
					w.release()
					return ctx.Err()
				case <-s.closed:
					w.release()
					return ErrClosed
				case <-pause.C:
				}
			}
			return nil
		}
	}
}

// ErrClosed is returned by Wait once the Store is closed.
var ErrClosed = errors.New("outbox/sqlite: store closed")

// Close ends a Wait in progress, makes later ones return ErrClosed, and
// gives the connection Wait watches on back to the pool. It does not
// close the database; the other methods keep working. It is safe to call
// more than once, and returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	w := &s.watch
	w.turn <- struct{}{} // a Wait in progress returns at closed
	if w.conn != nil {
		w.release()
	}
	<-w.turn
	return nil
}

// pace remembers when the last claim ended and how long it took.
type pace struct {
	end, took atomic.Int64 // Unix nanoseconds; nanoseconds
}

func (p *pace) record(start, end time.Time) {
	p.end.Store(end.UnixNano())
	p.took.Store(int64(end.Sub(start)))
}

// next is the earliest time a wake-up should come.
func (p *pace) next() time.Time {
	return time.Unix(0, p.end.Load()+3*p.took.Load())
}

// release gives the watch's connection back to the pool.
func (w *watcher) release() {
	_ = w.conn.Close()
	w.conn = nil
}

func dataVersion(ctx context.Context, c *sql.Conn) (int64, error) {
	var v int64
	err := c.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v)
	return v, err
}
