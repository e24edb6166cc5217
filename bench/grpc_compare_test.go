package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	retry "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/retry"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundgrpc"
)

// gRPC comparison: the same scripted faults against grpc-go's own retry
// (a service config's retryPolicy), go-grpc-middleware/v2's retry
// interceptor and reboundgrpc, each on its own in-memory (bufconn) server
// of the interop TestService.
//
// The clients:
//
//   - grpc-go: WithDefaultServiceConfig, retryPolicy for the whole
//     TestService: maxAttempts 4, backoff 1 ms (initial = max, multiplier
//     1), retryableStatusCodes ["UNAVAILABLE"], the common configuration.
//   - grpc-go +RE: the same with RESOURCE_EXHAUSTED listed too, the
//     configuration under which grpc-go reads a server's pushback for it.
//   - go-grpc-middleware: retry.UnaryClientInterceptor and
//     retry.StreamClientInterceptor with WithMax(3) (its loop runs max
//     attempts in all, the first included: 3 attempts, as rebound's
//     default) and its default codes, UNAVAILABLE and RESOURCE_EXHAUSTED,
//     with WithBackoff(retry.BackoffLinear(time.Millisecond)): its default
//     backoff, 50 ms ± 10 %, would pass for honouring the faults' 50 ms
//     pushback.
//   - rebound: reboundgrpc.New with Policy{Backoff: Constant(1 ms)} (so 3
//     attempts) and UnaryCall declared idempotent.
//
// TestGRPCRetryCompare prints the table in docs/BENCHMARKS.md and asserts
// only rebound's behaviour: the peers' is recorded, whatever it is.

// The full method names of grpc.testing.TestService used here.
const (
	grpcUnaryMethod  = "/grpc.testing.TestService/UnaryCall"
	grpcOutputMethod = "/grpc.testing.TestService/StreamingOutputCall"
	grpcInputMethod  = "/grpc.testing.TestService/StreamingInputCall"
)

// grpcFaultServer is a TestService whose every method fails or succeeds by
// a script: fail gets the attempt's number (from 1) and returns the error
// to end it with (nil: succeed) and the trailer to send. A unary call and
// a server stream fail before any message; a client stream fails after
// reading every request message, before its response. It records when
// each attempt arrived and the request payloads it read.
type grpcFaultServer struct {
	testpb.UnimplementedTestServiceServer

	fail func(n int) (metadata.MD, error)

	mu       sync.Mutex
	arrived  []time.Time
	payloads [][]string
}

func (s *grpcFaultServer) begin() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.arrived = append(s.arrived, time.Now())
	s.payloads = append(s.payloads, nil)
	return len(s.arrived)
}

func (s *grpcFaultServer) record(n int, p string) {
	s.mu.Lock()
	s.payloads[n-1] = append(s.payloads[n-1], p)
	s.mu.Unlock()
}

func (s *grpcFaultServer) attempts() (arrived []time.Time, payloads [][]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.arrived...), append([][]string(nil), s.payloads...)
}

func (s *grpcFaultServer) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	n := s.begin()
	s.record(n, string(req.GetPayload().GetBody()))
	trailer, err := s.fail(n)
	if trailer != nil {
		_ = grpc.SetTrailer(ctx, trailer)
	}
	if err != nil {
		return nil, err
	}
	return &testpb.SimpleResponse{Payload: req.GetPayload()}, nil
}

func (s *grpcFaultServer) StreamingOutputCall(req *testpb.StreamingOutputCallRequest, ss grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	n := s.begin()
	s.record(n, string(req.GetPayload().GetBody()))
	trailer, err := s.fail(n)
	if trailer != nil {
		ss.SetTrailer(trailer)
	}
	if err != nil {
		return err
	}
	for _, p := range []string{"x", "y"} {
		if err := ss.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: []byte(p)}}); err != nil {
			return err
		}
	}
	return nil
}

