package amqpsender

import (
	"context"
	"errors"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rebound-go/rebound"
)

// ErrUnroutable is the cause of an *Error for a message the broker
// returned (basic.return): no queue is bound to its exchange with its
// routing key. errors.Is finds it.
var ErrUnroutable = errors.New("unroutable")

// ErrClosed is the cause of an *Error for a Send or Ping after Close.
var ErrClosed = errors.New("sender closed")

// Error is a failed publish. It implements rebound.Classified, so the
// relay retries or kills the message by its class (the table in the
// package documentation), and unwraps to its cause: an *amqp.Error, a
// network error, a context error, ErrUnroutable or ErrClosed.
type Error struct {
	// Destination is the message's destination name; empty for Ping.
	Destination string
	// Op is what failed: "route" (finding the destination), "connect",
	// "channel" (opening one in confirm mode), "publish", "confirm"
	// (waiting for the broker's ack) or "return" (the broker returned
	// the message).
	Op string
	// Code is the AMQP reply code the broker closed the channel or
	// connection with, or returned the message with (404, 403, 406,
	// 312, …); 0 when the broker said nothing.
	Code int
	// Err is the cause.
	Err error

	class rebound.Class
	// sent reports whether the publish was written to the connection, so
	// that the broker may hold the message.
	sent bool
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("amqpsender: ")
	b.WriteString(e.Op)
	if e.Destination != "" {
		b.WriteString(" to destination ")
		b.WriteString(e.Destination)
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("failed")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Classification implements rebound.Classified: Logic errors are not
// retryable; Connection and Response errors are, and MaybeProcessed says
// whether the publish had been written (so the broker may hold a copy).
func (e *Error) Classification() rebound.Classification {
	switch e.class {
	case rebound.Logic, rebound.Canceled:
		return rebound.Classification{Class: e.class}
	default:
		return rebound.Classification{Class: e.class, Retryable: true, MaybeProcessed: e.sent}
	}
}

// brokerClass classifies the error a channel or connection was closed
// with. Errors the broker sent (Server) name what it refused; the others
// are the client's own: a lost connection (I/O errors come as a 501 with
// Server false), or a channel or connection already closed.
func brokerClass(e *amqp.Error) rebound.Class {
	if !e.Server {
		return rebound.Connection
	}
	switch e.Code {
	case amqp.ConnectionForced: // 320: the broker is shutting down, or an operator closed the connection
		return rebound.Connection
	case amqp.ResourceError, amqp.InternalError: // 506, 541: may pass
		return rebound.Response
	case amqp.ContentTooLarge, amqp.NoRoute, amqp.NoConsumers, // 311, 312, 313
		amqp.AccessRefused, amqp.NotFound, amqp.ResourceLocked, amqp.PreconditionFailed, // 403, 404, 405, 406
		amqp.FrameError, amqp.SyntaxError, amqp.CommandInvalid, amqp.UnexpectedFrame, // 501, 502, 503, 505: frame too large, or a malformed publish
		amqp.NotAllowed, amqp.NotImplemented: // 530, 540
		return rebound.Logic
	}
	return rebound.Connection // 504 channel error and codes unknown: a new channel may do
}

// causeClass classifies a failure to connect, to open a channel or to
// write a publish: the broker has not refused the message, so it is a
// Connection error (a refused login included: a wrong password is fixed
// in the configuration, and the messages wait for it), unless the
// caller gave up.
func causeClass(err error) rebound.Class {
	if errors.Is(err, context.Canceled) {
		return rebound.Canceled
	}
	return rebound.Connection
}
