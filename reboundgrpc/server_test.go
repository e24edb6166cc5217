package reboundgrpc_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundgrpc"
)

// classified is an error that says its own class, as reboundhttp's do.
type classified struct{ c rebound.Classification }

func (e classified) Error() string                          { return "upstream said no" }
func (e classified) Classification() rebound.Classification { return e.c }

// retryDelay returns the RetryInfo delay of st, or -1.
func retryDelay(st *status.Status) time.Duration {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return -1
}

// ToStatus maps each class of rebound to its code.
func TestToStatus(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	own := status.New(codes.NotFound, "no such user")
	cases := []struct {
		err   error
		code  codes.Code
		delay time.Duration
	}{
		{refused, codes.Unavailable, -1},
		{classified{rebound.Classification{Class: rebound.Response, Retryable: true}}, codes.Unavailable, -1},
		{rebound.RetryAfter(errors.New("busy"), 2*time.Second), codes.ResourceExhausted, 2 * time.Second},
		{rebound.RetryAfter(refused, time.Millisecond), codes.ResourceExhausted, time.Millisecond},
		{rebound.Transient(errors.New("try again")), codes.Unavailable, -1},
		{rebound.Permanent(errors.New("bad order")), codes.FailedPrecondition, -1},
		{classified{rebound.Classification{Class: rebound.Logic}}, codes.FailedPrecondition, -1},
		{context.Canceled, codes.Canceled, -1},
		{fmt.Errorf("query: %w", context.DeadlineExceeded), codes.DeadlineExceeded, -1},
		{errors.New("boom"), codes.Unknown, -1},
		{own.Err(), codes.NotFound, -1},
		{fmt.Errorf("wrapped: %w", own.Err()), codes.NotFound, -1},
	}
	for _, tc := range cases {
		st := reboundgrpc.ToStatus(tc.err)
		if st.Code() != tc.code || retryDelay(st) != tc.delay {
			t.Errorf("ToStatus(%v) = %v with delay %v, want %v with %v", tc.err, st.Code(), retryDelay(st), tc.code, tc.delay)
		}
	}
	if reboundgrpc.ToStatus(nil) != nil {
		t.Error("ToStatus(nil) is not nil")
	}
}

// The server interceptors send the handler's error as ToStatus says, a
// status error unchanged, and a RetryAfter wait as RetryInfo and pushback,
// which a rebound client waits for (here a non-idempotent method: the
// server said it did not do the work).
func TestServerInterceptorRoundTrip(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			rec := &recorder{}
			c := newClient(t, reboundgrpc.Config{Policy: rebound.Policy{Backoff: rebound.Constant(time.Hour), Observer: rec}})
			srv := &server{
				unary: func(_ context.Context, n int) (*testpb.SimpleResponse, error) {
					if n == 1 {
						return nil, rebound.RetryAfter(errors.New("over quota"), 7*time.Millisecond)
					}
					return &testpb.SimpleResponse{}, nil
				},
				output: func(n int, _ *testpb.StreamingOutputCallRequest, ss grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
					if n == 1 {
						return rebound.RetryAfter(errors.New("over quota"), 1500*time.Microsecond)
					}
					return sendN(ss, 1)
				},
			}
			serverOpts := []grpc.ServerOption{
				grpc.ChainUnaryInterceptor(reboundgrpc.UnaryServerInterceptor()),
				grpc.ChainStreamInterceptor(reboundgrpc.StreamServerInterceptor()),
			}
			client := start(t, tr, srv, serverOpts, c.DialOptions()...)

			if _, err := client.UnaryCall(testContext(t), &testpb.SimpleRequest{}); err != nil {
				t.Fatal(err)
			}
			rs := rec.of(rebound.RetryScheduled)
			if len(rs) != 1 || rs[0].Wait != 7*time.Millisecond || status.Code(rs[0].Err) != codes.ResourceExhausted || retryDelay(status.Convert(rs[0].Err)) != 7*time.Millisecond {
				t.Fatalf("unary RetryScheduled %+v, want one wait of 7ms after RESOURCE_EXHAUSTED with RetryInfo", rs)
			}

			stream, err := client.StreamingOutputCall(testContext(t), &testpb.StreamingOutputCallRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := recvAll(stream); err != nil || len(got) != 1 {
				t.Fatalf("stream: %q, %v", got, err)
			}
			// The trailer rounds up to whole milliseconds; RetryInfo is exact.
			rs = rec.of(rebound.RetryScheduled)
			if len(rs) != 2 || rs[1].Wait != 2*time.Millisecond {
				t.Fatalf("stream RetryScheduled %+v, want a wait of 2ms", rs)
			}
			noStreamLeft(t)
		})
	}
}

// The interceptors pass an error that has a status, and a success,
// unchanged, and map the others.
func TestServerInterceptorCodes(t *testing.T) {
	errs := []error{
		status.Error(codes.NotFound, "no such user"),
		rebound.Permanent(errors.New("bad order")),
		errors.New("boom"),
		nil,
	}
	want := []codes.Code{codes.NotFound, codes.FailedPrecondition, codes.Unknown, codes.OK}
	srv := &server{unary: func(_ context.Context, n int) (*testpb.SimpleResponse, error) {
		if err := errs[n-1]; err != nil {
			return nil, err
		}
		return &testpb.SimpleResponse{}, nil
	}}
	client := start(t, "bufconn", srv, []grpc.ServerOption{grpc.UnaryInterceptor(reboundgrpc.UnaryServerInterceptor())})
	var got []codes.Code
	for range errs {
		_, err := client.UnaryCall(testContext(t), &testpb.SimpleRequest{})
		got = append(got, status.Code(err))
		if err != nil && status.Convert(err).Message() != "no such user" && status.Code(err) == codes.NotFound {
			t.Errorf("message changed: %v", err)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("codes %v, want %v", got, want)
	}
}

// grpc-go's own retry, configured by a service config, honours the
// server interceptor's pushback too.
func TestServerPushbackHonouredByGRPCRetry(t *testing.T) {
	srv := &server{unary: func(_ context.Context, n int) (*testpb.SimpleResponse, error) {
		if n == 1 {
			return nil, rebound.RetryAfter(errors.New("over quota"), time.Millisecond)
		}
		return &testpb.SimpleResponse{}, nil
	}}
	const serviceConfig = `{"methodConfig": [{
		"name": [{"service": "grpc.testing.TestService"}],
		"retryPolicy": {
			"maxAttempts": 2,
			"initialBackoff": "3600s",
			"maxBackoff": "3600s",
			"backoffMultiplier": 1,
			"retryableStatusCodes": ["RESOURCE_EXHAUSTED"]
		}
	}]}`
	client := start(t, "bufconn", srv, []grpc.ServerOption{grpc.UnaryInterceptor(reboundgrpc.UnaryServerInterceptor())},
		grpc.WithDefaultServiceConfig(serviceConfig))
	// The service config's backoff is an hour: only the pushback lets the
	// retry come within the test's deadline.
	if _, err := client.UnaryCall(testContext(t), &testpb.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	calls := srv.seenCalls(unaryMethod)
	if len(calls) != 2 || !slices.Equal(calls[1].previous, []string{"1"}) {
		t.Errorf("server saw %+v, want a retry from grpc-go", calls)
	}
}