func (s *grpcFaultServer) StreamingInputCall(ss grpc.ClientStreamingServer[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse]) error {
	n := s.begin()
	total := 0
	for {
		m, err := ss.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		s.record(n, string(m.GetPayload().GetBody()))
		total += len(m.GetPayload().GetBody())
	}
	trailer, err := s.fail(n)
	if trailer != nil {
		ss.SetTrailer(trailer)
	}
	if err != nil {
		return err
	}
	return ss.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: int32(total)})
}

// serveGRPC serves srv on a bufconn listener and returns a connection to
// it with the dial options given, or grpc.NewClient's error.
func serveGRPC(tb testing.TB, srv testpb.TestServiceServer, serverOpts []grpc.ServerOption, dialOpts ...grpc.DialOption) (*grpc.ClientConn, error) {
	tb.Helper()
	gs := grpc.NewServer(serverOpts...)
	testpb.RegisterTestServiceServer(gs, srv)
	lis := bufconn.Listen(1 << 20)
	go func() { _ = gs.Serve(lis) }()
	tb.Cleanup(gs.Stop)
	dialOpts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
	}, dialOpts...)
	conn, err := grpc.NewClient("passthrough:///bufconn", dialOpts...)
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() { conn.Close() })
	return conn, nil
}

// grpcServiceConfig is a service config whose retryPolicy applies to the
// service named, with the maxAttempts and codes given; codesKey is the
// JSON key of the codes ("retryableStatusCodes", or a misspelling).
func grpcServiceConfig(service string, maxAttempts int, codesKey string, codes ...string) string {
	return fmt.Sprintf(`{"methodConfig":[{"name":[{"service":%q}],"retryPolicy":{`+
		`"maxAttempts":%d,"initialBackoff":"0.001s","maxBackoff":"0.001s","backoffMultiplier":1,%q:["%s"]}}]}`,
		service, maxAttempts, codesKey, strings.Join(codes, `","`))
}

// The misconfigurations of the last rows: each client's own way of
// getting its retry configuration wrong.
const (
	grpcConfigGood       = ""
	grpcConfigWrongName  = "wrong-name"   // the policy is for a name no call has (grpc-go#7446)
	grpcConfigMisspelt   = "misspelt"     // a misspelt field name
	grpcConfigOutOfRange = "out-of-range" // a value out of range
)

// grpcCompareClient is one retrying client: its dial options for a
// configuration kind, or the error its own setup returns, or "" and no
// options when the kind does not apply to it.
type grpcCompareClient struct {
	name string
	opts func(config string) (opts []grpc.DialOption, setupErr error, na string)
}

func grpcGoClient(name string, codes ...string) grpcCompareClient {
	return grpcCompareClient{name, func(config string) ([]grpc.DialOption, error, string) {
		sc := grpcServiceConfig("grpc.testing.TestService", 4, "retryableStatusCodes", codes...)
		switch config {
		case grpcConfigWrongName:
			// As in grpc-go#7446: the client type's name, not the proto
			// service's.
			sc = grpcServiceConfig("grpc.testing.TestServiceClient", 4, "retryableStatusCodes", codes...)
		case grpcConfigMisspelt:
			sc = grpcServiceConfig("grpc.testing.TestService", 4, "retryableStatusCode", codes...)
		case grpcConfigOutOfRange:
			sc = grpcServiceConfig("grpc.testing.TestService", 1, "retryableStatusCodes", codes...)
		}
		return []grpc.DialOption{grpc.WithDefaultServiceConfig(sc)}, nil, ""
	}}
}

func grpcMiddlewareClient() grpcCompareClient {
	return grpcCompareClient{"go-grpc-middleware", func(config string) ([]grpc.DialOption, error, string) {
		opts := []retry.CallOption{retry.WithMax(3), retry.WithBackoff(retry.BackoffLinear(time.Millisecond))}
		switch config {
		case grpcConfigWrongName:
			// Its configuration names no method; its way to retry
			// nothing without a word is its default, WithMax(0).
			opts = []retry.CallOption{retry.WithBackoff(retry.BackoffLinear(time.Millisecond))}
		case grpcConfigMisspelt:
			return nil, nil, "n/a (Go options: a compile error)"
		case grpcConfigOutOfRange:
			opts = []retry.CallOption{retry.WithMax(1), retry.WithBackoff(retry.BackoffLinear(time.Millisecond))}
		}
		return []grpc.DialOption{
			grpc.WithChainUnaryInterceptor(retry.UnaryClientInterceptor(opts...)),
			grpc.WithChainStreamInterceptor(retry.StreamClientInterceptor(opts...)),
		}, nil, ""
	}}
}

