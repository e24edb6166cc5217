package idempotencygrpc_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/idempotency"
	"github.com/rebound-go/rebound/idempotency/idempotencygrpc"
)

func TestNewValidatesConfig(t *testing.T) {
	store := &idempotency.MemoryStore{}
	for _, tc := range []struct {
		cfg   idempotencygrpc.Config
		field string
	}{
		{idempotencygrpc.Config{}, "idempotencygrpc.Config.Store"},
		{idempotencygrpc.Config{Store: store, MaxKeyLength: -1}, "idempotencygrpc.Config.MaxKeyLength"},
		{idempotencygrpc.Config{Store: store, MaxStoredResponse: -1}, "idempotencygrpc.Config.MaxStoredResponse"},
		{idempotencygrpc.Config{Store: store, TTL: -time.Second}, "idempotencygrpc.Config.TTL"},
		{idempotencygrpc.Config{Store: store, Lease: -time.Second}, "idempotencygrpc.Config.Lease"},
	} {
		_, err := idempotencygrpc.New(tc.cfg)
		var ce *rebound.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("New(%+v) = %v, want a *rebound.ConfigError naming %s", tc.cfg, err, tc.field)
		}
	}
	if _, err := idempotencygrpc.New(idempotencygrpc.Config{Store: store}); err != nil {
		t.Fatalf("New with only a Store: %v", err)
	}
}

func TestNoKeyPassesThrough(t *testing.T) {
	svc := &service{}
	c := serveTest(t, idempotencygrpc.Config{}, svc)
	for range 2 {
		if _, err := c.UnaryCall(context.Background(), request("order")); err != nil {
			t.Fatal(err)
		}
	}
	if n := svc.runs.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2: calls without a key are not deduped", n)
	}
}

func TestMissingKeyWhereRequired(t *testing.T) {
	svc := &service{}
	c := serveTest(t, idempotencygrpc.Config{Required: func(m string) bool { return m == testgrpc.TestService_UnaryCall_FullMethodName }}, svc)
	_, err := c.UnaryCall(context.Background(), request("order"))
	if s := status.Convert(err); s.Code() != codes.InvalidArgument || !strings.Contains(s.Message(), "requires an idempotency-key") {
		t.Fatalf("got %v, want INVALID_ARGUMENT saying the key is required", err)
	}
	if n := svc.runs.Load(); n != 0 {
		t.Fatalf("handler ran %d times, want 0", n)
	}
}

func TestMalformedKey(t *testing.T) {
	svc := &service{}
	c := serveTest(t, idempotencygrpc.Config{MaxKeyLength: 8}, svc)
	for _, tc := range []struct {
		name string
		md   metadata.MD
		rule string
	}{
		{"Repeated", metadata.Pairs("idempotency-key", "a", "idempotency-key", "b"), "carries 2 idempotency-key entries"},
		{"Empty", metadata.Pairs("idempotency-key", ""), "is empty"},
		{"TooLong", metadata.Pairs("idempotency-key", "123456789"), "longer than 8 bytes"},
		{"UnclosedQuote", metadata.Pairs("idempotency-key", `"abc`), "does not end with one"},
		{"BackslashInBareKey", metadata.Pairs("idempotency-key", `a\b`), "in a bare key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.UnaryCall(metadata.NewOutgoingContext(context.Background(), tc.md), request("order"))
			s := status.Convert(err)
			if s.Code() != codes.InvalidArgument || !strings.Contains(s.Message(), "malformed idempotency-key") || !strings.Contains(s.Message(), tc.rule) {
				t.Fatalf("got %v, want INVALID_ARGUMENT saying %q", err, tc.rule)
			}
		})
	}
	if n := svc.runs.Load(); n != 0 {
		t.Fatalf("handler ran %d times, want 0", n)
	}
}

// A quoted key is its string's content, as with the HTTP header.
func TestQuotedKeyIsItsContent(t *testing.T) {
	svc := &service{}
	c := serveTest(t, idempotencygrpc.Config{}, svc)
	if _, err := c.UnaryCall(withKey(`"k1"`), request("order")); err != nil {
		t.Fatal(err)
	}
	var h metadata.MD
	if _, err := c.UnaryCall(withKey("k1"), request("order"), grpc.Header(&h)); err != nil || len(h.Get("idempotent-replayed")) != 1 {
		t.Fatalf("bare repeat of a quoted key: %v, header %v; want a replay", err, h)
	}
}

