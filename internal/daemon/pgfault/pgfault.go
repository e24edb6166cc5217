// Package pgfault stands in front of a PostgreSQL server for tests of a
// store outage: a Proxy at a fixed loopback address refuses connections
// (nothing listens), answers each one with a PostgreSQL error of a given
// SQLSTATE (as a server starting up, shutting down or out of connection
// slots does), accepts and never answers (a timeout), or forwards to the
// real server. Switching modes takes effect for new connections; Refuse
// also drops the connections it was forwarding, as a server restart does.
package pgfault

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Proxy is a loopback TCP proxy whose behaviour a test switches. It is safe
// for concurrent use.
type Proxy struct {
	tb     testing.TB
	addr   string
	target string

	mu     sync.Mutex
	ln     net.Listener
	mode   mode
	code   string // SQLSTATE in reject mode
	msg    string
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup // the accept loop and every connection's goroutines
}

type mode uint8

const (
	refuse mode = iota
	reject
	hang
	forward
)

// New returns a Proxy that refuses connections, on a loopback port of its
// own, forwarding to target (host:port) once told to. It is closed when tb
// ends.
func New(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &Proxy{tb: tb, addr: addr, target: target, conns: map[net.Conn]struct{}{}}
	tb.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

// Refuse closes the listener, so that connections are refused, and drops
// the connections in progress.
func (p *Proxy) Refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = refuse
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// Reject answers each new connection's startup with a FATAL error of SQLSTATE
// code and message, then closes it, as PostgreSQL does while starting up or
// shutting down (57P03) or with every connection slot taken (53300).
func (p *Proxy) Reject(code, message string) {
	p.set(reject, code, message)
}

// Hang accepts new connections and never answers them.
func (p *Proxy) Hang() { p.set(hang, "", "") }

// Forward passes new connections through to the target.
//
// Reject, Hang and Forward may be called from any goroutine; if the port
// cannot be taken again, they report the test failed.
func (p *Proxy) Forward() { p.set(forward, "", "") }

func (p *Proxy) set(m mode, code, msg string) {
	p.tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.mode, p.code, p.msg = m, code, msg
	if p.ln != nil {
		return
	}
	// The port was given up while refusing; take it again. Another socket
	// may hold it for a moment (a connection's local port): retry briefly.
	var err error
	for range 50 {
		if p.ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.tb.Errorf("pgfault: listening again on %s: %v", p.addr, err)
		return
	}
	p.wg.Add(1)
	go p.accept(p.ln)
}

// Close stops the proxy and waits for its goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.Refuse()
	p.wg.Wait()
}

func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.ln != ln {
			p.mu.Unlock()
			c.Close()
			return
		}
		m, code, msg := p.mode, p.code, p.msg
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go func() {
			defer p.wg.Done()
			defer p.drop(c)
			switch m {
			case reject:
				rejectStartup(c, code, msg)
			case hang:
				_, _ = io.Copy(io.Discard, c)
			case forward:
				p.forward(c)
			}
		}()
	}
}

func (p *Proxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// rejectStartup reads a client's startup, declining TLS and GSS
// encryption, and answers it with a FATAL ErrorResponse.
func rejectStartup(c net.Conn, code, msg string) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	be := pgproto3.NewBackend(c, c)
	for range 3 {
		m, err := be.ReceiveStartupMessage()
		if err != nil {
			return
		}
		switch m.(type) {
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
			if _, err := c.Write([]byte("N")); err != nil {
				return
			}
			continue
		}
		be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: msg})
		_ = be.Flush()
		return
	}
}

func (p *Proxy) forward(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	p.mu.Lock()
	if p.closed || p.mode == refuse {
		p.mu.Unlock()
		up.Close()
		return
	}
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	defer p.drop(up)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Half-close is not enough for PostgreSQL's protocol: when one
		// side goes, so does the other.
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}
