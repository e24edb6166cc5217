package kafkasender

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/rebound-go/rebound"
)

// The classification of errors a local cluster does not produce on its
// own, or that the client wraps: the table in the package doc.
func TestClassify(t *testing.T) {
	logic := rebound.Classification{Class: rebound.Logic}
	response := rebound.Classification{Class: rebound.Response, Retryable: true}
	maybe := rebound.Classification{Class: rebound.Connection, Retryable: true, MaybeProcessed: true}
	for _, tc := range []struct {
		err  error
		want rebound.Classification
	}{
		{kerr.UnknownTopicOrPartition, logic},
		{kerr.UnknownTopicID, logic},
		{fmt.Errorf("%w (uncompressed_bytes=2097152)", kerr.MessageTooLarge), logic},
		{kerr.RecordListTooLarge, logic},
		{kerr.TopicAuthorizationFailed, logic},
		{kerr.ClusterAuthorizationFailed, logic},
		{kerr.InvalidRecord, logic},
		{kerr.CorruptMessage, logic},
		{kerr.InvalidTimestamp, logic},
		{kerr.PolicyViolation, logic},
		{kerr.LeaderNotAvailable, response},
		{kerr.NotLeaderForPartition, response},
		{kerr.NotEnoughReplicas, response},
		{kerr.KafkaStorageError, response},
		{kerr.UnknownServerError, rebound.Classification{Class: rebound.Response, Retryable: true, MaybeProcessed: true}},
		{kgo.ErrRecordRetries, response},
		{kerr.RequestTimedOut, maybe},
		{kerr.NotEnoughReplicasAfterAppend, maybe},
		{kgo.ErrRecordTimeout, maybe},
		{fmt.Errorf("%w, last err: %w", kgo.ErrRecordTimeout, kerr.UnknownTopicOrPartition), maybe},
		{context.DeadlineExceeded, maybe},
		{context.Canceled, maybe},
		{kgo.ErrClientClosed, maybe},
		{io.ErrUnexpectedEOF, maybe},
	} {
		e := newError("d", "t", "produce", tc.err)
		if got := e.Classification(); got != tc.want {
			t.Errorf("%v: %+v, want %+v", tc.err, got, tc.want)
		}
		if !errors.Is(e, tc.err) {
			t.Errorf("%v does not wrap its cause", e)
		}
	}
}
