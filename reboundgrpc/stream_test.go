package reboundgrpc_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
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

// recvAll receives a server stream's payloads until its end.
func recvAll(stream grpc.ServerStreamingClient[testpb.StreamingOutputCallResponse]) ([]string, error) {
	var got []string
	for {
		m, err := stream.Recv()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return got, err
		}
		got = append(got, string(m.GetPayload().GetBody()))
	}
}

// sendN sends n payloads a, b, c… on ss.
func sendN(ss grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse], n int) error {
	for i := range n {
		if err := ss.Send(&testpb.StreamingOutputCallResponse{Payload: payload(string(rune('a' + i)))}); err != nil {
			return err
		}
	}
	return nil
}

// A server stream that fails before its first response is retried: the
// request is sent again, and the caller gets the second attempt's
// messages.
func TestServerStreamRetriedBeforeCommit(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			rec := &recorder{}
			c := newClient(t, reboundgrpc.Config{Policy: fast(rec)})
			srv := &server{output: func(n int, _ *testpb.StreamingOutputCallRequest, ss grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
				if n <= 2 {
					return status.Error(codes.Unavailable, "not yet")
				}
				return sendN(ss, 3)
			}}
			client := start(t, tr, srv, nil, c.DialOptions()...)
			stream, err := client.StreamingOutputCall(testContext(t), &testpb.StreamingOutputCallRequest{Payload: payload("req")})
			if err != nil {
				t.Fatal(err)
			}
			got, err := recvAll(stream)
			if err != nil || !slices.Equal(got, []string{"a", "b", "c"}) {
				t.Fatalf("got %q, %v; want a b c", got, err)
			}
			calls := srv.seenCalls(outputMethod)
			if len(calls) != 3 {
				t.Fatalf("server saw %d attempts, want 3", len(calls))
			}
			for i, want := range [][]string{nil, {"1"}, {"2"}} {
				if !slices.Equal(calls[i].previous, want) || !slices.Equal(calls[i].payloads, []string{"req"}) {
					t.Errorf("attempt %d: previous %q, request %q", i+1, calls[i].previous, calls[i].payloads)
				}
			}
			att := rec.of(rebound.AttemptFinished)
			if len(att) != 3 || att[0].Class != rebound.Connection || status.Code(att[0].Err) != codes.Unavailable || att[2].Err != nil {
				t.Errorf("attempt events %+v", att)
			}
			if f := rec.finished(t); f.Result != rebound.ResultSuccess || f.Attempt != 3 || f.Endpoint != outputMethod {
				t.Errorf("CallFinished %+v", f)
			}
			noStreamLeft(t)
		})
	}
}

// Once the first message or the header has arrived the stream is
// committed: a later failure reaches the caller unretried.
func TestServerStreamNotRetriedAfterCommit(t *testing.T) {
	for _, tr := range transports {
		for _, how := range []string{"message", "header"} {
			t.Run(tr+"/"+how, func(t *testing.T) {
				c := newClient(t, reboundgrpc.Config{Policy: fast(nil)})
				srv := &server{output: func(_ int, _ *testpb.StreamingOutputCallRequest, ss grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
					if how == "message" {
						if err := sendN(ss, 1); err != nil {
							return err
						}
					} else if err := ss.SendHeader(metadata.Pairs("k", "v")); err != nil {
						return err
					}
					return status.Error(codes.Unavailable, "gone mid-stream")
				}}
				client := start(t, tr, srv, nil, c.DialOptions()...)
				stream, err := client.StreamingOutputCall(testContext(t), &testpb.StreamingOutputCallRequest{})
				if err != nil {
					t.Fatal(err)
				}
				got, err := recvAll(stream)
				if status.Code(err) != codes.Unavailable {
					t.Fatalf("err %v, want UNAVAILABLE", err)
				}
				var e *rebound.Error
				if errors.As(err, &e) {
					t.Errorf("a committed stream's error is grpc-go's, got %v", e)
				}
				if how == "message" && !slices.Equal(got, []string{"a"}) {
					t.Errorf("got %q, want a", got)
				}
				if n := len(srv.seenCalls(outputMethod)); n != 1 {
					t.Errorf("server saw %d attempts, want 1", n)
				}
				noStreamLeft(t)
			})
		}
	}
}

