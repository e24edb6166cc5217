package amqpsender

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rebound-go/rebound"
)

func TestReconnectDelay(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		failures int
		lo, hi   time.Duration
		want     time.Duration
	}{
		{1, 100 * ms, 30 * time.Second, 100 * ms},
		{2, 100 * ms, 30 * time.Second, 200 * ms},
		{3, 100 * ms, 30 * time.Second, 400 * ms},
		{9, 100 * ms, 30 * time.Second, 25600 * ms},
		{10, 100 * ms, 30 * time.Second, 30 * time.Second},
		{1000, 100 * ms, 30 * time.Second, 30 * time.Second},
		{5, time.Second, time.Second, time.Second},
		{80, time.Hour, 1<<63 - 1, 1<<63 - 1},
	} {
		if got := reconnectDelay(tc.failures, tc.lo, tc.hi); got != tc.want {
			t.Errorf("reconnectDelay(%d, %v, %v) = %v, want %v", tc.failures, tc.lo, tc.hi, got, tc.want)
		}
	}
}

// Every row of the package doc's table that a closed channel or
// connection reports, by the code the broker sent.
func TestBrokerClass(t *testing.T) {
	for _, tc := range []struct {
		err  *amqp.Error
		want rebound.Class
	}{
		{&amqp.Error{Code: amqp.NotFound, Server: true}, rebound.Logic},
		{&amqp.Error{Code: amqp.AccessRefused, Server: true}, rebound.Logic},
		{&amqp.Error{Code: amqp.PreconditionFailed, Server: true}, rebound.Logic},
		{&amqp.Error{Code: amqp.FrameError, Server: true}, rebound.Logic}, // frame too large
		{&amqp.Error{Code: amqp.ContentTooLarge, Server: true}, rebound.Logic},
		{&amqp.Error{Code: amqp.NotAllowed, Server: true}, rebound.Logic},
		{&amqp.Error{Code: amqp.ConnectionForced, Server: true}, rebound.Connection},
		{&amqp.Error{Code: amqp.ResourceError, Server: true}, rebound.Response},
		{&amqp.Error{Code: amqp.InternalError, Server: true}, rebound.Response},
		{&amqp.Error{Code: amqp.ChannelError, Server: true}, rebound.Connection},
		{&amqp.Error{Code: amqp.FrameError, Reason: "EOF"}, rebound.Connection}, // the client's: a lost connection
		{amqp.ErrClosed, rebound.Connection},
	} {
		if got := brokerClass(tc.err); got != tc.want {
			t.Errorf("brokerClass(code %d, server %v) = %v, want %v", tc.err.Code, tc.err.Server, got, tc.want)
		}
	}
}

func TestCauseClass(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want rebound.Class
	}{
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, rebound.Connection},
		{amqp.ErrCredentials, rebound.Connection},
		{fmt.Errorf("x: %w", context.Canceled), rebound.Canceled},
		{context.DeadlineExceeded, rebound.Connection},
	} {
		if got := causeClass(tc.err); got != tc.want {
			t.Errorf("causeClass(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestErrorClassification(t *testing.T) {
	e := &Error{Destination: "orders", Op: "confirm", class: rebound.Connection, sent: true, Err: context.DeadlineExceeded}
	if c := e.Classification(); c.Class != rebound.Connection || !c.Retryable || !c.MaybeProcessed {
		t.Errorf("a lost confirm: %+v, want retryable and maybe processed", c)
	}
	if got, want := e.Error(), "amqpsender: confirm to destination orders: context deadline exceeded"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, context.DeadlineExceeded) {
		t.Error("the error does not unwrap to its cause")
	}
	l := &Error{Op: "return", class: rebound.Logic, sent: true, Err: ErrUnroutable}
	if c := l.Classification(); c.Class != rebound.Logic || c.Retryable {
		t.Errorf("unroutable: %+v, want Logic, not retryable", c)
	}
}
