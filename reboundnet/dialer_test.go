package reboundnet_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundnet"
	"github.com/rebound-go/rebound/reboundtest"
)

// recorder keeps the events it observes.
type recorder struct{ reboundtest.Recorder }

func (r *recorder) kinds(k rebound.EventKind) []rebound.Event {
	var out []rebound.Event
	for _, e := range r.Events() {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// listening returns the address of a loopback listener that accepts
// connections and hands each to serve (nil: keep it open until the test
// ends).
func listening(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if serve != nil {
				serve(c)
				continue
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// dnsServer runs a DNS responder on loopback UDP that answers every query
// with rcode and no records, and returns a resolver that asks only it.
func dnsServer(t *testing.T, rcode byte) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:n]
			if n < 12 {
				continue
			}
			i := 12 // the question: a name of labels, then type and class
			for i < n && q[i] != 0 {
				i += int(q[i]) + 1
			}
			end := i + 1 + 4
			if end > n {
				continue
			}
			resp := append([]byte(nil), q[:end]...)
			resp[2] = 0x80 | q[2]&0x01 // a response, recursion desired as asked
			resp[3] = 0x80 | rcode     // recursion available, the rcode
			clear(resp[6:12])          // no answer, authority or additional records
			_, _ = pc.WriteTo(resp, from)
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

// unreachable is a Control hook that fails the connect with errno, as the
// kernel does for a host or network without a route.
func unreachable(errno syscall.Errno) func(context.Context, string, string, syscall.RawConn) error {
	return func(context.Context, string, string, syscall.RawConn) error {
		return os.NewSyscallError("connect", errno)
	}
}

// The package doc's table: each dial error, its class, and whether the
// Dialer retries it, with real sockets on loopback. The policy is
// NonIdempotent, which a Dialer ignores: no failed dial sent anything.
func TestDialErrorClasses(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(tlsSrv.Certificate())
	tlsAddr := tlsSrv.Listener.Addr().String()
	hangUp := listening(t, func(c net.Conn) { c.Close() })

	cases := []struct {
		name    string
		dialer  *net.Dialer
		tls     *tls.Config
		address string
		ctx     func() context.Context
		class   rebound.Class
		retried bool
		check   func(t *testing.T, err error)
	}{
		{name: "connection refused", address: closedPort(t), class: rebound.Connection, retried: true,
			check: func(t *testing.T, err error) {
				if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Errorf("errors.Is(err, ECONNREFUSED) is false: %v", err)
				}
				if cl := rebound.Classify(err); cl.MaybeProcessed {
					t.Errorf("rebound.Classify says a refused dial may have been processed: %+v", cl)
				}
			}},
		{name: "host unreachable", dialer: &net.Dialer{Control: nil, ControlContext: unreachable(syscall.EHOSTUNREACH)}, address: closedPort(t), class: rebound.Connection, retried: true,
			check: func(t *testing.T, err error) {
				if !errors.Is(err, syscall.EHOSTUNREACH) {
					t.Errorf("errors.Is(err, EHOSTUNREACH) is false: %v", err)
				}
			}},
		{name: "network unreachable", dialer: &net.Dialer{ControlContext: unreachable(syscall.ENETUNREACH)}, address: closedPort(t), class: rebound.Connection, retried: true},
		{name: "dial timeout", dialer: &net.Dialer{Timeout: time.Nanosecond}, address: listening(t, nil), class: rebound.Connection, retried: true,
			check: func(t *testing.T, err error) {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					t.Errorf("not a net.Error timeout: %v", err)
				}
			}},
		{name: "DNS server failure", dialer: &net.Dialer{Resolver: dnsServer(t, 2)}, address: "db.rebound.invalid.:5432", class: rebound.Connection, retried: true,
			check: func(t *testing.T, err error) {
				var de *net.DNSError
				if !errors.As(err, &de) || !de.IsTemporary {
					t.Errorf("not a temporary *net.DNSError: %v", err)
				}
			}},
		{name: "DNS name not found", dialer: &net.Dialer{Resolver: dnsServer(t, 3)}, address: "db.rebound.invalid.:5432", class: rebound.Logic, retried: false,
			check: func(t *testing.T, err error) {
				var de *net.DNSError
				if !errors.As(err, &de) || !de.IsNotFound {
					t.Errorf("not a not-found *net.DNSError: %v", err)
				}
			}},
		{name: "TLS unknown authority", tls: &tls.Config{}, address: tlsAddr, class: rebound.Logic, retried: false,
			check: func(t *testing.T, err error) {
				var ua x509.UnknownAuthorityError
				if !errors.As(err, &ua) {
					t.Errorf("no x509.UnknownAuthorityError: %v", err)
				}
			}},
		{name: "TLS wrong host name", tls: &tls.Config{RootCAs: roots, ServerName: "db.rebound.invalid"}, address: tlsAddr, class: rebound.Logic, retried: false,
			check: func(t *testing.T, err error) {
				var he x509.HostnameError
				if !errors.As(err, &he) {
					t.Errorf("no x509.HostnameError: %v", err)
				}
			}},
		{name: "TLS handshake cut by the peer", tls: &tls.Config{RootCAs: roots}, address: hangUp, class: rebound.Connection, retried: true,
			check: func(t *testing.T, err error) {
				// rebound calls it maybe processed (it happened after the
				// dial): only the Dialer's ignoring NonIdempotent retries it.
				var re *rebound.Error
				if errors.As(err, &re) && !rebound.Classify(re.Last).MaybeProcessed {
					t.Errorf("rebound.Classify(%v) is not maybe processed; the doc says it is", re.Last)
				}
			}},
		{name: "caller canceled", address: listening(t, nil), class: rebound.Canceled, retried: false,
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{}
			d, err := reboundnet.NewDialer(reboundnet.DialerConfig{
				Dialer: c.dialer,
				TLS:    c.tls,
				Policy: rebound.Policy{MaxAttempts: 3, Backoff: rebound.Constant(0), NonIdempotent: true, Observer: rec},
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if c.ctx != nil {
				ctx = c.ctx()
			}
			conn, err := d.DialContext(ctx, "tcp", c.address)
			if err == nil {
				conn.Close()
				t.Fatal("the dial succeeded")
			}
			var re *rebound.Error
			if !errors.As(err, &re) {
				t.Fatalf("not a *rebound.Error: %v", err)
			}
			wantAttempts, wantReason := 1, rebound.ReasonPermanent
			switch {
			case c.retried:
				wantAttempts, wantReason = 3, rebound.ReasonExhausted
			case c.class == rebound.Canceled:
				wantAttempts, wantReason = 0, rebound.ReasonCanceled
			}
			if re.Class != c.class || re.Attempts != wantAttempts || re.Reason != wantReason {
				t.Errorf("got class %v, %d attempts, reason %v; want %v, %d, %v: %v", re.Class, re.Attempts, re.Reason, c.class, wantAttempts, wantReason, err)
			}
			if n := len(rec.kinds(rebound.RetryScheduled)); n != wantAttempts-1 && wantAttempts > 0 {
				t.Errorf("%d retries scheduled, want %d", n, wantAttempts-1)
			}
			if re.Endpoint != "tcp "+c.address {
				t.Errorf("endpoint %q, want %q", re.Endpoint, "tcp "+c.address)
			}
			if c.check != nil {
				c.check(t, err)
			}
		})
	}
}

// rebound.Classify calls a dial timeout Canceled, since net's timeout
// errors match context.DeadlineExceeded (Go 1.23); rebound.Do, seeing the
// caller's context live, makes it a Connection failure and retries it.
func TestDialTimeoutIsConnectionNotSent(t *testing.T) {
	addr := listening(t, nil)
	_, err := (&net.Dialer{Timeout: time.Nanosecond}).DialContext(context.Background(), "tcp", addr)
	if err == nil {
		t.Fatal("the dial succeeded")
	}
	if cl := rebound.Classify(err); cl.Class != rebound.Connection || cl.MaybeProcessed {
		t.Fatalf("rebound.Classify(%v) = %+v, want Connection, not processed", err, cl)
	}
}

func TestDialSucceedsAfterRefusals(t *testing.T) {
	// Refused until a listener takes the port, which the Control hook of
	// the second dial opens.
	addr := closedPort(t)
	var ln net.Listener
	defer func() {
		if ln != nil {
			ln.Close()
		}
	}()
	dials := 0
	rec := &recorder{}
	d, err := reboundnet.NewDialer(reboundnet.DialerConfig{
		Dialer: &net.Dialer{Timeout: 5 * time.Second, ControlContext: func(context.Context, string, string, syscall.RawConn) error {
			dials++
			if dials == 2 {
				var err error
				if ln, err = net.Listen("tcp", addr); err != nil {
					return err
				}
			}
			return nil
		}},
		Policy: rebound.Policy{Backoff: rebound.Constant(0), Observer: rec},
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	fin := rec.kinds(rebound.CallFinished)
	if dials != 2 || len(fin) != 1 || fin[0].Result != rebound.ResultSuccess || fin[0].Attempt != 2 || fin[0].Endpoint != "tcp "+addr {
		t.Fatalf("%d dials, call events %+v; want 2 dials and one success after 2 attempts labelled %q", dials, fin, "tcp "+addr)
	}
}

func TestDialTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	d, err := reboundnet.NewDialer(reboundnet.DialerConfig{TLS: &tls.Config{RootCAs: roots}})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := d.DialContext(context.Background(), "tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc, ok := conn.(*tls.Conn)
	if !ok || !tc.ConnectionState().HandshakeComplete {
		t.Fatalf("got %T, want a *tls.Conn with its handshake done", conn)
	}
}

func TestDialLabelsBreakersAndBudgets(t *testing.T) {
	breakers, err := rebound.NewBreakers(rebound.BreakerConfig{ConsecutiveFailures: 2}, 0)
	if err != nil {
		t.Fatal(err)
	}
	budgets, err := rebound.NewBudgets(rebound.BudgetConfig{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	addr := closedPort(t)
	d, err := reboundnet.NewDialer(reboundnet.DialerConfig{
		Policy:   rebound.Policy{MaxAttempts: 1},
		Breakers: breakers,
		Budgets:  budgets,
		Endpoint: func(network, address string) string { return "db" },
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := d.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial: %v, want refused", err)
		}
	}
	_, err = d.Dial("tcp", addr)
	var re *rebound.Error
	if !errors.Is(err, rebound.ErrCircuitOpen) || !errors.As(err, &re) || re.Attempts != 0 || re.Endpoint != "db" {
		t.Fatalf("third dial: %v; want refused by the open breaker of endpoint db without an attempt", err)
	}
	if breakers.Len() != 1 || budgets.Len() != 1 || breakers.Get("db").State() != rebound.Open {
		t.Fatalf("%d breakers, %d budgets, db's breaker %v; want one each, keyed db, open", breakers.Len(), budgets.Len(), breakers.Get("db").State())
	}

	// Policy.Endpoint labels every dial when Endpoint is nil.
	d, _ = reboundnet.NewDialer(reboundnet.DialerConfig{Policy: rebound.Policy{MaxAttempts: 1, Endpoint: "postgres"}})
	if _, err := d.Dial("tcp", addr); !errors.As(err, &re) || re.Endpoint != "postgres" {
		t.Fatalf("dial: %v, want labelled postgres", err)
	}
}

func TestNewDialerRefusesInvalidConfigs(t *testing.T) {
	h, err := rebound.NewHedger(rebound.HedgeConfig{Delay: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cfg   reboundnet.DialerConfig
		field string
	}{
		{reboundnet.DialerConfig{Policy: rebound.Policy{MaxAttempts: -1}}, "reboundnet.DialerConfig.Policy.MaxAttempts"},
		{reboundnet.DialerConfig{Policy: rebound.Policy{Backoff: rebound.Exponential{Multiplier: 0.5}}}, "reboundnet.DialerConfig.Exponential.Multiplier"},
		{reboundnet.DialerConfig{Policy: rebound.Policy{Hedger: h}}, "reboundnet.DialerConfig.Policy.Hedger"},
		{reboundnet.DialerConfig{Dialer: &net.Dialer{Timeout: -time.Second}}, "reboundnet.DialerConfig.Dialer.Timeout"},
	} {
		_, err := reboundnet.NewDialer(c.cfg)
		var ce *rebound.ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("NewDialer: %v, want a *rebound.ConfigError for %s", err, c.field)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "rebound: invalid reboundnet.") {
			t.Errorf("error text %q", err)
		}
	}
}
