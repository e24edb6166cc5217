package rebound_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassifyBuiltins(t *testing.T) {
	wrap := func(err error) error { return &url.Error{Op: "Get", URL: "http://x", Err: err} }
	cases := []struct {
		name           string
		err            error
		class          rebound.Class
		retryable      bool
		maybeProcessed bool
	}{
		{"refused on dial", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, rebound.Connection, true, false},
		{"refused wrapped in url.Error", wrap(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), rebound.Connection, true, false},
		{"host unreachable", &net.OpError{Op: "dial", Err: syscall.EHOSTUNREACH}, rebound.Connection, true, false},
		{"network unreachable", syscall.ENETUNREACH, rebound.Connection, true, false},
		{"reset while reading", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, rebound.Connection, true, true},
		{"reset while dialling", &net.OpError{Op: "dial", Err: syscall.ECONNRESET}, rebound.Connection, true, false},
		{"broken pipe", &net.OpError{Op: "write", Err: syscall.EPIPE}, rebound.Connection, true, true},
		{"aborted", syscall.ECONNABORTED, rebound.Connection, true, true},
		{"read timeout", &net.OpError{Op: "read", Err: timeoutErr{}}, rebound.Connection, true, true},
		{"dial timeout", &net.OpError{Op: "dial", Err: timeoutErr{}}, rebound.Connection, true, false},
		{"deadline on a conn", fmt.Errorf("read: %w", os.ErrDeadlineExceeded), rebound.Connection, true, true},
		{"unexpected EOF", fmt.Errorf("decoding: %w", io.ErrUnexpectedEOF), rebound.Connection, true, true},
		{"EOF mid-exchange", wrap(io.EOF), rebound.Connection, true, true},
		{"closed connection", net.ErrClosed, rebound.Connection, true, true},
		{"other op error", &net.OpError{Op: "read", Err: errors.New("weird")}, rebound.Connection, true, true},
		{"dns temporary", &net.DNSError{Err: "server misbehaving", Name: "x", IsTemporary: true}, rebound.Connection, true, false},
		{"dns timeout", &net.DNSError{Err: "timeout", Name: "x", IsTimeout: true}, rebound.Connection, true, false},
		{"dns not found", &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}, rebound.Logic, false, false},
		{"unknown authority", wrap(x509.UnknownAuthorityError{}), rebound.Logic, false, false},
		{"expired certificate", x509.CertificateInvalidError{Reason: x509.Expired}, rebound.Logic, false, false},
		{"wrong host", x509.HostnameError{Host: "x"}, rebound.Logic, false, false},
		{"verification", &tls.CertificateVerificationError{Err: errors.New("bad")}, rebound.Logic, false, false},
		{"not TLS", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, rebound.Logic, false, false},
		{"canceled", wrap(context.Canceled), rebound.Canceled, false, false},
		{"deadline", wrap(context.DeadlineExceeded), rebound.Canceled, false, false},
		{"permanent", rebound.Permanent(syscall.ECONNREFUSED), rebound.Logic, false, false},
		{"transient unknown", rebound.Transient(errors.New("row locked")), rebound.Unknown, true, true},
		{"transient logic becomes retryable", rebound.Transient(x509.UnknownAuthorityError{}), rebound.Unknown, true, false},
		{"outermost mark wins", rebound.Permanent(rebound.Transient(syscall.ECONNRESET)), rebound.Logic, false, false},
		{"unknown", errors.New("validation failed"), rebound.Unknown, true, true},
		// Never by text: an error that merely says "connection refused".
		{"text is not enough", errors.New("dial tcp: connect: connection refused"), rebound.Unknown, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := rebound.Classify(tc.err)
			if c.Class != tc.class || c.Retryable != tc.retryable || c.MaybeProcessed != tc.maybeProcessed {
				t.Fatalf("Classify(%v) = %+v, want class %v retryable %v maybeProcessed %v", tc.err, c, tc.class, tc.retryable, tc.maybeProcessed)
			}
		})
	}
}

