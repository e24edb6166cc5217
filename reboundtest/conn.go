package reboundtest

import (
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Faults are the connection faults of a Conn or of every connection of a
// Listener, what toxiproxy's toxics do, in process. The zero value is no
// fault. Reads and writes are those of the wrapped connection: on a
// Listener's connection (the server's side) reads carry the requests and
// writes the responses.
type Faults struct {
	// Reset resets the connection: closed with SO_LINGER 0 (an RST) when
	// it is a *net.TCPConn, plainly closed otherwise. A connection is
	// reset at its next read or write, and at once when Set turns Reset on
	// while it is open. Its own reads and writes then fail with
	// syscall.ECONNRESET; its peer's fail with ECONNRESET (TCP) or EOF.
	Reset bool
	// Blackhole makes reads block and writes vanish: a read waits until
	// its deadline (failing with os.ErrDeadlineExceeded, so that timeouts
	// fire), the connection's Close, or Set turning Blackhole off; a write
	// reports success and sends nothing. toxiproxy's timeout toxic with
	// no timeout.
	Blackhole bool
	// Latency delays each read's data and each write by this long.
	Latency time.Duration
	// SlowClose makes Close wait this long before closing.
	SlowClose time.Duration
	// ReadLimit and WriteLimit, when positive, reset the connection once
	// this many bytes have been read (written) on it since it was made:
	// the read or write that reaches the limit returns what fits, the
	// next one resets (toxiproxy's limit_data, one per direction).
	ReadLimit, WriteLimit int64
}

// source holds the faults shared by a Listener's connections, or by a
// lone Conn.
type source struct {
	mu      sync.Mutex
	f       Faults
	changed chan struct{} // closed and replaced on Set
	conns   map[*Conn]struct{}
}

func newSource(f Faults) *source {
	return &source{f: f, changed: make(chan struct{}), conns: map[*Conn]struct{}{}}
}

func (s *source) get() (Faults, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f, s.changed
}

func (s *source) set(f Faults) {
	s.mu.Lock()
	s.f = f
	close(s.changed)
	s.changed = make(chan struct{})
	var live []*Conn
	if f.Reset {
		for c := range s.conns {
			live = append(live, c)
		}
	}
	s.mu.Unlock()
	for _, c := range live {
		c.reset()
	}
}

// A Listener wraps a net.Listener: every connection it accepts is a Conn
// under the Listener's faults. Set changes them for every connection,
// open or still to come. Set it as an httptest.Server's Listener (from
// NewUnstartedServer) to put the faults under a real server. A Listener
// is safe for concurrent use.
type Listener struct {
	net.Listener
	src *source
}

// NewListener returns a Listener over inner with faults f.
func NewListener(inner net.Listener, f Faults) *Listener {
	return &Listener{Listener: inner, src: newSource(f)}
}

// Accept waits for a connection of the inner listener and returns it as a
// *Conn.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newConn(c, l.src, true), nil
}

// Set replaces the faults of every connection, open or to come. Turning
// Reset on resets the open ones at once.
func (l *Listener) Set(f Faults) { l.src.set(f) }

// Faults returns the current faults.
func (l *Listener) Faults() Faults { f, _ := l.src.get(); return f }

// A Conn wraps a net.Conn under Faults. It is safe for concurrent use, as
// net.Conn is.
type Conn struct {
	net.Conn
	src   *source
	track bool // registered in src.conns (a Listener's connection)

	mu                  sync.Mutex
	readDL, writeDL     time.Time
	deadlineChanged     chan struct{}
	read, written       int64
	resetDone, isClosed bool
	closed              chan struct{}
}

// NewConn returns a Conn over inner with faults f. Wrap a dialled
// connection (in an http.Transport's DialContext, say) to put the faults
// on the client's side, or one end of net.Pipe inside a testing/synctest
// bubble, where Latency, SlowClose and deadlines take no real time.
func NewConn(inner net.Conn, f Faults) *Conn {
	return newConn(inner, newSource(f), true)
}

func newConn(inner net.Conn, src *source, track bool) *Conn {
	c := &Conn{Conn: inner, src: src, track: track, closed: make(chan struct{}), deadlineChanged: make(chan struct{})}
	if track {
		src.mu.Lock()
		src.conns[c] = struct{}{}
		src.mu.Unlock()
	}
	return c
}

// Set replaces the faults of c. On a Listener's connection it replaces
// those of every connection of the Listener. Turning Reset on resets c at
// once.
func (c *Conn) Set(f Faults) { c.src.set(f) }

// Faults returns the current faults of c.
func (c *Conn) Faults() Faults { f, _ := c.src.get(); return f }

// Read reads from the wrapped connection under the faults.
func (c *Conn) Read(p []byte) (int, error) {
	for {
		f, changed := c.src.get()
		if err := c.check("read", f, f.ReadLimit, &c.read); err != nil {
			return 0, err
		}
		if f.Blackhole {
			if err := c.block(changed); err != nil {
				return 0, err
			}
			continue
		}
		if f.ReadLimit > 0 {
			c.mu.Lock()
			left := f.ReadLimit - c.read
			c.mu.Unlock()
			p = p[:min(int64(len(p)), left)]
		}
		n, err := c.Conn.Read(p)
		c.mu.Lock()
		c.read += int64(n)
		wasReset := c.resetDone
		c.mu.Unlock()
		if err != nil && wasReset {
			err = c.opError("read", os.NewSyscallError("read", syscall.ECONNRESET))
		}
		if n > 0 && f.Latency > 0 {
			c.sleep(f.Latency)
		}
		return n, err
	}
}

