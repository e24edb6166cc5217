package reboundgrpc_test

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundgrpc"
	"github.com/rebound-go/rebound/reboundtest"
)

// The full method names of grpc.testing.TestService.
const (
	unaryMethod  = "/grpc.testing.TestService/UnaryCall"
	outputMethod = "/grpc.testing.TestService/StreamingOutputCall"
	inputMethod  = "/grpc.testing.TestService/StreamingInputCall"
	duplexMethod = "/grpc.testing.TestService/FullDuplexCall"
)

// seen is what the server saw of one call (one attempt, for the client).
type seen struct {
	method   string
	previous []string // grpc-previous-rpc-attempts
	payloads []string // request payloads, in order
	canceled bool     // the handler saw its context end
}

// server is a grpc.testing.TestService whose handlers run a script: each
// gets the number of the call to its method, from 1.
type server struct {
	testpb.UnimplementedTestServiceServer

	unary  func(ctx context.Context, n int) (*testpb.SimpleResponse, error)
	output func(n int, req *testpb.StreamingOutputCallRequest, ss grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error
	input  func(n int, ss grpc.ClientStreamingServer[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse], rec func(string)) error
	duplex func(n int, ss grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse], rec func(string)) error

	mu    sync.Mutex
	calls []*seen
}

// begin records a call and returns its number for its method, and the
// record.
func (s *server) begin(ctx context.Context, method string) (int, *seen) {
	md, _ := metadata.FromIncomingContext(ctx)
	c := &seen{method: method, previous: md.Get(reboundgrpc.PreviousAttemptsKey)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
	n := 0
	for _, o := range s.calls {
		if o.method == method {
			n++
		}
	}
	return n, c
}

func (s *server) record(c *seen) func(string) {
	return func(p string) {
		s.mu.Lock()
		c.payloads = append(c.payloads, p)
		s.mu.Unlock()
	}
}

// seenCalls returns a copy of the records of the calls to method.
func (s *server) seenCalls(method string) []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []seen
	for _, c := range s.calls {
		if c.method == method {
			cc := *c
			cc.previous = append([]string(nil), c.previous...)
			cc.payloads = append([]string(nil), c.payloads...)
			out = append(out, cc)
		}
	}
	return out
}

func (s *server) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	n, c := s.begin(ctx, unaryMethod)
	s.record(c)(string(req.GetPayload().GetBody()))
	resp, err := s.unary(ctx, n)
	if ctx.Err() != nil {
		s.mu.Lock()
		c.canceled = true
		s.mu.Unlock()
	}
	return resp, err
}

func (s *server) StreamingOutputCall(req *testpb.StreamingOutputCallRequest, ss grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	n, c := s.begin(ss.Context(), outputMethod)
	s.record(c)(string(req.GetPayload().GetBody()))
	err := s.output(n, req, ss)
	if ss.Context().Err() != nil {
		s.mu.Lock()
		c.canceled = true
		s.mu.Unlock()
	}
	return err
}

func (s *server) StreamingInputCall(ss grpc.ClientStreamingServer[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse]) error {
	n, c := s.begin(ss.Context(), inputMethod)
	return s.input(n, ss, s.record(c))
}

func (s *server) FullDuplexCall(ss grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	n, c := s.begin(ss.Context(), duplexMethod)
	return s.duplex(n, ss, s.record(c))
}

// readAll receives a client stream's messages until its end, recording
// their payloads.
func readAll(ss grpc.ClientStreamingServer[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse], rec func(string)) (int, error) {
	total := 0
	for {
		m, err := ss.Recv()
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		rec(string(m.GetPayload().GetBody()))
		total += len(m.GetPayload().GetBody())
	}
}

func payload(s string) *testpb.Payload { return &testpb.Payload{Body: []byte(s)} }

// transports are the two ways the tests reach a real grpc-go server: an
// in-memory bufconn listener and loopback TCP.
var transports = []string{"bufconn", "tcp"}

// start serves srv on the transport and returns a TestService client
// whose connection has the dial options given (a Client's, typically).
func start(t *testing.T, transport string, srv *server, serverOpts []grpc.ServerOption, dialOpts ...grpc.DialOption) testpb.TestServiceClient {
	t.Helper()
	gs := grpc.NewServer(serverOpts...)
	testpb.RegisterTestServiceServer(gs, srv)
	var target string
	var lis net.Listener
	dialOpts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, dialOpts...)
	switch transport {
	case "bufconn":
		bl := bufconn.Listen(1 << 20)
		lis = bl
		target = "passthrough:///bufconn"
		dialOpts = append(dialOpts, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return bl.DialContext(ctx)
		}))
	case "tcp":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lis = l
		target = l.Addr().String()
	default:
		t.Fatalf("unknown transport %q", transport)
	}
	go func() { _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient(target, dialOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.Stop()
	})
	return testpb.NewTestServiceClient(conn)
}

// newClient returns a Client, failing the test on a configuration error.
func newClient(t *testing.T, cfg reboundgrpc.Config) *reboundgrpc.Client {
	t.Helper()
	c, err := reboundgrpc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// recorder keeps every event.
type recorder struct{ reboundtest.Recorder }

// of returns the events of kind k.
func (r *recorder) of(k rebound.EventKind) []rebound.Event {
	var out []rebound.Event
	for _, e := range r.Events() {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// finished returns the CallFinished event, failing the test unless there
// is exactly one.
func (r *recorder) finished(t *testing.T) rebound.Event {
	t.Helper()
	f := r.of(rebound.CallFinished)
	if len(f) != 1 {
		t.Fatalf("%d CallFinished events, want 1: %+v", len(f), r.of(0))
	}
	return f[0]
}

// fast is a policy that retries at once: a zero backoff, so the tests
// never sleep for it; the waits they check are the servers'.
func fast(obs rebound.Observer) rebound.Policy {
	return rebound.Policy{Backoff: rebound.Constant(0), Observer: obs}
}

// reboundError returns err's *rebound.Error, failing the test without one.
func reboundError(t *testing.T, err error) *rebound.Error {
	t.Helper()
	var e *rebound.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *rebound.Error", err, err)
	}
	return e
}

// testContext is a context bounded well beyond any test's needs, so that
// a wrong wait fails the call (rebound.Do refuses a wait past the
// deadline) instead of hanging the test.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// noStreamLeft waits until no goroutine of a client stream (grpc-go's or
// this package's) is left, and fails the test if some remain: every
// stream an attempt abandoned must have been canceled.
func noStreamLeft(t *testing.T) {
	t.Helper()
	var stacks string
	for range 500 {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "grpc.newClientStreamWithParams") && !strings.Contains(stacks, "reboundgrpc.(*clientStream)") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("client stream goroutines left:\n%s", stacks)
}
