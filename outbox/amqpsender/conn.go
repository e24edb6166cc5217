package amqpsender

// The shared connection, its replacement with backoff, and the channels
// in confirm mode that the Sends take one at a time.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rebound-go/rebound"
)

// pubChannel is a channel in confirm mode, with its return and close
// notifications. One Send uses it at a time, so a return on it is that
// Send's.
type pubChannel struct {
	conn    *amqp.Connection
	ch      *amqp.Channel
	returns chan amqp.Return
	closes  chan *amqp.Error
	// closeErr is the error the channel was closed with, once read.
	closeErr *amqp.Error
}

// dialURL connects to url, with the dial and the AMQP handshake bounded by
// ctx's deadline.
func dialURL(ctx context.Context, url string) (*amqp.Connection, error) {
	deadline, _ := ctx.Deadline()
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName("rebound outbox amqpsender")
	return amqp.DialConfig(url, amqp.Config{
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if !deadline.IsZero() {
				// Bounds the handshake; the client clears it once open.
				if err := c.SetDeadline(deadline); err != nil {
					c.Close()
					return nil, err
				}
			}
			return c, nil
		},
	})
}

// reconnectDelay is the wait before the next dial after failures
// consecutive failures (failed dials or lost connections, at least 1):
// lo, doubling with each failure, at most hi.
func reconnectDelay(failures int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < failures && d < hi; i++ {
		if d > hi/2 {
			return hi
		}
		d *= 2
	}
	return min(d, hi)
}

// connect returns the open connection, dialing one if there is none and
// the backoff allows. One caller dials at a time; the others wait for it.
func (s *Sender) connect(ctx context.Context) (*amqp.Connection, *Error) {
	// Each pass returns, or waits for a dial that another caller started
	// and that ends by its context's deadline.
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, &Error{Op: "connect", class: rebound.Connection, Err: ErrClosed}
		}
		if s.conn != nil {
			if !s.conn.IsClosed() {
				c := s.conn
				s.mu.Unlock()
				return c, nil
			}
			s.lostLocked(s.conn, amqp.ErrClosed) // before its watcher saw it
		}
		if wait := s.dialing; wait != nil {
			s.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, &Error{Op: "connect", class: causeClass(ctx.Err()), Err: ctx.Err()}
			}
		}
		if now := time.Now(); now.Before(s.next) {
			err := fmt.Errorf("not connected: next attempt in %s (at %s), after %d failures; last: %w",
				s.next.Sub(now), s.next.Format(time.RFC3339Nano), s.failures, s.lastErr)
			s.mu.Unlock()
			return nil, &Error{Op: "connect", class: rebound.Connection, Err: err}
		}
		done := make(chan struct{})
		s.dialing = done
		s.mu.Unlock()

		dctx, cancel := context.WithTimeout(ctx, s.confirmTimeout)
		c, err := s.dial(dctx)
		cancel()
		if err == nil && c == nil {
			err = errors.New("Config.Dial returned no connection and no error")
		}

		s.mu.Lock()
		s.dialing = nil
		close(done)
		switch {
		case err != nil && ctx.Err() != nil:
			// The caller gave up: no fault of the broker's to back off
			// from.
			s.mu.Unlock()
			return nil, &Error{Op: "connect", class: causeClass(ctx.Err()), Err: err}
		case err != nil:
			s.failures++
			s.lastErr = err
			wait := reconnectDelay(s.failures, s.minReconnect, s.maxReconnect)
			s.next = time.Now().Add(wait)
			n := s.failures
			s.mu.Unlock()
			s.log.Warn("amqpsender: cannot connect", "broker", s.broker, "failures", n, "next_attempt_in", wait, "error", err)
			return nil, &Error{Op: "connect", class: rebound.Connection, Err: err}
		case s.closed:
			s.mu.Unlock()
			c.Close()
			return nil, &Error{Op: "connect", class: rebound.Connection, Err: ErrClosed}
		}
		if s.failures > 0 {
			s.log.Info("amqpsender: connected", "broker", s.broker, "after_failures", s.failures)
		}
		s.conn, s.failures, s.lastErr = c, 0, nil
		closes := c.NotifyClose(make(chan *amqp.Error, 1))
		s.wg.Go(func() { s.watch(c, closes) })
		s.mu.Unlock()
		return c, nil
	}
}

