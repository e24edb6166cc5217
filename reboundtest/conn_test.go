package reboundtest_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundhttp"
	"github.com/rebound-go/rebound/reboundtest"
)

// Turning Reset on resets an open loopback connection at once: its peer
// reads ECONNRESET, which rebound classifies as Connection.
func TestListenerResetOverLoopback(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := reboundtest.NewListener(inner, reboundtest.Faults{})
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		buf := make([]byte, 2)
		io.ReadFull(c, buf) // the client's "hi"
		accepted <- c
	}()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	l.Set(reboundtest.Faults{Reset: true})
	_, err = client.Read(make([]byte, 1))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the client read %v, want ECONNRESET", err)
	}
	if cl := rebound.Classify(err); cl.Class != rebound.Connection || !cl.Retryable {
		t.Fatalf("classified %+v, want a retryable Connection failure", cl)
	}
	if _, err := server.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the server's own read: %v, want ECONNRESET", err)
	}
}

// faultyServer is a loopback server behind a faulty listener.
func faultyServer(t *testing.T, h http.Handler, f reboundtest.Faults) (*httptest.Server, *reboundtest.Listener) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	l := reboundtest.NewListener(srv.Listener, f)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, l
}

// switchOffOnRetry is an observer that clears l's faults when a retry is
// scheduled: the server recovers while the client waits.
func switchOffOnRetry(l *reboundtest.Listener) rebound.Observer {
	return rebound.ObserverFunc(func(_ context.Context, e rebound.Event) {
		if e.Kind == rebound.RetryScheduled {
			l.Set(reboundtest.Faults{})
		}
	})
}

// reboundhttp through a faulty listener: each fault fails the first
// attempt as a Connection failure, the faults are switched off, and the
// retry succeeds.
func TestListenerFaultsWithReboundHTTP(t *testing.T) {
	cases := []struct {
		name string
		f    reboundtest.Faults
	}{
		{"reset", reboundtest.Faults{Reset: true}},
		// The headers take 108 bytes, the body 21: the body is cut.
		{"response body cut by a write limit", reboundtest.Faults{WriteLimit: 115}},
		{"request cut by a read limit", reboundtest.Faults{ReadLimit: 10}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &counter{}
			srv, l := faultyServer(t, h, tc.f)
			rec := &reboundtest.Recorder{}
			p := fast(nil)
			p.Observer = rebound.Observers(rec, switchOffOnRetry(l))
			c := newClient(t, reboundhttp.Config{Base: &http.Transport{}, Policy: p})
			// GetJSON reads the body inside the attempt: a cut body is
			// retried.
			v, err := reboundhttp.GetJSON[struct{ Name string }](context.Background(), c, srv.URL)
			if err != nil || v.Name != "Ada" {
				t.Fatalf("got %+v, %v", v, err)
			}
			rec.ExpectRetryReasons(t, "connection")
			rec.ExpectResult(t, rebound.ResultSuccess, rebound.ReasonNone)
		})
	}
}

// Faults that stay on exhaust the attempts.
func TestListenerResetExhausts(t *testing.T) {
	srv, _ := faultyServer(t, &counter{}, reboundtest.Faults{Reset: true})
	rec := &reboundtest.Recorder{}
	c := newClient(t, reboundhttp.Config{Base: &http.Transport{}, Policy: fast(rec)})
	_, err := c.Get(srv.URL)
	if !errors.Is(err, rebound.ErrExhausted) {
		t.Fatalf("err = %v, want exhausted", err)
	}
	rec.ExpectRetryReasons(t, "connection", "connection")
	rec.ExpectResult(t, rebound.ResultGaveUp, rebound.ReasonExhausted)
}