func TestMethodsLeavesOthersAlone(t *testing.T) {
	svc := &service{}
	c := serveTest(t, idempotencygrpc.Config{Methods: func(string) bool { return false }}, svc)
	for range 2 {
		if _, err := c.UnaryCall(withKey("k1"), request("order")); err != nil {
			t.Fatal(err)
		}
	}
	if n := svc.runs.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2: the method is left out", n)
	}
}

// downStore fails every Claim.
type downStore struct{ idempotency.MemoryStore }

func (*downStore) Claim(context.Context, string, string, time.Time, time.Duration, time.Duration) (idempotency.Claim, error) {
	return idempotency.Claim{}, errors.New("connection refused")
}

func TestStoreDownRefusesWithUnavailable(t *testing.T) {
	svc := &service{}
	c := serveTest(t, idempotencygrpc.Config{Store: &downStore{}}, svc)
	_, err := c.UnaryCall(withKey("k1"), request("order"))
	if s := status.Convert(err); s.Code() != codes.Unavailable || !strings.Contains(s.Message(), "the call was not run; retry with the same key") {
		t.Fatalf("got %v, want UNAVAILABLE saying the call was not run", err)
	}
	if n := svc.runs.Load(); n != 0 {
		t.Fatalf("handler ran %d times, want 0: never unprotected", n)
	}
}

func TestFingerprint(t *testing.T) {
	if _, err := idempotencygrpc.DefaultFingerprint("/s/M", struct{}{}); err == nil || !strings.Contains(err.Error(), "not a proto.Message") {
		t.Fatalf("DefaultFingerprint of a non-proto request: %v, want an error saying so", err)
	}
	a, err1 := idempotencygrpc.DefaultFingerprint("/s/M", request("x"))
	b, err2 := idempotencygrpc.DefaultFingerprint("/s/N", request("x"))
	if err1 != nil || err2 != nil || a == b {
		t.Fatalf("fingerprints %q, %q (%v, %v): want two methods told apart", a, b, err1, err2)
	}

	t.Run("ErrorRefusesTheCall", func(t *testing.T) {
		svc := &service{}
		c := serveTest(t, idempotencygrpc.Config{Fingerprint: func(string, any) (string, error) {
			return "", errors.New("cannot digest")
		}}, svc)
		if _, err := c.UnaryCall(withKey("k1"), request("order")); status.Code(err) != codes.Internal {
			t.Fatalf("got %v, want INTERNAL", err)
		}
		if n := svc.runs.Load(); n != 0 {
			t.Fatalf("handler ran %d times, want 0", n)
		}
	})
	t.Run("StatusKeepsItsCode", func(t *testing.T) {
		c := serveTest(t, idempotencygrpc.Config{Fingerprint: func(string, any) (string, error) {
			return "", status.Error(codes.InvalidArgument, "request too large to fingerprint")
		}}, &service{})
		if _, err := c.UnaryCall(withKey("k1"), request("order")); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("got %v, want the Fingerprint's INVALID_ARGUMENT", err)
		}
	})
}

// A method whose response type is not in protoregistry cannot be replayed,
// so a call to it with a key is refused before it runs.
func TestUnregisteredResponseTypeIsRefused(t *testing.T) {
	const method = "/rebound.test.Unregistered/Call"
	var runs atomic.Int64
	desc := grpc.ServiceDesc{
		ServiceName: "rebound.test.Unregistered",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Call",
			Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
				in := new(emptypb.Empty)
				if err := dec(in); err != nil {
					return nil, err
				}
				return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: method}, func(context.Context, any) (any, error) {
					runs.Add(1)
					return &emptypb.Empty{}, nil
				})
			},
		}},
	}
	conn := serve(t, idempotencygrpc.Config{}, func(s *grpc.Server) { s.RegisterService(&desc, struct{}{}) })
	for range 2 { // refused at every call, from the first
		err := conn.Invoke(withKey("k1"), method, &emptypb.Empty{}, &emptypb.Empty{})
		s := status.Convert(err)
		if s.Code() != codes.Internal || !strings.Contains(s.Message(), method) || !strings.Contains(s.Message(), "response type must be registered") {
			t.Fatalf("got %v, want INTERNAL naming %s and saying its response type must be registered", err, method)
		}
	}
	if n := runs.Load(); n != 0 {
		t.Fatalf("handler ran %d times, want 0", n)
	}
	if err := conn.Invoke(context.Background(), method, &emptypb.Empty{}, &emptypb.Empty{}); err != nil || runs.Load() != 1 {
		t.Fatalf("call without a key: %v, runs %d; want it passed through", err, runs.Load())
	}
}