func TestClassifyNil(t *testing.T) {
	if c := rebound.Classify(nil); c != (rebound.Classification{}) {
		t.Fatalf("Classify(nil) = %+v, want zero", c)
	}
}

func TestClassifyRetryAfterMark(t *testing.T) {
	c := rebound.Classify(fmt.Errorf("call: %w", rebound.RetryAfter(syscall.ECONNRESET, 3*time.Second)))
	if c.Class != rebound.Connection || !c.Retryable || !c.Marked || c.RetryAfter != 3*time.Second {
		t.Fatalf("got %+v", c)
	}
	if rebound.RetryAfter(nil, time.Second) != nil || rebound.Permanent(nil) != nil || rebound.Transient(nil) != nil {
		t.Fatal("marking nil must return nil")
	}
	if c := rebound.Classify(rebound.RetryAfter(errors.New("x"), -time.Second)); c.RetryAfter != 0 {
		t.Fatalf("negative wait kept: %v", c.RetryAfter)
	}
	base := errors.New("base")
	if !errors.Is(rebound.Permanent(base), base) || rebound.Permanent(base).Error() != "base" {
		t.Fatal("marks must be transparent to errors.Is and Error")
	}
}

// A real refused dial on loopback classifies as Connection, not sent.
func TestClassifyRealRefusedDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		t.Skip("the closed port accepted a connection")
	}
	c := rebound.Classify(err)
	if c.Class != rebound.Connection || c.MaybeProcessed || !c.Retryable {
		t.Fatalf("refused dial %v classified %+v", err, c)
	}
}

// A real reset after the request was written classifies as Connection,
// maybe processed.
func TestClassifyRealReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 4)
		_, _ = io.ReadFull(c, buf)
		_ = c.(*net.TCPConn).SetLinger(0) // close with RST
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("read succeeded")
	}
	cl := rebound.Classify(err)
	if cl.Class != rebound.Connection || !cl.MaybeProcessed {
		t.Fatalf("reset %v classified %+v", err, cl)
	}
}

func TestPolicyClassifiersRunBeforeBuiltins(t *testing.T) {
	var order []string
	first := rebound.ClassifierFunc(func(err error) (rebound.Classification, bool) {
		order = append(order, "first")
		return rebound.Classification{}, false
	})
	second := rebound.ClassifierFunc(func(err error) (rebound.Classification, bool) {
		order = append(order, "second")
		if errors.Is(err, syscall.ECONNRESET) {
			return rebound.Classification{Class: rebound.Logic}, true
		}
		return rebound.Classification{}, false
	})
	p := rebound.Policy{Classifiers: []rebound.Classifier{first, second}}
	if c := p.Classify(syscall.ECONNRESET); c.Class != rebound.Logic {
		t.Fatalf("user classifier did not override the built-in: %+v", c)
	}
	if len(order) != 2 {
		t.Fatalf("classifiers ran %v", order)
	}
	if c := p.Classify(syscall.ECONNREFUSED); c.Class != rebound.Connection {
		t.Fatalf("built-ins did not run after the chain: %+v", c)
	}
}