// watch waits for c to close and, unless it was replaced or closed by
// Close, schedules its replacement.
func (s *Sender) watch(c *amqp.Connection, closes chan *amqp.Error) {
	ae, ok := <-closes
	err := error(amqp.ErrClosed)
	if ok && ae != nil {
		err = ae
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == c {
		s.lostLocked(c, err)
	}
}

// lostLocked forgets the connection c, which died of err, and its idle
// channels, and holds off the next dial by the backoff. s.mu is held.
func (s *Sender) lostLocked(c *amqp.Connection, err error) {
	s.conn, s.idle = nil, nil
	s.failures++
	s.lastErr = err
	wait := reconnectDelay(s.failures, s.minReconnect, s.maxReconnect)
	s.next = time.Now().Add(wait)
	s.log.Warn("amqpsender: connection lost", "broker", s.broker, "next_attempt_in", wait, "error", err)
}

// channel returns a channel in confirm mode for one publish: an idle one,
// or a new one. A slot, one of MaxChannels, is held from here until the
// channel is given back with release or discard; a channel opens only
// when none is idle, so at most MaxChannels are ever open.
func (s *Sender) channel(ctx context.Context) (*pubChannel, *Error) {
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, &Error{Op: "channel", class: causeClass(ctx.Err()), Err: fmt.Errorf("all %d channels busy: %w", cap(s.slots), ctx.Err())}
	}
	if pc := s.idleChannel(c); pc != nil {
		return pc, nil
	}
	pc, oerr := s.open(ctx, c)
	if oerr != nil {
		<-s.slots
		return nil, &Error{Op: "channel", class: causeClass(oerr), Err: oerr}
	}
	return pc, nil
}

// idleChannel takes an idle channel of c, or returns nil.
func (s *Sender) idleChannel(c *amqp.Connection) *pubChannel {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.idle) > 0 {
		pc := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if pc.conn == c && !pc.ch.IsClosed() {
			return pc
		}
	}
	return nil
}

// open opens a channel on c in confirm mode. The client's calls take no
// context, so they run on a goroutine of their own; a channel that opens
// after ctx ended is closed.
func (s *Sender) open(ctx context.Context, c *amqp.Connection) (*pubChannel, error) {
	type result struct {
		pc  *pubChannel
		err error
	}
	res := make(chan result)
	gone := make(chan struct{})
	if !s.goOwned(func() {
		pc, err := newPubChannel(c)
		select {
		case res <- result{pc, err}:
		case <-gone:
			if pc != nil {
				_ = pc.ch.Close()
			}
		}
	}) {
		return nil, ErrClosed
	}
	select {
	case r := <-res:
		return r.pc, r.err
	case <-ctx.Done():
		close(gone)
		return nil, ctx.Err()
	}
}

func newPubChannel(c *amqp.Connection) (*pubChannel, error) {
	ch, err := c.Channel()
	if err != nil {
		return nil, err
	}
	pc := &pubChannel{
		conn: c,
		ch:   ch,
		// One publish at a time has at most one return; the client
		// gives up sending one after a while rather than block.
		returns: ch.NotifyReturn(make(chan amqp.Return, 1)),
		closes:  ch.NotifyClose(make(chan *amqp.Error, 1)),
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, err
	}
	return pc, nil
}

// release gives pc back for the next publish, or discards it if it or its
// connection is gone.
func (s *Sender) release(pc *pubChannel) {
	select {
	case <-pc.returns: // none expected; never reuse a channel with one pending
	default:
	}
	s.mu.Lock()
	if !s.closed && s.conn == pc.conn && !pc.ch.IsClosed() {
		s.idle = append(s.idle, pc)
		s.mu.Unlock()
		<-s.slots
		return
	}
	s.mu.Unlock()
	s.discard(pc)
}

// discard closes pc, if it is still open, and frees its slot.
func (s *Sender) discard(pc *pubChannel) {
	<-s.slots
	if !pc.ch.IsClosed() {
		// Close waits for the broker's close-ok, or for the connection
		// to die: not on the Send's time.
		s.goOwned(func() { _ = pc.ch.Close() })
	}
}

// goOwned runs f on a goroutine that Close waits for, unless the Sender
// is closed.
func (s *Sender) goOwned(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Go(f)
	return true
}
