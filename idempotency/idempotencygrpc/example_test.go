package idempotencygrpc_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/idempotencygrpc"
)

// orderService creates an order per call: not idempotent by itself.
type orderService struct {
	testgrpc.UnimplementedTestServiceServer
	orders int
}

func (s *orderService) UnaryCall(_ context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	s.orders++
	return &testgrpc.SimpleResponse{Hostname: fmt.Sprintf("order %d for %s", s.orders, req.GetPayload().GetBody())}, nil
}

// A client retries a call with the same idempotency key (its answer was
// lost, say): the server runs it once and replays the first answer.
func Example() {
	in, err := idempotencygrpc.New(idempotencygrpc.Config{
		Store: &idempotency.MemoryStore{}, // a Redis or SQL store across processes
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(in.Unary()))
	svc := &orderService{}
	testgrpc.RegisterTestServiceServer(srv, svc)
	lis := bufconn.Listen(1 << 20) // in memory, for the example
	go srv.Serve(lis)
	defer srv.Stop()

	conn, err := grpc.NewClient("passthrough:///orders",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := testgrpc.NewTestServiceClient(conn)

	ctx := metadata.AppendToOutgoingContext(context.Background(), "idempotency-key", "8e0f6a1c-order-42")
	req := &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: []byte("2 books")}}
	for range 2 {
		var header metadata.MD
		resp, err := client.UnaryCall(ctx, req, grpc.Header(&header))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s (replayed: %v)\n", resp.GetHostname(), header.Get("idempotent-replayed"))
	}
	fmt.Println("orders created:", svc.orders)
	// Output:
	// order 1 for 2 books (replayed: [])
	// order 1 for 2 books (replayed: [true])
	// orders created: 1
}
