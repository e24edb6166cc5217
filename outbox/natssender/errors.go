package natssender

import (
	"context"
	"errors"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rebound-go/rebound"
)

type class uint8

const (
	connection class = iota // not sent, or no ack: retried; may be in the stream
	response                // JetStream answered with a passing failure: retried
	logic                   // refused for good: the message is dead at once
)

// Error is a failed publish. It implements rebound.Classified, so the
// relay retries or kills the message by its class (the table in the
// package documentation).
type Error struct {
	// Destination is the message's destination name.
	Destination string
	// Subject is the subject published on, when one was chosen.
	Subject string
	// Op is what failed: "route" (choosing the subject), "publish" or
	// "ping".
	Op string
	// Err is the cause, as the NATS client returned it.
	Err error

	// Status is the HTTP-like code JetStream answered with (503, 400, …),
	// 0 when it did not answer.
	Status int

	class class
	// sent reports whether the publish may have reached the server.
	sent bool
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("natssender: ")
	b.WriteString(e.Op)
	if e.Destination != "" {
		b.WriteString(" to destination ")
		b.WriteString(e.Destination)
	}
	if e.Subject != "" {
		b.WriteString(" on subject ")
		b.WriteString(e.Subject)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// HTTPStatus returns Status: the relay records it as the attempt's status,
// and counts a 503 or 408 against the destination's breaker as it does a
// webhook's.
func (e *Error) HTTPStatus() int { return e.Status }

// Classification implements rebound.Classified.
func (e *Error) Classification() rebound.Classification {
	switch e.class {
	case logic:
		return rebound.Classification{Class: rebound.Logic}
	case response:
		return rebound.Classification{Class: rebound.Response, Retryable: true, MaybeProcessed: e.sent}
	default:
		return rebound.Classification{Class: rebound.Connection, Retryable: true, MaybeProcessed: e.sent}
	}
}

// classify turns a publish error into an *Error. On no responders it asks
// JetStream whether a stream captures the subject at all: none is a
// configuration error (Logic); otherwise the stream is between leaders or
// the server is restarting (Connection).
func (s *Sender) classify(ctx context.Context, dest, subj string, err error) *Error {
	e := &Error{Destination: dest, Subject: subj, Op: "publish", Err: err}
	var api *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders):
		if ctx.Err() == nil {
			if _, lerr := s.js.StreamNameBySubject(ctx, subj); errors.Is(lerr, jetstream.ErrStreamNotFound) {
				e.class = logic
				e.Err = errors.New("no stream captures this subject: create one (nats stream add --subjects '" + subj + "') or fix the destination's subject")
				return e
			}
		}
		e.class = connection
	case errors.As(err, &api):
		e.class, e.sent, e.Status = apiClass(api), true, api.Code
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject), errors.Is(err, nats.ErrBadHeaderMsg):
		e.class = logic
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		// Sent, or buffered while reconnecting, and no ack in time: the
		// stream may hold it, and the retry's Nats-Msg-Id lets the
		// stream drop the copy.
		e.class, e.sent = connection, true
	default:
		e.class = connection // closed, draining, disconnected, or a network error
	}
	return e
}

// apiClass classifies an error JetStream answered a publish with. Its
// Code follows HTTP: 4xx are refusals of this message or configuration
// (Logic) except where the server is not ready; 5xx (storage failed,
// insufficient resources, limits reached with discard new) may pass.
func apiClass(e *jetstream.APIError) class {
	switch e.ErrorCode {
	case jetstream.JSErrCodeJetStreamNotEnabled, jetstream.JSErrCodeJetStreamNotEnabledForAccount:
		return connection // the server is starting, or JetStream is being enabled
	case jetstream.JSErrCodeStreamMessageExceedsMaximum, jetstream.JSErrCodeStreamNotFound, jetstream.JSErrCodeBadRequest:
		return logic
	}
	switch {
	case e.Code == 408 || e.Code == 429 || e.Code >= 500:
		return response
	case e.Code >= 400:
		return logic
	}
	return response
}