func grpcReboundClient() grpcCompareClient {
	return grpcCompareClient{"rebound", func(config string) ([]grpc.DialOption, error, string) {
		cfg := reboundgrpc.Config{
			Policy:     rebound.Policy{Backoff: rebound.Constant(time.Millisecond)},
			Idempotent: reboundgrpc.IdempotentMethods(grpcUnaryMethod),
		}
		switch config {
		case grpcConfigWrongName:
			cfg.Idempotent = reboundgrpc.IdempotentMethods("/grpc.testing.TestServiceClient/UnaryCall")
		case grpcConfigMisspelt:
			return nil, nil, "n/a (Go struct: a compile error)"
		case grpcConfigOutOfRange:
			cfg.Policy.MaxAttempts = -1
		}
		c, err := reboundgrpc.New(cfg)
		if err != nil {
			return nil, err, ""
		}
		return c.DialOptions(), nil, ""
	}}
}

// grpcFault is one row: what the server does, on which kind of call.
type grpcFault struct {
	id, name string
	call     string // "unary", "server-stream", "client-stream"
	config   string
	callOpts []grpc.CallOption
	fail     func(n int) (metadata.MD, error)
	wait     time.Duration // the wait the server asks for, if any
	// rebound's expected outcome.
	attempts int
	code     codes.Code
}

// thenOK fails the first k attempts with err (and trailer), then succeeds.
func thenOK(k int, trailer metadata.MD, err error) func(int) (metadata.MD, error) {
	return func(n int) (metadata.MD, error) {
		if n <= k {
			return trailer, err
		}
		return nil, nil
	}
}

func withRetryInfo(tb testing.TB, code codes.Code, delay time.Duration) error {
	st, err := status.New(code, "busy").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)})
	if err != nil {
		tb.Fatal(err)
	}
	return st.Err()
}

func grpcFaults(tb testing.TB) []grpcFault {
	unavailable := status.Error(codes.Unavailable, "down")
	exhausted := status.Error(codes.ResourceExhausted, "busy")
	pushback := func(ms string) metadata.MD { return metadata.Pairs("grpc-retry-pushback-ms", ms) }
	return []grpcFault{
		{id: "a", name: "UNAVAILABLE twice, then OK", call: "unary", fail: thenOK(2, nil, unavailable), attempts: 3, code: codes.OK},
		{id: "b", name: "RESOURCE_EXHAUSTED + pushback 50 ms, then OK", call: "unary", fail: thenOK(1, pushback("50"), exhausted), wait: 50 * time.Millisecond, attempts: 2, code: codes.OK},
		{id: "c", name: "RESOURCE_EXHAUSTED + RetryInfo 50 ms, then OK", call: "unary", fail: thenOK(1, nil, withRetryInfo(tb, codes.ResourceExhausted, 50*time.Millisecond)), wait: 50 * time.Millisecond, attempts: 2, code: codes.OK},
		{id: "d", name: "RESOURCE_EXHAUSTED, no wait asked, then OK", call: "unary", fail: thenOK(1, nil, exhausted), attempts: 1, code: codes.ResourceExhausted},
		{id: "e", name: "UNAVAILABLE + pushback -1 (do not retry), then OK", call: "unary", fail: thenOK(1, pushback("-1"), unavailable), attempts: 1, code: codes.Unavailable},
		{id: "f", name: "ABORTED, then OK; declared idempotent to rebound", call: "unary", fail: thenOK(1, nil, status.Error(codes.Aborted, "conflict")), attempts: 2, code: codes.OK},
		{id: "f′", name: "the same, the call marked `NonIdempotent()`", call: "unary", callOpts: []grpc.CallOption{reboundgrpc.NonIdempotent()}, fail: thenOK(1, nil, status.Error(codes.Aborted, "conflict")), attempts: 1, code: codes.Aborted},
		{id: "g", name: "INVALID_ARGUMENT, then OK", call: "unary", fail: thenOK(1, nil, status.Error(codes.InvalidArgument, "bad")), attempts: 1, code: codes.InvalidArgument},
		{id: "h", name: "server stream: UNAVAILABLE before its first message, then OK", call: "server-stream", fail: thenOK(1, nil, unavailable), attempts: 2, code: codes.OK},
		{id: "i", name: "client stream (3 messages): UNAVAILABLE before the response, then OK", call: "client-stream", fail: thenOK(1, nil, unavailable), attempts: 2, code: codes.OK},
		{id: "j1", name: "retry configured for a misspelt name (grpc-go#7446; rebound: `IdempotentMethods`), middleware without `WithMax`; fault a", call: "unary", config: grpcConfigWrongName, fail: thenOK(2, nil, unavailable), attempts: 3, code: codes.OK},
		{id: "j1′", name: "the same configs; ABORTED, then OK", call: "unary", config: grpcConfigWrongName, fail: thenOK(1, nil, status.Error(codes.Aborted, "conflict")), attempts: 1, code: codes.Aborted},
		{id: "j2", name: "misspelt field `retryableStatusCode`; fault a", call: "unary", config: grpcConfigMisspelt, fail: thenOK(2, nil, unavailable)},
		{id: "j3", name: "out of range: maxAttempts 1, WithMax(1), MaxAttempts -1; fault a", call: "unary", config: grpcConfigOutOfRange, fail: thenOK(2, nil, unavailable)},
	}
}

