package reboundgrpc_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundgrpc"
)

func hedgers(t *testing.T) *rebound.Hedgers {
	t.Helper()
	g, err := rebound.NewHedgers(rebound.HedgeConfig{Delay: 20 * time.Millisecond, Ratio: 1}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// An idempotent unary call whose first attempt stalls is hedged: the
// hedge's reply, header and trailer are the caller's, and the stalled
// attempt is canceled.
func TestUnaryHedgeWins(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			srv := &server{unary: func(ctx context.Context, n int) (*testpb.SimpleResponse, error) {
				if !isHedge(ctx) {
					<-ctx.Done()
					return nil, ctx.Err()
				}
				grpc.SetHeader(ctx, metadata.Pairs("run", "2"))
				grpc.SetTrailer(ctx, metadata.Pairs("done", "2"))
				return &testpb.SimpleResponse{Payload: payload("hedge")}, nil
			}}
			rec := &recorder{}
			c := newClient(t, reboundgrpc.Config{Policy: fast(rec), Hedgers: hedgers(t), Idempotent: reboundgrpc.IdempotentMethods(unaryMethod)})
			client := start(t, tr, srv, nil, c.DialOptions()...)
			var header, trailer metadata.MD
			resp, err := client.UnaryCall(testContext(t), &testpb.SimpleRequest{Payload: payload("q")}, grpc.Header(&header), grpc.Trailer(&trailer))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(resp.GetPayload().GetBody()); got != "hedge" {
				t.Fatalf("reply %q, want the hedge's", got)
			}
			if header.Get("run")[0] != "2" || trailer.Get("done")[0] != "2" {
				t.Fatalf("header %v, trailer %v; want the hedge's", header, trailer)
			}
			calls := waitCanceled(t, srv, unaryMethod)
			if len(calls) != 2 {
				t.Fatalf("server saw %+v; want 2 calls", calls)
			}
			if won := rec.of(rebound.HedgeFinished); len(won) != 1 || won[0].Result != rebound.ResultWon || won[0].Endpoint != unaryMethod {
				t.Fatalf("HedgeFinished events %+v, want one won for %s", won, unaryMethod)
			}
		})
	}
}

// A call not declared idempotent is never hedged: no hedger is even made
// for its method.
func TestUnaryNotIdempotentIsNotHedged(t *testing.T) {
	srv := &server{unary: func(ctx context.Context, n int) (*testpb.SimpleResponse, error) {
		return &testpb.SimpleResponse{Payload: payload("one")}, nil
	}}
	g := hedgers(t)
	c := newClient(t, reboundgrpc.Config{Hedgers: g})
	client := start(t, "bufconn", srv, nil, c.DialOptions()...)
	if _, err := client.UnaryCall(testContext(t), &testpb.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	if g.Len() != 0 {
		t.Fatalf("%d hedgers made for a method not declared idempotent, want 0", g.Len())
	}
	if _, err := client.UnaryCall(testContext(t), &testpb.SimpleRequest{}, reboundgrpc.Idempotent()); err != nil {
		t.Fatal(err)
	}
	if g.Len() != 1 {
		t.Fatalf("%d hedgers after an idempotent call, want 1", g.Len())
	}
}

// The winner of a hedged server stream stays readable after the hedge
// decided: the hedge sends its first message, then 1 MiB more only after
// the caller has read that first message; the stalled stream is canceled.
func TestServerStreamHedgeWinnerIsReadable(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			firstRead := make(chan struct{})
			srv := &server{output: func(n int, req *testpb.StreamingOutputCallRequest, ss grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
				if !isHedge(ss.Context()) {
					<-ss.Context().Done()
					return ss.Context().Err()
				}
				if err := ss.Send(&testpb.StreamingOutputCallResponse{Payload: payload("first")}); err != nil {
					return err
				}
				select {
				case <-firstRead:
				case <-ss.Context().Done():
					return ss.Context().Err()
				}
				for range 16 {
					if err := ss.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: chunk}}); err != nil {
						return err
					}
				}
				return nil
			}}
			rec := &recorder{}
			c := newClient(t, reboundgrpc.Config{Policy: fast(rec), Hedgers: hedgers(t), Idempotent: reboundgrpc.IdempotentMethods(outputMethod)})
			client := start(t, tr, srv, nil, c.DialOptions()...)
			stream, err := client.StreamingOutputCall(testContext(t), &testpb.StreamingOutputCallRequest{Payload: payload("q")})
			if err != nil {
				t.Fatal(err)
			}
			m, err := stream.Recv()
			if err != nil || string(m.GetPayload().GetBody()) != "first" {
				t.Fatalf("first message %v, %v; want the hedge's", m, err)
			}
			close(firstRead)
			total := 0
			for {
				m, err := stream.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("reading the winner's stream after %d bytes: %v", total, err)
				}
				total += len(m.GetPayload().GetBody())
			}
			if total != 1<<20 {
				t.Fatalf("read %d bytes after the first message, want 1 MiB", total)
			}
			calls := waitCanceled(t, srv, outputMethod)
			if len(calls) != 2 || calls[0].payloads[0] != "q" || calls[1].payloads[0] != "q" {
				t.Fatalf("server saw %+v; want 2 streams, the hedge with the request replayed", calls)
			}
			if won := rec.of(rebound.HedgeFinished); len(won) != 1 || won[0].Result != rebound.ResultWon {
				t.Fatalf("HedgeFinished events %+v, want one won", won)
			}
			noStreamLeft(t)
		})
	}
}

