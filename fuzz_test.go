package rebound_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/rebound-go/rebound"
)

// FuzzClassify builds arbitrary error chains (wrapping, joining, marks,
// typed network errors) from the fuzz input and checks that classification
// never panics and keeps its invariants.
func FuzzClassify(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3})
	f.Add([]byte{9, 9, 9, 5, 4, 3, 2, 1, 0})
	f.Add([]byte{7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7})
	leaves := []error{
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE, io.EOF, io.ErrUnexpectedEOF,
		context.Canceled, context.DeadlineExceeded, x509.UnknownAuthorityError{},
		&net.DNSError{IsNotFound: true}, &net.DNSError{IsTemporary: true}, errors.New("plain"), net.ErrClosed,
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		var err error = errors.New("root")
		for _, op := range ops {
			leaf := leaves[int(op)%len(leaves)]
			switch op % 8 {
			case 0:
				err = leaf
			case 1:
				err = fmt.Errorf("wrapped: %w", err)
			case 2:
				err = errors.Join(err, leaf)
			case 3:
				err = rebound.Permanent(err)
			case 4:
				err = rebound.Transient(err)
			case 5:
				err = rebound.RetryAfter(err, time.Duration(op)*time.Second)
			case 6:
				err = &net.OpError{Op: []string{"dial", "read", "write"}[int(op)%3], Err: err}
			case 7:
				err = fmt.Errorf("%w and %w", err, leaf)
			}
		}
		c := rebound.Classify(err)
		if c.Class == rebound.Logic && c.Retryable {
			t.Fatalf("%v: a Logic error classified retryable: %+v", err, c)
		}
		if c.RetryAfter < 0 {
			t.Fatalf("%v: negative RetryAfter", err)
		}
		if c.Marked && !c.Retryable {
			t.Fatalf("%v: marked but not retryable: %+v", err, c)
		}
	})
}