// grpcOutcome is what one client did with one fault.
type grpcOutcome struct {
	setupErr error
	na       string
	attempts int
	code     codes.Code
	err      error
	received int           // server stream: messages received
	gap      time.Duration // between the first two attempts, by the server's clock
	replayed []string      // client stream: the payloads the second attempt read
}

func runGRPCFault(t *testing.T, f grpcFault, c grpcCompareClient) grpcOutcome {
	t.Helper()
	opts, setupErr, na := c.opts(f.config)
	if setupErr != nil || na != "" {
		return grpcOutcome{setupErr: setupErr, na: na}
	}
	srv := &grpcFaultServer{fail: f.fail}
	conn, err := serveGRPC(t, srv, nil, opts...)
	if err != nil {
		return grpcOutcome{setupErr: err}
	}
	client := testpb.NewTestServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var o grpcOutcome
	switch f.call {
	case "unary":
		_, o.err = client.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("q")}}, f.callOpts...)
	case "server-stream":
		var stream grpc.ServerStreamingClient[testpb.StreamingOutputCallResponse]
		stream, o.err = client.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte("q")}}, f.callOpts...)
		for o.err == nil {
			if _, err := stream.Recv(); err != nil {
				if err != io.EOF {
					o.err = err
				}
				break
			}
			o.received++
		}
	case "client-stream":
		var stream grpc.ClientStreamingClient[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse]
		stream, o.err = client.StreamingInputCall(ctx, f.callOpts...)
		for _, p := range []string{"a", "b", "c"} {
			if o.err != nil {
				break
			}
			o.err = stream.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: []byte(p)}})
		}
		if o.err == nil {
			_, o.err = stream.CloseAndRecv()
		}
	}
	o.code = status.Code(o.err)
	arrived, payloads := srv.attempts()
	o.attempts = len(arrived)
	if len(arrived) >= 2 {
		o.gap = arrived[1].Sub(arrived[0])
		o.replayed = payloads[1]
	}
	return o
}

