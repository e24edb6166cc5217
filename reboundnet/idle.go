package reboundnet

import (
	"net"
	"time"
)

// IdleTimeout returns conn with a read deadline of d from the start of
// each Read, so that a peer that goes silent for d (a half-open connection:
// the peer's host died or a middlebox dropped the flow, and no reset will
// ever come) fails the Read with os.ErrDeadlineExceeded, which rebound
// classifies as a Connection error. Use it on connections where the peer
// sends something (data or heartbeats) at least every d. A d <= 0 returns
// conn unchanged.
//
// Each Read sets the deadline first, overriding one set with
// SetReadDeadline; writes are not affected. The returned conn has a
// NetConn method returning conn.
func IdleTimeout(conn net.Conn, d time.Duration) net.Conn {
	if d <= 0 {
		return conn
	}
	return &idleConn{Conn: conn, idle: d}
}

type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c *idleConn) Read(b []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// NetConn returns the wrapped connection.
func (c *idleConn) NetConn() net.Conn { return c.Conn }