// Write writes to the wrapped connection under the faults.
func (c *Conn) Write(p []byte) (int, error) {
	f, _ := c.src.get()
	if err := c.check("write", f, f.WriteLimit, &c.written); err != nil {
		return 0, err
	}
	c.mu.Lock()
	dl := c.writeDL
	c.mu.Unlock()
	if !dl.IsZero() && !time.Now().Before(dl) {
		return 0, c.opError("write", os.ErrDeadlineExceeded)
	}
	if f.Blackhole {
		return len(p), nil
	}
	if f.Latency > 0 {
		c.sleep(f.Latency)
	}
	q := p
	if f.WriteLimit > 0 {
		c.mu.Lock()
		left := f.WriteLimit - c.written
		c.mu.Unlock()
		q = p[:min(int64(len(p)), left)]
	}
	n, err := c.Conn.Write(q)
	c.mu.Lock()
	c.written += int64(n)
	wasReset := c.resetDone
	c.mu.Unlock()
	if err != nil && wasReset {
		err = c.opError("write", os.NewSyscallError("write", syscall.ECONNRESET))
	}
	if err == nil && n < len(p) {
		c.reset()
		err = c.opError("write", os.NewSyscallError("write", syscall.ECONNRESET))
	}
	return n, err
}

// check fails an operation on a connection that is closed, reset, or past
// its byte limit (which resets it).
func (c *Conn) check(op string, f Faults, limit int64, count *int64) error {
	c.mu.Lock()
	closed, wasReset, over := c.isClosed, c.resetDone, limit > 0 && *count >= limit
	c.mu.Unlock()
	switch {
	case wasReset:
		return c.opError(op, os.NewSyscallError(op, syscall.ECONNRESET))
	case closed:
		return c.opError(op, net.ErrClosed)
	case f.Reset || over:
		c.reset()
		return c.opError(op, os.NewSyscallError(op, syscall.ECONNRESET))
	}
	return nil
}

// block waits, for a blackholed read, until the faults change, the read
// deadline passes or the connection closes.
func (c *Conn) block(changed <-chan struct{}) error {
	for {
		c.mu.Lock()
		dl, dlChanged, closed := c.readDL, c.deadlineChanged, c.isClosed
		c.mu.Unlock()
		if closed {
			return c.opError("read", net.ErrClosed)
		}
		var timeout <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return c.opError("read", os.ErrDeadlineExceeded)
			}
			t := time.NewTimer(d)
			timeout = t.C
			defer t.Stop() // at most one per change of the deadline
		}
		select {
		case <-changed:
			return nil
		case <-c.closed:
		case <-dlChanged:
		case <-timeout:
		}
	}
}

// sleep waits d or until the connection closes.
func (c *Conn) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.closed:
	}
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// reset closes the wrapped connection with an RST where it can.
func (c *Conn) reset() {
	c.mu.Lock()
	if c.resetDone || c.isClosed {
		c.mu.Unlock()
		return
	}
	c.resetDone, c.isClosed = true, true
	close(c.closed)
	c.mu.Unlock()
	c.forget()
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Conn.Close()
}

func (c *Conn) forget() {
	if c.track {
		c.src.mu.Lock()
		delete(c.src.conns, c)
		c.src.mu.Unlock()
	}
}

// Close closes the connection, after Faults.SlowClose.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.isClosed {
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	if f, _ := c.src.get(); f.SlowClose > 0 {
		t := time.NewTimer(f.SlowClose)
		<-t.C
	}
	c.mu.Lock()
	if c.isClosed {
		c.mu.Unlock()
		return nil
	}
	c.isClosed = true
	close(c.closed)
	c.mu.Unlock()
	c.forget()
	return c.Conn.Close()
}

// SetLinger sets SO_LINGER on the wrapped connection when it is a
// *net.TCPConn, so that a server that resets a hijacked connection (a
// Script's Handler) resets a Conn too.
func (c *Conn) SetLinger(sec int) error {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		return tc.SetLinger(sec)
	}
	return nil
}

// SetDeadline sets both deadlines, of c and of the wrapped connection.
func (c *Conn) SetDeadline(t time.Time) error {
	c.setDeadlines(t, true, true)
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline sets the read deadline, of c and of the wrapped
// connection; a blackholed read honours it.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.setDeadlines(t, true, false)
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline, of c and of the wrapped
// connection.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.setDeadlines(t, false, true)
	return c.Conn.SetWriteDeadline(t)
}

func (c *Conn) setDeadlines(t time.Time, read, write bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if read {
		c.readDL = t
	}
	if write {
		c.writeDL = t
	}
	close(c.deadlineChanged)
	c.deadlineChanged = make(chan struct{})
}
