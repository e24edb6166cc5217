package natssender

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rebound-go/rebound"
)

// The rows of the error table that a single local server cannot be made
// to answer, checked on the classification itself.
func TestClassifyTable(t *testing.T) {
	s := &Sender{}
	api := func(code int, ec jetstream.ErrorCode) error {
		return fmt.Errorf("nats: %w", &jetstream.APIError{Code: code, ErrorCode: ec, Description: "test"})
	}
	for _, tc := range []struct {
		name   string
		err    error
		class  rebound.Class
		retry  bool
		maybe  bool
		status int
	}{
		{"JetStream not enabled", api(503, jetstream.JSErrCodeJetStreamNotEnabled), rebound.Connection, true, true, 503},
		{"JetStream not enabled for the account", api(503, jetstream.JSErrCodeJetStreamNotEnabledForAccount), rebound.Connection, true, true, 503},
		{"stream not found", api(404, jetstream.JSErrCodeStreamNotFound), rebound.Logic, false, false, 404},
		{"message over the stream's maximum", api(400, jetstream.JSErrCodeStreamMessageExceedsMaximum), rebound.Logic, false, false, 400},
		{"another 4xx", api(403, 10999), rebound.Logic, false, false, 403},
		{"insufficient resources", api(503, 10023), rebound.Response, true, true, 503},
		{"storage failed", api(500, 10077), rebound.Response, true, true, 500},
		{"timeout answered", api(408, 10999), rebound.Response, true, true, 408},
		{"no ack in time", context.DeadlineExceeded, rebound.Connection, true, true, 0},
		{"client timeout", nats.ErrTimeout, rebound.Connection, true, true, 0},
		{"connection closed", nats.ErrConnectionClosed, rebound.Connection, true, false, 0},
		{"draining", nats.ErrConnectionDraining, rebound.Connection, true, false, 0},
		{"max payload", nats.ErrMaxPayload, rebound.Logic, false, false, 0},
	} {
		// A canceled context: the no-responders lookup is not made.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		e := s.classify(ctx, "d", "s", tc.err)
		cl := e.Classification()
		if cl.Class != tc.class || cl.Retryable != tc.retry || cl.MaybeProcessed != tc.maybe || e.HTTPStatus() != tc.status {
			t.Errorf("%s: %+v, status %d; want %v retryable=%v maybe=%v status %d", tc.name, cl, e.HTTPStatus(), tc.class, tc.retry, tc.maybe, tc.status)
		}
		if !errors.Is(e, tc.err) && !errors.Is(tc.err, e.Err) {
			t.Errorf("%s: %v does not wrap its cause", tc.name, e)
		}
	}
	// No responders, with no lookup possible: the stream may be between
	// leaders, so it is retried.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if cl := s.classify(ctx, "d", "s", jetstream.ErrNoStreamResponse).Classification(); cl.Class != rebound.Connection || !cl.Retryable {
		t.Errorf("no responders: %+v", cl)
	}
}
