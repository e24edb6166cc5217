package rebound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/textproto"
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
//   - an error in the chain that implements Classified (the first one):
//     its own Classification. Packages such as reboundhttp return such
//     errors for bad responses.
//   - context.Canceled, and context.DeadlineExceeded outside a *net.OpError:
//     Canceled. Do tells the caller's deadline (Canceled) from its own
//     per-attempt timeout (Connection) by looking at the contexts, not at
//     the error. A network operation's timeout, which since Go 1.23 also
//     matches context.DeadlineExceeded, is a timeout (below).
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
//   - textproto.ProtocolError (a malformed response header, which net/http
//     reports when a connection breaks inside one): Response, maybe
//     processed.
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
	var f facts
	f.gather(err, 0)
	if f.self != nil {
		return f.self.Classification()
	}
	if errors.Is(err, context.Canceled) || (errors.Is(err, context.DeadlineExceeded) && !f.opErr) {
		// A network operation's own timeout (since Go 1.23 it matches
		// context.DeadlineExceeded too) is left to the timeout rule below.
		return Classification{Class: Canceled}
	}
	if f.cert {
		return Classification{Class: Logic}
	}
	if f.dns != nil {
		if f.dns.IsNotFound && !f.dns.IsTemporary && !f.dns.IsTimeout {
			return Classification{Class: Logic}
		}
		return Classification{Class: Connection, Retryable: true}
	}
	if f.hasErrno {
		switch f.errno {
		case syscall.ECONNREFUSED, syscall.EHOSTUNREACH, syscall.ENETUNREACH:
			return Classification{Class: Connection, Retryable: true}
		case syscall.ECONNRESET, syscall.EPIPE, syscall.ECONNABORTED:
			return Classification{Class: Connection, Retryable: true, MaybeProcessed: !f.dial}
		}
	}
	if f.timeout || errors.Is(err, os.ErrDeadlineExceeded) {
		return Classification{Class: Connection, Retryable: true, MaybeProcessed: !f.dial}
	}
	if f.opErr || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return Classification{Class: Connection, Retryable: true, MaybeProcessed: !f.dial}
	}
	if f.protocol {
		return Classification{Class: Response, Retryable: true, MaybeProcessed: true}
	}
	return Classification{Class: Unknown, Retryable: true, MaybeProcessed: true}
}

// facts are what classifyBuiltin needs to know of an error chain. gather
// walks the chain the way errors.As does (depth first through Unwrap() error
// and Unwrap() []error) and keeps the first match of each kind, but with
// type switches, so that classifying allocates nothing.
type facts struct {
	dial, opErr, cert   bool
	protocol            bool
	timeout, sawTimeout bool
	hasErrno            bool
	errno               syscall.Errno
	dns                 *net.DNSError
	mark                *marked
	self                Classified
}

// maxChainDepth bounds the walk of a pathological (deep or cyclic) chain.
const maxChainDepth = 100

func (f *facts) gather(err error, depth int) {
	for ; err != nil && depth < maxChainDepth; depth++ {
		if c, ok := err.(Classified); ok && f.self == nil {
			f.self = c
		}
		switch e := err.(type) {
		case *marked:
			if f.mark == nil {
				f.mark = e
			}
		case *net.OpError:
			if !f.opErr {
				f.opErr, f.dial = true, e.Op == "dial"
			}
		case *net.DNSError:
			if f.dns == nil {
				f.dns = e
			}
		case textproto.ProtocolError:
			f.protocol = true
		case syscall.Errno:
			if !f.hasErrno {
				f.hasErrno, f.errno = true, e
			}
		case x509.UnknownAuthorityError, x509.CertificateInvalidError, x509.HostnameError,
			*x509.UnknownAuthorityError, *x509.CertificateInvalidError, *x509.HostnameError,
			*tls.CertificateVerificationError, tls.RecordHeaderError, *tls.RecordHeaderError:
			f.cert = true
		}
		if t, ok := err.(interface{ Timeout() bool }); ok && !f.sawTimeout {
			f.sawTimeout, f.timeout = true, t.Timeout()
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				f.gather(e, depth+1)
			}
			return
		default:
			return
		}
	}
}

// Classify runs the policy's classifier chain on err: a marker first (the
// error says what it is), then each of p.Classifiers in order, then the
// built-in rules of the package-level Classify.
//
// A Classified error that a user classifier also recognises is decided by
// the user classifier.
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