// When retrying stops before the commit point, RecvMsg returns the
// *rebound.Error, with the last status.
func TestServerStreamGivesUp(t *testing.T) {
	rec := &recorder{}
	c := newClient(t, reboundgrpc.Config{Policy: fast(rec)})
	srv := &server{output: func(int, *testpb.StreamingOutputCallRequest, grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
		return status.Error(codes.Unavailable, "down")
	}}
	client := start(t, "bufconn", srv, nil, c.DialOptions()...)
	stream, err := client.StreamingOutputCall(testContext(t), &testpb.StreamingOutputCallRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = recvAll(stream)
	if e := reboundError(t, err); e.Reason != rebound.ReasonExhausted || e.Attempts != 3 || status.Code(err) != codes.Unavailable || e.Endpoint != outputMethod {
		t.Errorf("reason %v after %d attempts, code %v, endpoint %q", e.Reason, e.Attempts, status.Code(err), e.Endpoint)
	}
	if _, err2 := stream.Recv(); err2 != err {
		t.Errorf("second Recv: %v, want the same error", err2)
	}
	if f := rec.finished(t); f.Reason != rebound.ReasonExhausted {
		t.Errorf("CallFinished %+v", f)
	}
	noStreamLeft(t)
}

// A client stream's messages are kept until the commit point and replayed
// in order, with CloseSend, on the next attempt, whether the first failed
// after reading them all or in the middle of them.
func TestClientStreamReplay(t *testing.T) {
	for _, tr := range transports {
		for _, failAfter := range []int{3, 1} {
			t.Run(tr, func(t *testing.T) {
				c := newClient(t, reboundgrpc.Config{Policy: fast(nil)})
				srv := &server{input: func(n int, ss grpc.ClientStreamingServer[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse], rec func(string)) error {
					if n == 1 {
						for range failAfter {
							m, err := ss.Recv()
							if err != nil {
								return err
							}
							rec(string(m.GetPayload().GetBody()))
						}
						return status.Error(codes.Unavailable, "restarting")
					}
					total, err := readAll(ss, rec)
					if err != nil {
						return err
					}
					return ss.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: int32(total)})
				}}
				client := start(t, tr, srv, nil, c.DialOptions()...)
				stream, err := client.StreamingInputCall(testContext(t))
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range []string{"one", "two", "three"} {
					if err := stream.Send(&testpb.StreamingInputCallRequest{Payload: payload(p)}); err != nil {
						t.Fatal(err)
					}
				}
				resp, err := stream.CloseAndRecv()
				if err != nil || resp.GetAggregatedPayloadSize() != 11 {
					t.Fatalf("resp %v, err %v; want 11 bytes", resp, err)
				}
				calls := srv.seenCalls(inputMethod)
				if len(calls) != 2 {
					t.Fatalf("server saw %d attempts, want 2", len(calls))
				}
				if want := []string{"one", "two", "three"}[:failAfter]; !slices.Equal(calls[0].payloads, want) {
					t.Errorf("first attempt read %q, want %q", calls[0].payloads, want)
				}
				if !slices.Equal(calls[1].payloads, []string{"one", "two", "three"}) || !slices.Equal(calls[1].previous, []string{"1"}) {
					t.Errorf("second attempt read %q, previous %q", calls[1].payloads, calls[1].previous)
				}
				noStreamLeft(t)
			})
		}
	}
}

// A message that does not fit Config.MaxBufferedStream commits the
// stream: its failure is not retried. A negative limit commits on the
// first message.
func TestClientStreamBufferLimitCommits(t *testing.T) {
	for _, limit := range []int{4, -1} {
		c := newClient(t, reboundgrpc.Config{Policy: fast(nil), MaxBufferedStream: limit})
		srv := &server{input: func(_ int, ss grpc.ClientStreamingServer[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse], rec func(string)) error {
			if _, err := readAll(ss, rec); err != nil {
				return err
			}
			return status.Error(codes.Unavailable, "down")
		}}
		client := start(t, "bufconn", srv, nil, c.DialOptions()...)
		stream, err := client.StreamingInputCall(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&testpb.StreamingInputCallRequest{Payload: payload(strings.Repeat("x", 10))}); err != nil {
			t.Fatal(err)
		}
		_, err = stream.CloseAndRecv()
		if status.Code(err) != codes.Unavailable {
			t.Errorf("limit %d: err %v, want UNAVAILABLE", limit, err)
		}
		if n := len(srv.seenCalls(inputMethod)); n != 1 {
			t.Errorf("limit %d: server saw %d attempts, want 1", limit, n)
		}
		noStreamLeft(t)
	}
}

// A bidirectional stream is retried before its first response, its
// messages replayed; after, it is the server's, unchanged.
func TestBidiStreamRetriedBeforeCommit(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			c := newClient(t, reboundgrpc.Config{Policy: fast(nil)})
			srv := &server{duplex: func(n int, ss grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse], rec func(string)) error {
				for {
					m, err := ss.Recv()
					if err == io.EOF {
						return nil
					}
					if err != nil {
						return err
					}
					body := string(m.GetPayload().GetBody())
					rec(body)
					if n == 1 {
						return status.Error(codes.Unavailable, "failing over")
					}
					if err := ss.Send(&testpb.StreamingOutputCallResponse{Payload: payload("echo " + body)}); err != nil {
						return err
					}
				}
			}}
			client := start(t, tr, srv, nil, c.DialOptions()...)
			stream, err := client.FullDuplexCall(testContext(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{"ping", "pong"} {
				if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: payload(p)}); err != nil {
					t.Fatal(err)
				}
				m, err := stream.Recv()
				if err != nil || string(m.GetPayload().GetBody()) != "echo "+p {
					t.Fatalf("Recv after %s: %v, %v", p, m, err)
				}
			}
			if err := stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != io.EOF {
				t.Fatalf("last Recv: %v, want io.EOF", err)
			}
			calls := srv.seenCalls(duplexMethod)
			if len(calls) != 2 || !slices.Equal(calls[0].payloads, []string{"ping"}) || !slices.Equal(calls[1].payloads, []string{"ping", "pong"}) {
				t.Errorf("server saw %+v", calls)
			}
			noStreamLeft(t)
		})
	}
}

