package idempotencygrpc_test

import (
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rebound-go/rebound/idempotency/idempotencygrpc"
	"github.com/rebound-go/rebound/internal/pgtest"
)

func TestMemoryStore(t *testing.T) { runBehaviour(t, memoryStore) }
func TestSQLiteStore(t *testing.T) { runBehaviour(t, sqliteStore) }

// The PostgreSQL and Redis runs skip at once, with one message, when their
// service is not configured.
func TestPostgresStore(t *testing.T) {
	pgtest.URL(t, postgresPurpose)
	runBehaviour(t, postgresStore)
}

func TestRedisStore(t *testing.T) {
	redisAddr(t)
	runBehaviour(t, redisStore)
}

// runBehaviour is the interceptor's behaviour, one subtest per row of the
// package doc's table that involves the store, each on a fresh store.
func runBehaviour(t *testing.T, newStore newStoreFunc) {
	setup := func(t *testing.T, cfg idempotencygrpc.Config, svc *service) testgrpc.TestServiceClient {
		cfg.Store = newStore(t)
		return serveTest(t, cfg, svc)
	}

	t.Run("FirstRunsRepeatReplays", func(t *testing.T) {
		svc := &service{}
		c := setup(t, idempotencygrpc.Config{}, svc)
		var h1, h2 metadata.MD
		r1, err := c.UnaryCall(withKey("k1"), request("order"), grpc.Header(&h1))
		if err != nil {
			t.Fatal(err)
		}
		r2, err := c.UnaryCall(withKey("k1"), request("order"), grpc.Header(&h2))
		if err != nil {
			t.Fatal(err)
		}
		if n := svc.runs.Load(); n != 1 {
			t.Fatalf("handler ran %d times, want 1", n)
		}
		if len(h1.Get("idempotent-replayed")) != 0 {
			t.Errorf("first call marked replayed: %v", h1)
		}
		if got := h2.Get("idempotent-replayed"); len(got) != 1 || got[0] != "true" {
			t.Errorf("repeat's idempotent-replayed = %q, want [true]", got)
		}
		if !proto.Equal(r1, r2) || r2.GetHostname() != "run-1" || string(r2.GetPayload().GetBody()) != "order" {
			t.Errorf("replayed %v, want the first response %v", r2, r1)
		}
	})

	t.Run("DifferentRequestSameKey", func(t *testing.T) {
		svc := &service{}
		c := setup(t, idempotencygrpc.Config{}, svc)
		if _, err := c.UnaryCall(withKey("k1"), request("order")); err != nil {
			t.Fatal(err)
		}
		_, err := c.UnaryCall(withKey("k1"), request("another order"))
		if s := status.Convert(err); s.Code() != codes.InvalidArgument || !strings.Contains(s.Message(), "key reused") {
			t.Fatalf("got %v, want INVALID_ARGUMENT saying the key is reused", err)
		}
		if n := svc.runs.Load(); n != 1 {
			t.Fatalf("handler ran %d times, want 1", n)
		}
	})

	t.Run("RepeatWhileRunning", func(t *testing.T) {
		svc := &service{started: make(chan struct{}), block: make(chan struct{})}
		c := setup(t, idempotencygrpc.Config{}, svc)
		first := make(chan error, 1)
		go func() {
			_, err := c.UnaryCall(withKey("k1"), request("order"))
			first <- err
		}()
		<-svc.started
		var trailer metadata.MD
		_, err := c.UnaryCall(withKey("k1"), request("order"), grpc.Trailer(&trailer))
		s := status.Convert(err)
		if s.Code() != codes.Aborted {
			t.Fatalf("repeat while running: %v, want ABORTED", err)
		}
		var delays []string
		for _, d := range s.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				delays = append(delays, ri.GetRetryDelay().AsDuration().String())
			}
		}
		if len(delays) != 1 || delays[0] != "1s" {
			t.Errorf("RetryInfo delays %v (details %v), want one of 1s", delays, s.Details())
		}
		if got := trailer.Get("grpc-retry-pushback-ms"); len(got) != 1 || got[0] != "1000" {
			t.Errorf("grpc-retry-pushback-ms trailer %q, want [1000]", got)
		}
		close(svc.block)
		if err := <-first; err != nil {
			t.Fatalf("first call: %v", err)
		}
		var h metadata.MD
		if _, err := c.UnaryCall(withKey("k1"), request("order"), grpc.Header(&h)); err != nil || len(h.Get("idempotent-replayed")) != 1 {
			t.Fatalf("repeat after completion: %v, header %v; want a replay", err, h)
		}
		if n := svc.runs.Load(); n != 1 {
			t.Fatalf("handler ran %d times, want 1", n)
		}
	})

	t.Run("UnavailableReleases", func(t *testing.T) {
		svc := &service{answer: func(run int64, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
			if run == 1 {
				return nil, status.Error(codes.Unavailable, "backend down")
			}
			return &testgrpc.SimpleResponse{Hostname: "ok"}, nil
		}}
		c := setup(t, idempotencygrpc.Config{}, svc)
		if _, err := c.UnaryCall(withKey("k1"), request("order")); status.Code(err) != codes.Unavailable {
			t.Fatalf("first call: %v, want the handler's UNAVAILABLE", err)
		}
		var h metadata.MD
		r, err := c.UnaryCall(withKey("k1"), request("order"), grpc.Header(&h))
		if err != nil || r.GetHostname() != "ok" || len(h.Get("idempotent-replayed")) != 0 {
			t.Fatalf("retry: %v, %v, header %v; want the handler run again", r, err, h)
		}
		if n := svc.runs.Load(); n != 2 {
			t.Fatalf("handler ran %d times, want 2", n)
		}
	})

	t.Run("InvalidArgumentStoredWithDetails", func(t *testing.T) {
		svc := &service{answer: func(int64, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
			s, err := status.New(codes.InvalidArgument, "quantity must be positive").WithDetails(&errdetails.BadRequest{
				FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "quantity", Description: "must be positive"}},
			})
			if err != nil {
				return nil, err
			}
			return nil, s.Err()
		}}
		c := setup(t, idempotencygrpc.Config{}, svc)
		_, err1 := c.UnaryCall(withKey("k1"), request("order"))
		var h metadata.MD
		_, err2 := c.UnaryCall(withKey("k1"), request("order"), grpc.Header(&h))
		if n := svc.runs.Load(); n != 1 {
			t.Fatalf("handler ran %d times, want 1", n)
		}
		s1, s2 := status.Convert(err1), status.Convert(err2)
		if s1.Code() != codes.InvalidArgument || !proto.Equal(s1.Proto(), s2.Proto()) {
			t.Fatalf("replayed %v, want the first status %v", s2.Proto(), s1.Proto())
		}
		if d := s2.Details(); len(d) != 1 || d[0].(*errdetails.BadRequest).GetFieldViolations()[0].GetField() != "quantity" {
			t.Fatalf("replayed details %v, want the BadRequest", d)
		}
		if len(h.Get("idempotent-replayed")) != 1 {
			t.Fatalf("replayed error's header %v, want idempotent-replayed", h)
		}
	})

	t.Run("PanicReleases", func(t *testing.T) {
		svc := &service{answer: func(run int64, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
			if run == 1 {
				panic("handler bug")
			}
			return &testgrpc.SimpleResponse{Hostname: "ok"}, nil
		}}
		c := setup(t, idempotencygrpc.Config{}, svc)
		_, err := c.UnaryCall(withKey("k1"), request("order"))
		if s := status.Convert(err); s.Code() != codes.Internal || !strings.Contains(s.Message(), "handler bug") {
			t.Fatalf("first call: %v, want the recovery interceptor's INTERNAL with the panic", err)
		}
		r, err := c.UnaryCall(withKey("k1"), request("order"))
		if err != nil || r.GetHostname() != "ok" {
			t.Fatalf("retry after a panic: %v, %v; want the handler run again", r, err)
		}
		if n := svc.runs.Load(); n != 2 {
			t.Fatalf("handler ran %d times, want 2", n)
		}
	})

	t.Run("OversizeResponseNotStored", func(t *testing.T) {
		svc := &service{}
		c := setup(t, idempotencygrpc.Config{MaxStoredResponse: 64}, svc)
		big := strings.Repeat("x", 100)
		for i := range 2 {
			var h metadata.MD
			r, err := c.UnaryCall(withKey("k1"), request(big), grpc.Header(&h))
			if err != nil || string(r.GetPayload().GetBody()) != big || len(h.Get("idempotent-replayed")) != 0 {
				t.Fatalf("call %d: %v, header %v; want the whole response, not replayed", i+1, err, h)
			}
		}
		if n := svc.runs.Load(); n != 2 {
			t.Fatalf("handler ran %d times, want 2", n)
		}
	})

	t.Run("PrincipalScopesKeys", func(t *testing.T) {
		svc := &service{}
		c := setup(t, idempotencygrpc.Config{}, svc)
		alice := withKey("k1", "authorization", "Bearer alice")
		bob := withKey("k1", "authorization", "Bearer bob")
		ra, err := c.UnaryCall(alice, request("order"))
		if err != nil {
			t.Fatal(err)
		}
		rb, err := c.UnaryCall(bob, request("order"))
		if err != nil {
			t.Fatal(err)
		}
		if n := svc.runs.Load(); n != 2 || ra.GetHostname() == rb.GetHostname() {
			t.Fatalf("handler ran %d times (%s, %s), want twice: one per caller", n, ra.GetHostname(), rb.GetHostname())
		}
		var h metadata.MD
		if _, err := c.UnaryCall(alice, request("order"), grpc.Header(&h)); err != nil || len(h.Get("idempotent-replayed")) != 1 {
			t.Fatalf("alice's repeat: %v, header %v; want a replay", err, h)
		}
		// Anonymous calls share the empty principal, apart from both.
		if _, err := c.UnaryCall(withKey("k1"), request("order")); err != nil {
			t.Fatal(err)
		}
		if n := svc.runs.Load(); n != 3 {
			t.Fatalf("handler ran %d times, want 3", n)
		}
	})
}