// A hedged stream that fails before its commit point is retried like any
// other: here every run fails UNAVAILABLE twice, then the stream succeeds.
func TestServerStreamHedgedRetriesBeforeCommit(t *testing.T) {
	srv := &server{output: func(n int, req *testpb.StreamingOutputCallRequest, ss grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
		if n <= 2 {
			return status.Error(codes.Unavailable, "not yet")
		}
		return ss.Send(&testpb.StreamingOutputCallResponse{Payload: payload("ok")})
	}}
	c := newClient(t, reboundgrpc.Config{Policy: fast(nil), Hedgers: hedgers(t), Idempotent: reboundgrpc.IdempotentMethods(outputMethod)})
	client := start(t, "bufconn", srv, nil, c.DialOptions()...)
	stream, err := client.StreamingOutputCall(testContext(t), &testpb.StreamingOutputCallRequest{Payload: payload("q")})
	if err != nil {
		t.Fatal(err)
	}
	m, err := stream.Recv()
	if err != nil || string(m.GetPayload().GetBody()) != "ok" {
		t.Fatalf("got %v, %v; want ok after two retries", m, err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("end of stream: %v, want io.EOF", err)
	}
	if n := len(srv.seenCalls(outputMethod)); n != 3 {
		t.Fatalf("server saw %d streams, want 3", n)
	}
	noStreamLeft(t)
}

// isHedge reports whether the call is a hedge: it carries
// grpc-previous-rpc-attempts 1. (The server's count of calls cannot tell:
// on a busy machine the hedge may arrive first.)
func isHedge(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	p := md.Get(reboundgrpc.PreviousAttemptsKey)
	return len(p) == 1 && p[0] == "1"
}

// waitCanceled waits until the server saw the call of method that was not
// a hedge canceled, and returns the calls.
func waitCanceled(t *testing.T, srv *server, method string) []seen {
	t.Helper()
	for range 500 {
		calls := srv.seenCalls(method)
		for _, c := range calls {
			if len(c.previous) == 0 && c.canceled {
				return calls
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the server never saw the first call of %s canceled: %+v", method, srv.seenCalls(method))
	return nil
}

// A call that carries an idempotency-key is retried as an idempotent one
// (here on ABORTED, what a deduplicating server answers while the first
// call with the key runs), but never hedged.
func TestIdempotencyKeyMakesACallRetryable(t *testing.T) {
	for i, keyed := range []bool{false, true, true} {
		srv := &server{unary: func(ctx context.Context, n int) (*testpb.SimpleResponse, error) {
			if n == 1 {
				return nil, status.Error(codes.Aborted, "in flight")
			}
			return &testpb.SimpleResponse{}, nil
		}}
		g := hedgers(t)
		c := newClient(t, reboundgrpc.Config{Policy: fast(nil), Hedgers: g})
		client := start(t, "bufconn", srv, nil, c.DialOptions()...)
		ctx := testContext(t)
		switch {
		case !keyed:
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer t") // other metadata
		case i == 1:
			ctx = metadata.AppendToOutgoingContext(ctx, reboundgrpc.IdempotencyKey, "k1")
		default:
			ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs("Idempotency-Key", "k2", "authorization", "Bearer t"))
		}
		_, err := client.UnaryCall(ctx, &testpb.SimpleRequest{})
		calls := len(srv.seenCalls(unaryMethod))
		switch {
		case keyed && (err != nil || calls != 2):
			t.Errorf("with a key: %v after %d calls, want success after 2", err, calls)
		case !keyed && (status.Code(err) != codes.Aborted || calls != 1):
			t.Errorf("without a key: %v after %d calls, want ABORTED after 1", err, calls)
		}
		if g.Len() != 0 {
			t.Errorf("keyed %v: a hedger was made for a call not declared idempotent", keyed)
		}
	}
}