// A failure to open the stream is retried too.
func TestNewStreamFailureRetried(t *testing.T) {
	rec := &recorder{}
	c := newClient(t, reboundgrpc.Config{Policy: fast(rec)})
	opened, failAll := 0, false
	failFirst := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		opened++
		if opened == 1 || failAll {
			return nil, status.Error(codes.Unavailable, "no connection yet")
		}
		return streamer(ctx, desc, cc, method, opts...)
	}
	srv := &server{output: func(_ int, _ *testpb.StreamingOutputCallRequest, ss grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
		return sendN(ss, 2)
	}}
	client := start(t, "bufconn", srv, nil, append(c.DialOptions(), grpc.WithChainStreamInterceptor(failFirst))...)
	stream, err := client.StreamingOutputCall(testContext(t), &testpb.StreamingOutputCallRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := recvAll(stream)
	if err != nil || len(got) != 2 {
		t.Fatalf("got %q, %v", got, err)
	}
	if att := rec.of(rebound.AttemptFinished); len(att) != 2 || status.Code(att[0].Err) != codes.Unavailable {
		t.Errorf("attempt events %+v", att)
	}
	if n := len(srv.seenCalls(outputMethod)); n != 1 {
		t.Errorf("server saw %d calls, want 1", n)
	}
	// When no attempt can open a stream, NewStream returns the
	// *rebound.Error.
	failAll = true
	_, err = client.StreamingOutputCall(testContext(t), &testpb.StreamingOutputCallRequest{})
	if err == nil {
		t.Fatal("NewStream succeeded")
	}
	noStreamLeft(t)
}

// An attempt that gets no response within Policy.AttemptTimeout is
// abandoned, its stream canceled (the server sees its context end), and
// the next one is committed, to live on past the timeout.
func TestStreamAttemptTimeoutCancelsAbandoned(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			rec := &recorder{}
			p := fast(rec)
			p.AttemptTimeout = 200 * time.Millisecond
			p.MaxAttempts = 5
			c := newClient(t, reboundgrpc.Config{Policy: p, Idempotent: func(string) bool { return true }})
			release, abandoned := make(chan struct{}), make(chan struct{})
			srv := &server{output: func(n int, _ *testpb.StreamingOutputCallRequest, ss grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
				if n == 1 {
					<-ss.Context().Done()
					close(abandoned)
					return ss.Context().Err()
				}
				if err := sendN(ss, 1); err != nil {
					return err
				}
				<-release // the stream outlives the attempt's timeout
				return sendN(ss, 1)
			}}
			client := start(t, tr, srv, nil, c.DialOptions()...)
			stream, err := client.StreamingOutputCall(testContext(t), &testpb.StreamingOutputCallRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != nil {
				t.Fatal(err)
			}
			first := rec.of(rebound.AttemptFinished)[0]
			if first.Class != rebound.Connection || status.Code(first.Err) != codes.DeadlineExceeded {
				t.Errorf("first attempt: class %v code %v", first.Class, status.Code(first.Err))
			}
			// Past the timeout: the committed stream is still open.
			<-time.After(2 * p.AttemptTimeout)
			close(release)
			got, err := recvAll(stream)
			if err != nil || len(got) != 1 {
				t.Fatalf("after the timeout: %q, %v", got, err)
			}
			select {
			case <-abandoned:
			case <-time.After(10 * time.Second):
				t.Error("the abandoned attempt's stream was not canceled")
			}
			noStreamLeft(t)
		})
	}
}

// The caller canceling before the commit point ends the stream with
// CANCELED.
func TestStreamCallerCanceled(t *testing.T) {
	c := newClient(t, reboundgrpc.Config{Policy: fast(nil), Idempotent: func(string) bool { return true }})
	started := make(chan struct{})
	srv := &server{output: func(_ int, _ *testpb.StreamingOutputCallRequest, ss grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
		close(started)
		<-ss.Context().Done()
		return nil
	}}
	client := start(t, "bufconn", srv, nil, c.DialOptions()...)
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := client.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		<-started
		cancel()
	}()
	_, err = stream.Recv()
	if e := reboundError(t, err); e.Reason != rebound.ReasonCanceled || status.Code(err) != codes.Canceled {
		t.Errorf("reason %v code %v (%v)", e.Reason, status.Code(err), err)
	}
	if n := len(srv.seenCalls(outputMethod)); n != 1 {
		t.Errorf("server saw %d calls, want 1", n)
	}
	noStreamLeft(t)
}
