package rebound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// Classify classifies err with the built-in rules alone. A nil err is not a
// failure and classifies as Unknown with Retryable false.
//
// In order, the first rule that matches wins:
//
//   - a Permanent mark: Logic. A Transient or RetryAfter mark: retryable
//     whatever the class of the marked error (with the requested wait).
//   - context.Canceled and context.DeadlineExceeded: Canceled. Do tells the
//     caller's deadline (Canceled) from its own per-attempt timeout
//     (Connection) by looking at the contexts, not at the error.
//   - TLS certificate and handshake-record errors (x509.UnknownAuthorityError,
//     x509.CertificateInvalidError, x509.HostnameError,
//     *tls.CertificateVerificationError, tls.RecordHeaderError): Logic.
//   - *net.DNSError: not found is Logic; temporary, timed out or any other
//     lookup failure is Connection, not sent.
//   - ECONNREFUSED, EHOSTUNREACH, ENETUNREACH: Connection, not sent.
//   - ECONNRESET, EPIPE, ECONNABORTED: Connection, maybe processed (not sent
//     when the failed operation was a dial).
//   - an error whose Timeout method reports true (net.Error,
//     os.ErrDeadlineExceeded): Connection, maybe processed (not sent when it
//     happened while dialling).
//   - io.ErrUnexpectedEOF, io.EOF, net.ErrClosed: Connection, maybe processed.
//   - any other *net.OpError: Connection; not sent when dialling.
//   - anything else: Unknown, maybe processed.
//
// No rule looks at the text of an error.
func Classify(err error) Classification {
	if err == nil {
		return Classification{}
	}
	if c, ok := classifyMarked(err); ok {
		return c
	}
	return classifyBuiltin(err)
}

// classifyBuiltin is Classify without the markers.
func classifyBuiltin(err error) Classification {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Classification{Class: Canceled}
	}
	if isCertificateError(err) {
		return Classification{Class: Logic}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound && !dnsErr.IsTemporary && !dnsErr.IsTimeout {
			return Classification{Class: Logic}
		}
		return Classification{Class: Connection, Retryable: true}
	}
	dialing := isDial(err)
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.ECONNREFUSED, syscall.EHOSTUNREACH, syscall.ENETUNREACH:
			return Classification{Class: Connection, Retryable: true}
		case syscall.ECONNRESET, syscall.EPIPE, syscall.ECONNABORTED:
			return Classification{Class: Connection, Retryable: true, MaybeProcessed: !dialing}
		}
	}
	if isTimeout(err) {
		return Classification{Class: Connection, Retryable: true, MaybeProcessed: !dialing}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return Classification{Class: Connection, Retryable: true, MaybeProcessed: !dialing}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return Classification{Class: Connection, Retryable: true, MaybeProcessed: !dialing}
	}
	return Classification{Class: Unknown, Retryable: true, MaybeProcessed: true}
}

// isDial reports whether err happened while dialling, before any byte of the
// request could have been sent.
func isDial(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func isCertificateError(err error) bool {
	var (
		unknownAuthority x509.UnknownAuthorityError
		invalid          x509.CertificateInvalidError
		hostname         x509.HostnameError
		verification     *tls.CertificateVerificationError
		recordHeader     tls.RecordHeaderError
	)
	return errors.As(err, &unknownAuthority) ||
		errors.As(err, &invalid) ||
		errors.As(err, &hostname) ||
		errors.As(err, &verification) ||
		errors.As(err, &recordHeader)
}

// Classify runs the policy's classifier chain on err: a marker first (the
// error says what it is), then each of p.Classifiers in order, then the
// built-in rules of the package-level Classify.
func (p *Policy) Classify(err error) Classification {
	if err == nil {
		return Classification{}
	}
	if c, ok := classifyMarked(err); ok {
		return c
	}
	for _, cl := range p.Classifiers {
		if c, ok := cl.Classify(err); ok {
			return c
		}
	}
	return classifyBuiltin(err)
}
