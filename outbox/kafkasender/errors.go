package kafkasender

import (
	"context"
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rebound-go/rebound"
)

// Error is a failed Send or Ping. It implements rebound.Classified, so the
// relay retries or kills the message by its class (the table in the
// package documentation). errors.Is and errors.As see its cause: the
// client's error, such as kgo.ErrRecordTimeout or a *kerr.Error.
type Error struct {
	// Destination is the message's destination name ("" for Ping).
	Destination string
	// Topic is the topic produced to, when the destination has one.
	Topic string
	// Op is what failed: "route" (finding the destination), "produce" or
	// "ping".
	Op string
	// Err is the cause.
	Err error

	class rebound.Classification
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("kafkasender: ")
	b.WriteString(e.Op)
	if e.Destination != "" {
		b.WriteString(" to destination ")
		b.WriteString(e.Destination)
	}
	if e.Topic != "" {
		b.WriteString(" on topic ")
		b.WriteString(e.Topic)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Classification implements rebound.Classified.
func (e *Error) Classification() rebound.Classification { return e.class }

func newError(dest, topic, op string, err error) *Error {
	return &Error{Destination: dest, Topic: topic, Op: op, Err: err, class: classify(err)}
}

// logicCodes are the broker's refusals of a record or of the producer for
// good: retrying the same record cannot help, so the message is dead at
// once. UNKNOWN_TOPIC_OR_PARTITION is retriable to Kafka (a topic being
// created) but reaches a Send only after the client's own retries
// (kgo.UnknownTopicRetries, 4 by default) have failed: the topic is
// missing, a configuration error.
var logicCodes = []*kerr.Error{
	kerr.UnknownTopicOrPartition,
	kerr.UnknownTopicID,
	kerr.InvalidTopicException,
	kerr.MessageTooLarge,
	kerr.RecordListTooLarge,
	kerr.InvalidRecord,
	kerr.CorruptMessage,
	kerr.InvalidTimestamp,
	kerr.TopicAuthorizationFailed,
	kerr.ClusterAuthorizationFailed,
	kerr.TransactionalIDAuthorizationFailed,
	kerr.PolicyViolation,
	kerr.InvalidRequiredAcks,
	kerr.UnsupportedForMessageFormat,
	kerr.UnsupportedVersion,
}

// classify says what a produce error means for the message: the table of
// the package documentation.
func classify(err error) rebound.Classification {
	maybe := rebound.Classification{Class: rebound.Connection, Retryable: true, MaybeProcessed: true}
	switch {
	// First the ambiguous: no answer in time, or an answer saying the
	// write may have happened. kgo.ErrRecordTimeout can wrap the last
	// broker error, which does not change that.
	case errors.Is(err, kgo.ErrRecordTimeout),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled),
		errors.Is(err, kerr.RequestTimedOut),
		errors.Is(err, kerr.NotEnoughReplicasAfterAppend):
		return maybe
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		for _, l := range logicCodes {
			if ke.Code == l.Code {
				return rebound.Classification{Class: rebound.Logic}
			}
		}
		// Retriable to Kafka (a leader moving, replicas too few): the
		// broker answered and did not write the record. Or unknown to
		// this table (UNKNOWN_SERVER_ERROR): retried, and it may have
		// been written.
		return rebound.Classification{Class: rebound.Response, Retryable: true, MaybeProcessed: !kerr.IsRetriable(ke)}
	}
	switch {
	case errors.Is(err, kgo.ErrRecordRetries):
		// The client's RecordRetries ran out on retriable answers; it
		// fails a record only when it knows the record was not written.
		return rebound.Classification{Class: rebound.Response, Retryable: true}
	}
	// The client closed (kgo.ErrClientClosed), aborting, or the network
	// failed: the idempotent producer surfaces a connection failure only
	// through a record's deadline, so this is rare.
	return maybe
}