// cell is the table's text for one outcome: attempts the server saw, the
// final code, and the wait or the replay where the row has one.
func (o grpcOutcome) cell(f grpcFault) string {
	switch {
	case o.na != "":
		return o.na
	case o.setupErr != nil:
		return "setup fails: " + o.setupErrText()
	}
	s := fmt.Sprintf("%d · %s", o.attempts, grpcCodeName(o.code))
	if o.code == codes.OK {
		s = fmt.Sprintf("%d · **OK**", o.attempts)
	}
	if o.code != codes.OK && o.attempts == 0 {
		s += " (from the client: " + status.Convert(o.err).Message() + ")"
	}
	if f.wait > 0 && o.attempts >= 2 {
		if o.gap >= f.wait {
			s += fmt.Sprintf(" · waited %d ms ✓", o.gap.Milliseconds())
		} else {
			s += fmt.Sprintf(" · retried after %d ms ✗", o.gap.Milliseconds())
		}
	}
	if f.call == "client-stream" && o.attempts >= 2 {
		s += " · replayed " + strings.Join(o.replayed, ",")
	}
	return s
}

// setupErrText shortens a setup error for a table cell: grpc-go's dumps
// the whole policy.
func (o grpcOutcome) setupErrText() string {
	var ce *rebound.ConfigError
	if errors.As(o.setupErr, &ce) {
		return "`" + ce.Field + "`: " + ce.Problem
	}
	msg := o.setupErr.Error()
	if i := strings.Index(msg, "invalid retry policy"); i >= 0 {
		return "“invalid retry policy (&{…})”, the parsed policy dumped, no field named"
	}
	return msg
}

// grpcCodeName is a code's canonical name, as the gRPC spec writes it:
// INVALID_ARGUMENT for codes.InvalidArgument.
func grpcCodeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

func TestGRPCRetryCompare(t *testing.T) {
	clients := []grpcCompareClient{
		grpcGoClient("grpc-go", "UNAVAILABLE"),
		grpcGoClient("grpc-go +RE", "UNAVAILABLE", "RESOURCE_EXHAUSTED"),
		grpcMiddlewareClient(),
		grpcReboundClient(),
	}
	var table strings.Builder
	table.WriteString("| | fault | grpc-go (UNAVAILABLE) | grpc-go (+RESOURCE_EXHAUSTED) | go-grpc-middleware | rebound |\n|---|---|---|---|---|---|\n")
	for _, f := range grpcFaults(t) {
		row := []string{f.id, f.name}
		for _, c := range clients {
			o := runGRPCFault(t, f, c)
			row = append(row, o.cell(f))
			if o.setupErr != nil {
				t.Logf("%s, %s: setup error: %v", f.id, c.name, o.setupErr)
			}
			if c.name == "rebound" {
				checkReboundGRPC(t, f, o)
			}
		}
		table.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	t.Log("cells: attempts the server saw · final code (· the wait by the server's clock, ✓ when at least the 50 ms asked) (· the payloads the second attempt read)\n\n" + table.String())
}

// checkReboundGRPC asserts rebound's expected outcome of a fault.
func checkReboundGRPC(t *testing.T, f grpcFault, o grpcOutcome) {
	t.Helper()
	switch f.config {
	case grpcConfigMisspelt:
		return
	case grpcConfigOutOfRange:
		var ce *rebound.ConfigError
		if !errors.As(o.setupErr, &ce) || ce.Field != "reboundgrpc.Config.Policy.MaxAttempts" {
			t.Errorf("%s: reboundgrpc.New with MaxAttempts -1 returned %v, want a ConfigError naming reboundgrpc.Config.Policy.MaxAttempts", f.id, o.setupErr)
		}
		return
	}
	if o.setupErr != nil {
		t.Fatalf("%s: rebound setup: %v", f.id, o.setupErr)
	}
	if o.attempts != f.attempts || o.code != f.code {
		t.Errorf("%s (%s): rebound made %d attempts ending %s (%v), want %d ending %s", f.id, f.name, o.attempts, o.code, o.err, f.attempts, f.code)
	}
	switch f.call {
	case "server-stream":
		if o.received != 2 {
			t.Errorf("%s: rebound's stream received %d messages, want 2", f.id, o.received)
		}
	case "client-stream":
		if got := strings.Join(o.replayed, ","); got != "a,b,c" {
			t.Errorf("%s: rebound's second attempt read %q, want the 3 messages replayed in order", f.id, got)
		}
	}
}
