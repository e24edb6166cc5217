package reboundgrpc_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundgrpc"
)

// The server's pushback (the grpc-retry-pushback-ms trailer, a RetryInfo
// detail) sets the wait, and can forbid the retry. The policy's own
// backoff is an hour and the call's deadline 30 s: a wait that is not the
// server's would make rebound.Do give up (reason deadline), not hang.
func TestPushback(t *testing.T) {
	retryInfo := func(d *durationpb.Duration) *errdetails.RetryInfo { return &errdetails.RetryInfo{RetryDelay: d} }
	cases := []struct {
		name     string
		code     codes.Code
		pushback []string              // trailer values
		info     *errdetails.RetryInfo // status detail
		wait     time.Duration         // the RetryScheduled wait; 0: not retried
		reason   rebound.Reason        // when not retried
	}{
		{name: "trailer", code: codes.ResourceExhausted, pushback: []string{"3"}, wait: 3 * time.Millisecond},
		{name: "trailer zero retries at once", code: codes.ResourceExhausted, pushback: []string{"0"}, wait: time.Nanosecond},
		{name: "trailer on UNAVAILABLE", code: codes.Unavailable, pushback: []string{"2"}, wait: 2 * time.Millisecond},
		{name: "negative trailer stops", code: codes.Unavailable, pushback: []string{"-1"}, reason: rebound.ReasonPermanent},
		{name: "malformed trailer stops", code: codes.Unavailable, pushback: []string{"soon"}, reason: rebound.ReasonPermanent},
		{name: "repeated trailer stops", code: codes.Unavailable, pushback: []string{"1", "2"}, reason: rebound.ReasonPermanent},
		{name: "RetryInfo", code: codes.ResourceExhausted, info: retryInfo(durationpb.New(4 * time.Millisecond)), wait: 4 * time.Millisecond},
		{name: "RetryInfo zero", code: codes.ResourceExhausted, info: retryInfo(durationpb.New(0)), wait: time.Nanosecond},
		{name: "RetryInfo negative stops", code: codes.ResourceExhausted, info: retryInfo(durationpb.New(-time.Second)), reason: rebound.ReasonPermanent},
		{name: "both: the longer", code: codes.ResourceExhausted, pushback: []string{"2"}, info: retryInfo(durationpb.New(5 * time.Millisecond)), wait: 5 * time.Millisecond},
		{name: "above MaxRetryAfter gives up", code: codes.ResourceExhausted, pushback: []string{"3600000"}, reason: rebound.ReasonWaitTooLong},
		{name: "huge trailer gives up", code: codes.ResourceExhausted, pushback: []string{"99999999999999999999"}, reason: rebound.ReasonWaitTooLong},
		{name: "logic stays unretried", code: codes.InvalidArgument, pushback: []string{"1"}, reason: rebound.ReasonPermanent},
		{name: "no pushback: not retried", code: codes.ResourceExhausted, reason: rebound.ReasonPermanent},
	}
	for _, tr := range transports {
		for _, tc := range cases {
			t.Run(tr+"/"+tc.name, func(t *testing.T) {
				rec := &recorder{}
				c := newClient(t, reboundgrpc.Config{Policy: rebound.Policy{
					Backoff:       rebound.Constant(time.Hour),
					MaxRetryAfter: time.Minute,
					Observer:      rec,
				}})
				srv := &server{unary: func(ctx context.Context, n int) (*testpb.SimpleResponse, error) {
					if n > 1 {
						return &testpb.SimpleResponse{}, nil
					}
					if tc.pushback != nil {
						md := metadata.MD{}
						md.Append(reboundgrpc.PushbackKey, tc.pushback...)
						if err := grpc.SetTrailer(ctx, md); err != nil {
							return nil, err
						}
					}
					st := status.New(tc.code, "slow down")
					if tc.info != nil {
						var err error
						if st, err = st.WithDetails(tc.info); err != nil {
							return nil, err
						}
					}
					return nil, st.Err()
				}}
				client := start(t, tr, srv, nil, c.DialOptions()...)
				_, err := client.UnaryCall(testContext(t), &testpb.SimpleRequest{})
				if tc.wait > 0 {
					if err != nil {
						t.Fatal(err)
					}
					rs := rec.of(rebound.RetryScheduled)
					if len(rs) != 1 || rs[0].Wait != tc.wait {
						t.Fatalf("RetryScheduled %+v, want one with wait %v", rs, tc.wait)
					}
					return
				}
				e := reboundError(t, err)
				if e.Reason != tc.reason || status.Code(err) != tc.code || e.Attempts != 1 {
					t.Errorf("reason %v code %v after %d attempts, want %v %v after 1", e.Reason, status.Code(err), e.Attempts, tc.reason, tc.code)
				}
			})
		}
	}
}