// A blackholed read blocks until its deadline, which fails it with
// os.ErrDeadlineExceeded (a Connection failure); writes vanish.
func TestConnBlackholeHonoursTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := reboundtest.NewConn(a, reboundtest.Faults{Blackhole: true})
		defer c.Close()
		if n, err := c.Write([]byte("lost")); n != 4 || err != nil {
			t.Fatalf("blackholed write: %d, %v", n, err)
		}
		start := time.Now()
		c.SetReadDeadline(start.Add(2 * time.Second))
		_, err := c.Read(make([]byte, 1))
		if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 2*time.Second {
			t.Fatalf("read %v after %v, want a deadline error after 2s", err, time.Since(start))
		}
		if cl := rebound.Classify(err); cl.Class != rebound.Connection {
			t.Fatalf("class %s, want connection", cl.Class)
		}
	})
}

// Set lifts a blackhole: the blocked read goes on and gets the data.
func TestConnBlackholeLifted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := reboundtest.NewConn(a, reboundtest.Faults{Blackhole: true})
		defer c.Close()
		go b.Write([]byte("x"))
		go func() {
			time.Sleep(time.Second)
			c.Set(reboundtest.Faults{})
		}()
		start := time.Now()
		buf := make([]byte, 1)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "x" || time.Since(start) != time.Second {
			t.Fatalf("read %q, %v after %v; want x after 1s", buf[:n], err, time.Since(start))
		}
	})
}

// A blackholed read ends with Close.
func TestConnBlackholeEndsWithClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := reboundtest.NewConn(a, reboundtest.Faults{Blackhole: true})
		go func() {
			time.Sleep(time.Second)
			c.Close()
		}()
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read %v, want net.ErrClosed", err)
		}
	})
}

// Latency delays each write and each read's data; SlowClose delays Close.
func TestConnLatencyAndSlowClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := reboundtest.NewConn(a, reboundtest.Faults{Latency: 100 * time.Millisecond, SlowClose: time.Second})
		start := time.Now()
		go c.Write([]byte("ping"))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(b, buf); err != nil || time.Since(start) != 100*time.Millisecond {
			t.Fatalf("the peer read %q, %v after %v; want ping after 100ms", buf, err, time.Since(start))
		}
		go b.Write([]byte("pong"))
		start = time.Now()
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" || time.Since(start) != 100*time.Millisecond {
			t.Fatalf("read %q, %v after %v; want pong after 100ms", buf, err, time.Since(start))
		}
		start = time.Now()
		c.Close()
		if d := time.Since(start); d != time.Second {
			t.Fatalf("Close took %v, want 1s", d)
		}
	})
}

// A write limit lets through what fits, then resets: the writer gets
// ECONNRESET, the peer reads the bytes that fit and then the end.
func TestConnWriteLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := reboundtest.NewConn(a, reboundtest.Faults{WriteLimit: 5})
		got := make(chan []byte)
		go func() {
			all, _ := io.ReadAll(b)
			got <- all
		}()
		n, err := c.Write([]byte("hello world"))
		if n != 5 || !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("write: %d, %v; want 5 and ECONNRESET", n, err)
		}
		if all := <-got; string(all) != "hello" {
			t.Fatalf("the peer read %q, want hello", all)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("write after the reset: %v", err)
		}
	})
}

// A read limit delivers what fits, then resets.
func TestConnReadLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := reboundtest.NewConn(a, reboundtest.Faults{ReadLimit: 3})
		go b.Write([]byte("hello"))
		all, err := io.ReadAll(c)
		if string(all) != "hel" || !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read %q, %v; want hel and ECONNRESET", all, err)
		}
	})
}

// Set with Reset resets a connection whose read is blocked on the wrapped
// one: the read fails with ECONNRESET, not "use of closed connection".
func TestConnResetWhileReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := reboundtest.NewConn(a, reboundtest.Faults{})
		go func() {
			time.Sleep(time.Second)
			c.Set(reboundtest.Faults{Reset: true})
		}()
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read %v, want ECONNRESET", err)
		}
		if _, err := b.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("the peer read %v, want EOF (a pipe cannot send an RST)", err)
		}
	})
}
