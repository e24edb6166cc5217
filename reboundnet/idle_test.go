package reboundnet_test

import (
	"errors"
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundnet"
)

var errDeadline = os.ErrDeadlineExceeded

// Each Read waits at most the idle timeout from its own start: a peer that
// writes every 8 s keeps a 10 s timeout from firing, and one silent for
// 10 s fails the read with a Connection error.
func TestIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := net.Pipe()
		defer server.Close()
		conn := reboundnet.IdleTimeout(client, 10*time.Second)
		defer conn.Close()
		go func() {
			for range 3 {
				time.Sleep(8 * time.Second)
				if _, err := server.Write([]byte("x")); err != nil {
					return
				}
			}
		}()
		start := time.Now()
		buf := make([]byte, 1)
		for i := 1; i <= 3; i++ {
			if _, err := conn.Read(buf); err != nil {
				t.Fatalf("read %d at %v: %v", i, time.Since(start), err)
			}
		}
		_, err := conn.Read(buf)
		if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 34*time.Second {
			t.Fatalf("read 4: %v at %v; want os.ErrDeadlineExceeded at 34s (10 s after the last byte)", err, time.Since(start))
		}
		if cl := rebound.Classify(err); cl.Class != rebound.Connection || !cl.Retryable {
			t.Fatalf("rebound.Classify(%v) = %+v, want a retryable Connection error", err, cl)
		}
		// Over TCP the read error is a *net.OpError around the same
		// deadline error: also Connection.
		opErr := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
		if cl := rebound.Classify(opErr); cl.Class != rebound.Connection || !cl.Retryable {
			t.Fatalf("rebound.Classify(%v) = %+v, want a retryable Connection error", opErr, cl)
		}
		if nc, ok := conn.(interface{ NetConn() net.Conn }); !ok || nc.NetConn() != client {
			t.Fatal("NetConn does not return the wrapped connection")
		}
		if reboundnet.IdleTimeout(client, 0) != client {
			t.Fatal("IdleTimeout(conn, 0) wrapped conn")
		}
	})
}