func TestClassAndReasonNames(t *testing.T) {
	for c, want := range map[rebound.Class]string{rebound.Unknown: "unknown", rebound.Connection: "connection", rebound.Response: "response", rebound.Logic: "logic", rebound.Canceled: "canceled"} {
		if c.String() != want {
			t.Errorf("%d.String() = %q, want %q", c, c.String(), want)
		}
		if got, ok := rebound.ParseClass(want); !ok || got != c {
			t.Errorf("ParseClass(%q) = %v, %v", want, got, ok)
		}
	}
	if got := rebound.Classes(rebound.Connection, rebound.Response).String(); got != "connection|response" {
		t.Errorf("ClassSet.String() = %q", got)
	}
	// Each Reason has its name and exactly one sentinel.
	type named struct {
		name     string
		sentinel error
	}
	want := map[rebound.Reason]named{
		rebound.ReasonExhausted:   {"exhausted", rebound.ErrExhausted},
		rebound.ReasonPermanent:   {"permanent", rebound.ErrPermanent},
		rebound.ReasonBudget:      {"budget", rebound.ErrBudget},
		rebound.ReasonDeadline:    {"deadline", rebound.ErrDeadline},
		rebound.ReasonCircuitOpen: {"circuit_open", rebound.ErrCircuitOpen},
		rebound.ReasonWaitTooLong: {"wait_too_long", rebound.ErrWaitTooLong},
		rebound.ReasonCanceled:    {"canceled", rebound.ErrCanceled},
	}
	for r, w := range want {
		if r.String() != w.name || !errors.Is(&rebound.Error{Reason: r}, w.sentinel) {
			t.Errorf("reason %d: name %q, sentinel match %v", r, r.String(), errors.Is(&rebound.Error{Reason: r}, w.sentinel))
		}
		for other, o := range want {
			if other != r && errors.Is(&rebound.Error{Reason: r}, o.sentinel) {
				t.Errorf("reason %v matches the sentinel of %v", r, other)
			}
		}
	}
}

type selfClassified struct{ retryAfter time.Duration }

func (selfClassified) Error() string { return "503 Service Unavailable" }
func (s selfClassified) Classification() rebound.Classification {
	return rebound.Classification{Class: rebound.Response, Retryable: true, RetryAfter: s.retryAfter}
}

func TestClassifyClassifiedErrors(t *testing.T) {
	err := fmt.Errorf("GET /x: %w", selfClassified{retryAfter: time.Second})
	if c := rebound.Classify(err); c.Class != rebound.Response || !c.Retryable || c.RetryAfter != time.Second {
		t.Fatalf("got %+v", c)
	}
	// A mark around it still wins.
	if c := rebound.Classify(rebound.Permanent(err)); c.Class != rebound.Logic {
		t.Fatalf("Permanent lost to Classified: %+v", c)
	}
	// Do honours the error's own wait.
	synctest.Test(t, func(t *testing.T) {
		at, _ := schedule(t, t.Context(), rebound.Policy{MaxAttempts: 2}, always(err))
		equalDurations(t, at, []time.Duration{0, time.Second})
	})
}

// A dial that times out sent nothing: Connection, not processed, so a
// NonIdempotent policy retries it. (Since Go 1.23 the error also matches
// context.DeadlineExceeded, which must not make it Canceled.)
func TestDialTimeoutIsConnectionNotSent(t *testing.T) {
	_, err := (&net.Dialer{Timeout: time.Nanosecond}).Dial("tcp", "127.0.0.1:1")
	if err == nil {
		t.Skip("the dial did not time out")
	}
	c := rebound.Classify(err)
	if c.Class != rebound.Connection || !c.Retryable || c.MaybeProcessed {
		t.Fatalf("Classify(%v) = %+v, want Connection, retryable, not processed", err, c)
	}
	wrapped := &net.OpError{Op: "dial", Net: "tcp", Err: context.Canceled}
	if c := rebound.Classify(wrapped); c.Class != rebound.Canceled {
		t.Fatalf("a dial canceled by its caller: %+v, want Canceled", c)
	}
}

// net/http reports a connection broken inside a response header as a
// textproto.ProtocolError: the peer answered badly.
func TestMalformedResponseHeaderIsResponse(t *testing.T) {
	err := fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w", textproto.ProtocolError("malformed MIME header: missing colon"))
	c := rebound.Classify(err)
	if c.Class != rebound.Response || !c.Retryable || !c.MaybeProcessed {
		t.Fatalf("Classify(%v) = %+v, want Response, retryable, maybe processed", err, c)
	}
}
