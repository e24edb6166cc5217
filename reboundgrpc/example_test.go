package reboundgrpc_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundgrpc"
)

// flakyHealth is a health service that is UNAVAILABLE twice, then serving.
type flakyHealth struct {
	*health.Server
	calls int
}

func (f *flakyHealth) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	f.calls++
	if f.calls <= 2 {
		return nil, status.Error(codes.Unavailable, "warming up")
	}
	return f.Server.Check(ctx, req)
}

// serve starts a server with the options and service given on an
// in-memory listener, and returns a connection to it with the dial
// options given, and a function that stops both.
func serve(serverOpts []grpc.ServerOption, register func(*grpc.Server), dialOpts ...grpc.DialOption) (*grpc.ClientConn, func()) {
	lis := bufconn.Listen(1 << 20)
	s := grpc.NewServer(serverOpts...)
	register(s)
	go func() { _ = s.Serve(lis) }()
	dialOpts = append(dialOpts,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	conn, err := grpc.NewClient("passthrough:///example", dialOpts...)
	if err != nil {
		panic(err)
	}
	return conn, func() { conn.Close(); s.Stop() }
}

// A unary call to a server that is UNAVAILABLE twice succeeds on the
// third attempt: the interceptor retries, and the observer sees each
// attempt.
func Example() {
	client, err := reboundgrpc.New(reboundgrpc.Config{
		Policy: rebound.Policy{
			Backoff: rebound.Constant(10 * time.Millisecond),
			Observer: rebound.ObserverFunc(func(_ context.Context, e rebound.Event) {
				if e.Kind == rebound.AttemptFinished {
					fmt.Println("attempt", e.Attempt, e.Class, status.Code(e.Err))
				}
			}),
		},
	})
	if err != nil {
		panic(err)
	}
	srv := &flakyHealth{Server: health.NewServer()}
	conn, stop := serve(nil, func(s *grpc.Server) { healthpb.RegisterHealthServer(s, srv) }, client.DialOptions()...)
	defer stop()

	resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	fmt.Println(resp.GetStatus(), err)
	// Output:
	// attempt 1 connection Unavailable
	// attempt 2 connection Unavailable
	// attempt 3 unknown OK
	// SERVING <nil>
}

// quota is a health service whose Check is over quota once: the handler
// returns a plain error marked with rebound.RetryAfter.
type quota struct {
	healthpb.UnimplementedHealthServer
	calls int
}

func (q *quota) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	q.calls++
	if q.calls == 1 {
		return nil, rebound.RetryAfter(errors.New("over quota"), 20*time.Millisecond)
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// The server interceptor sends a handler's rebound.RetryAfter as
// RESOURCE_EXHAUSTED with a google.rpc.RetryInfo detail and the
// grpc-retry-pushback-ms trailer. A client without retries sees the
// detail; a rebound client waits what it asks, then retries.
func ExampleUnaryServerInterceptor() {
	serverOpts := []grpc.ServerOption{grpc.UnaryInterceptor(reboundgrpc.UnaryServerInterceptor())}
	register := func(s *grpc.Server) { healthpb.RegisterHealthServer(s, &quota{}) }

	// A plain client.
	conn, stop := serve(serverOpts, register)
	_, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	st := status.Convert(err)
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			fmt.Println(st.Code(), st.Message(), "retry in", ri.GetRetryDelay().AsDuration())
		}
	}
	stop()

	// A rebound client.
	client, err := reboundgrpc.New(reboundgrpc.Config{
		Policy: rebound.Policy{
			Observer: rebound.ObserverFunc(func(_ context.Context, e rebound.Event) {
				if e.Kind == rebound.RetryScheduled {
					fmt.Println("retry after", e.Wait)
				}
			}),
		},
	})
	if err != nil {
		panic(err)
	}
	conn, stop = serve(serverOpts, register, client.DialOptions()...)
	defer stop()
	resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	fmt.Println(resp.GetStatus(), err)
	// Output:
	// ResourceExhausted over quota retry in 20ms
	// retry after 20ms
	// SERVING <nil>
}
