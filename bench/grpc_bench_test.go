package bench

import (
	"context"
	"testing"
	"time"

	retry "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/retry"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundgrpc"
	"github.com/rebound-go/rebound/reboundprom"
)

// BenchmarkGRPCUnary: what a retrying client costs on a call that
// succeeds at once. Every configuration calls UnaryCall with a 16-byte
// payload on its own bufconn server (grpcOKServer, which echoes it) and
// waits for the answer; sequentially (b.Loop), which is steadier than
// b.RunParallel on two cores:
//
//   - plain: grpc-go, no interceptor, no retry policy (the floor);
//   - rebound: reboundgrpc.New(Config{}).DialOptions(), rebound's
//     defaults;
//   - rebound-prom: the same with reboundprom's observer (own registry) as
//     Policy.Observer, as a service exporting metrics would run it;
//   - grpc-go-retry: plain with the service config of
//     TestGRPCRetryCompare, a retryPolicy on UNAVAILABLE (grpc-go then
//     keeps each call's messages for a replay);
//   - go-grpc-middleware: retry.UnaryClientInterceptor(retry.WithMax(3)).
func BenchmarkGRPCUnary(b *testing.B) {
	req := &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("0123456789abcdef")}}
	for _, c := range grpcBenchConfigs(b) {
		b.Run(c.name, func(b *testing.B) {
			conn, err := serveGRPC(b, grpcOKServer{}, nil, c.opts...)
			if err != nil {
				b.Fatal(err)
			}
			client := testpb.NewTestServiceClient(conn)
			ctx := context.Background()
			// The first call connects.
			if _, err := client.UnaryCall(ctx, req); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.UnaryCall(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGRPCUnaryInterceptor isolates what BenchmarkGRPCUnary cannot
// resolve under its transport's noise: the interceptor's own cost per
// successful call, with an invoker that returns at once (so grpc-go's
// copy of the trailer that reboundgrpc asks for, one allocation of 48 B
// per call, is not in it). The call options are those the generated
// client passes, grpc.StaticMethod(). grpc-go's own retry lives inside
// its client stream, not in an interceptor, so it has no row here.
func BenchmarkGRPCUnaryInterceptor(b *testing.B) {
	newClient := func(cfg reboundgrpc.Config) grpc.UnaryClientInterceptor {
		c, err := reboundgrpc.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		return c.UnaryClientInterceptor()
	}
	prom, err := reboundprom.New(reboundprom.Config{Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	direct := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	req, reply := &testpb.SimpleRequest{}, &testpb.SimpleResponse{}
	opts := []grpc.CallOption{grpc.StaticMethod()}
	ctx := context.Background()
	for _, c := range []struct {
		name string
		ic   grpc.UnaryClientInterceptor
	}{
		{"none", direct},
		{"rebound", newClient(reboundgrpc.Config{})},
		{"rebound-prom", newClient(reboundgrpc.Config{Policy: rebound.Policy{Observer: prom}})},
		{"go-grpc-middleware", retry.UnaryClientInterceptor(retry.WithMax(3))},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.ic(ctx, grpcUnaryMethod, req, reply, nil, invoker, opts...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type grpcBenchConfig struct {
	name string
	opts []grpc.DialOption
}

func grpcBenchConfigs(tb testing.TB) []grpcBenchConfig {
	newClient := func(cfg reboundgrpc.Config) []grpc.DialOption {
		c, err := reboundgrpc.New(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		return c.DialOptions()
	}
	prom, err := reboundprom.New(reboundprom.Config{Registerer: prometheus.NewRegistry()})
	if err != nil {
		tb.Fatal(err)
	}
	return []grpcBenchConfig{
		{"plain", nil},
		{"rebound", newClient(reboundgrpc.Config{})},
		{"rebound-prom", newClient(reboundgrpc.Config{Policy: rebound.Policy{Observer: prom}})},
		{"grpc-go-retry", []grpc.DialOption{grpc.WithDefaultServiceConfig(grpcServiceConfig("grpc.testing.TestService", 4, "retryableStatusCodes", "UNAVAILABLE"))}},
		{"go-grpc-middleware", []grpc.DialOption{grpc.WithChainUnaryInterceptor(retry.UnaryClientInterceptor(retry.WithMax(3)))}},
	}
}

// grpcOKServer answers every UnaryCall with the request's payload.
type grpcOKServer struct {
	testpb.UnimplementedTestServiceServer
}

func (grpcOKServer) UnaryCall(_ context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{Payload: req.GetPayload()}, nil
}

// Every configuration of BenchmarkGRPCUnary succeeds in one attempt, so
// that the benchmark cannot silently measure something else.
func TestGRPCBenchSameSemantics(t *testing.T) {
	req := &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("0123456789abcdef")}}
	for _, c := range grpcBenchConfigs(t) {
		conn, err := serveGRPC(t, grpcOKServer{}, nil, c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := testpb.NewTestServiceClient(conn).UnaryCall(ctx, req)
		cancel()
		if err != nil || string(resp.GetPayload().GetBody()) != "0123456789abcdef" {
			t.Errorf("%s: %v, %v", c.name, resp, err)
		}
	}
}
