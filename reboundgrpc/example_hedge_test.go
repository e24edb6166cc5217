package reboundgrpc_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundgrpc"
)

// stallOnce is a health service whose first Check stalls until canceled.
type stallOnce struct {
	healthpb.UnimplementedHealthServer
	calls atomic.Int32
}

func (s *stallOnce) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if s.calls.Add(1) == 1 {
		<-ctx.Done() // canceled once the hedge has answered
		return nil, ctx.Err()
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// Hedged calls: an idempotent call still unanswered after the hedger's
// delay is sent again, and the first answer wins. (Without Delay, the
// delay is the method's live 90th percentile once 20 calls are measured.)
func ExampleConfig_hedgers() {
	hedgers, _ := rebound.NewHedgers(rebound.HedgeConfig{Delay: 20 * time.Millisecond, Ratio: 1}, 0)
	client, err := reboundgrpc.New(reboundgrpc.Config{
		Idempotent: reboundgrpc.IdempotentMethods("/grpc.health.v1.Health/Check"),
		Hedgers:    hedgers,
	})
	if err != nil {
		panic(err)
	}
	srv := &stallOnce{}
	conn, stop := serve(nil, func(s *grpc.Server) { healthpb.RegisterHealthServer(s, srv) }, client.DialOptions()...)
	defer stop()

	resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	fmt.Println(resp.GetStatus(), err, srv.calls.Load())
	// Output: SERVING <nil> 2
}
