package reboundgrpc_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/rebound-go/rebound"
	"github.com/rebound-go/rebound/reboundgrpc"
)

// failThen fails the first n calls with code, then answers.
func failThen(n int, code codes.Code) func(context.Context, int) (*testpb.SimpleResponse, error) {
	return func(_ context.Context, i int) (*testpb.SimpleResponse, error) {
		if i <= n {
			return nil, status.Error(code, "scripted failure")
		}
		return &testpb.SimpleResponse{Payload: payload("ok")}, nil
	}
}

// A unary call retries UNAVAILABLE, telling the server which attempt it
// sees, and reports every attempt to the observer.
func TestUnaryRetriesUnavailable(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			rec := &recorder{}
			c := newClient(t, reboundgrpc.Config{Policy: fast(rec)})
			srv := &server{unary: failThen(2, codes.Unavailable)}
			client := start(t, tr, srv, nil, c.DialOptions()...)

			resp, err := client.UnaryCall(testContext(t), &testpb.SimpleRequest{Payload: payload("hi")})
			if err != nil {
				t.Fatal(err)
			}
			if got := string(resp.GetPayload().GetBody()); got != "ok" {
				t.Errorf("response %q, want ok", got)
			}
			calls := srv.seenCalls(unaryMethod)
			if len(calls) != 3 {
				t.Fatalf("server saw %d attempts, want 3", len(calls))
			}
			for i, want := range [][]string{nil, {"1"}, {"2"}} {
				if !slices.Equal(calls[i].previous, want) {
					t.Errorf("attempt %d: grpc-previous-rpc-attempts %q, want %q", i+1, calls[i].previous, want)
				}
				if calls[i].payloads[0] != "hi" {
					t.Errorf("attempt %d: request %q, want hi", i+1, calls[i].payloads[0])
				}
			}
			attempts := rec.of(rebound.AttemptFinished)
			if len(attempts) != 3 {
				t.Fatalf("%d AttemptFinished events, want 3", len(attempts))
			}
			for i, e := range attempts[:2] {
				if e.Attempt != i+1 || e.Class != rebound.Connection || status.Code(e.Err) != codes.Unavailable || e.Endpoint != unaryMethod {
					t.Errorf("attempt event %d: attempt %d class %v code %v endpoint %q", i, e.Attempt, e.Class, status.Code(e.Err), e.Endpoint)
				}
			}
			if n := len(rec.of(rebound.RetryScheduled)); n != 2 {
				t.Errorf("%d RetryScheduled events, want 2", n)
			}
			if f := rec.finished(t); f.Result != rebound.ResultSuccess || f.Attempt != 3 {
				t.Errorf("CallFinished: result %v after %d attempts, want success after 3", f.Result, f.Attempt)
			}
		})
	}
}

// Each row of the package doc's table: what a status returned once by the
// server does to a call, for a method declared idempotent or not.
func TestUnaryClassification(t *testing.T) {
	type row struct {
		code  codes.Code
		class rebound.Class
		// retried for a non-idempotent and an idempotent method.
		retried, retriedIdempotent bool
	}
	rows := []row{
		{codes.Unavailable, rebound.Connection, true, true},
		{codes.DeadlineExceeded, rebound.Connection, false, true},
		{codes.ResourceExhausted, rebound.Response, false, false}, // no pushback
		{codes.Aborted, rebound.Response, false, true},
		{codes.Internal, rebound.Response, false, true},
		{codes.Unknown, rebound.Response, false, true},
		// A CANCELED the caller did not cause: rebound.Do treats it as an
		// attempt cut short below the caller (Connection, maybe processed).
		{codes.Canceled, rebound.Connection, false, true},
	}
	for _, code := range []codes.Code{codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.PermissionDenied,
		codes.FailedPrecondition, codes.OutOfRange, codes.Unimplemented, codes.DataLoss, codes.Unauthenticated} {
		rows = append(rows, row{code, rebound.Logic, false, false})
	}
	for _, tr := range transports {
		for _, r := range rows {
			for _, idempotent := range []bool{false, true} {
				name := tr + "/" + r.code.String()
				if idempotent {
					name += "/idempotent"
				}
				t.Run(name, func(t *testing.T) {
					rec := &recorder{}
					cfg := reboundgrpc.Config{Policy: fast(rec)}
					if idempotent {
						cfg.Idempotent = reboundgrpc.IdempotentMethods(unaryMethod)
					}
					c := newClient(t, cfg)
					srv := &server{unary: failThen(1, r.code)}
					client := start(t, tr, srv, nil, c.DialOptions()...)

					_, err := client.UnaryCall(testContext(t), &testpb.SimpleRequest{})
					first := rec.of(rebound.AttemptFinished)[0]
					if first.Class != r.class {
						t.Errorf("class %v, want %v", first.Class, r.class)
					}
					retried := r.retried
					if idempotent {
						retried = r.retriedIdempotent
					}
					calls := len(srv.seenCalls(unaryMethod))
					if retried {
						if err != nil || calls != 2 {
							t.Fatalf("err %v after %d attempts, want success after 2", err, calls)
						}
						return
					}
					if calls != 1 {
						t.Errorf("server saw %d attempts, want 1", calls)
					}
					if got := status.Code(err); got != r.code {
						t.Errorf("status.Code(err) = %v, want %v (err %v)", got, r.code, err)
					}
					if e := reboundError(t, err); e.Reason != rebound.ReasonPermanent || e.Endpoint != unaryMethod {
						t.Errorf("reason %v endpoint %q, want permanent %q", e.Reason, e.Endpoint, unaryMethod)
					}
					if st, ok := status.FromError(err); !ok || st.Code() != r.code {
						t.Errorf("status.FromError: %v %v", st, ok)
					}
				})
			}
		}
	}
}

// The call options override Config.Idempotent for one call.
func TestUnaryIdempotencyCallOptions(t *testing.T) {
	c := newClient(t, reboundgrpc.Config{Policy: fast(nil), Idempotent: reboundgrpc.IdempotentMethods(unaryMethod)})
	srv := &server{}
	client := start(t, "bufconn", srv, nil, c.DialOptions()...)
	for _, tc := range []struct {
		opts  []grpc.CallOption
		calls int
	}{
		{nil, 2},
		{[]grpc.CallOption{reboundgrpc.NonIdempotent()}, 1},
		{[]grpc.CallOption{reboundgrpc.NonIdempotent(), reboundgrpc.Idempotent()}, 2}, // the last wins
	} {
		calls := 0
		srv.unary = func(context.Context, int) (*testpb.SimpleResponse, error) {
			calls++
			if calls == 1 {
				return nil, status.Error(codes.Aborted, "conflict")
			}
			return &testpb.SimpleResponse{}, nil
		}
		_, _ = client.UnaryCall(testContext(t), &testpb.SimpleRequest{}, tc.opts...)
		if calls != tc.calls {
			t.Errorf("%d options: %d attempts, want %d", len(tc.opts), calls, tc.calls)
		}
	}
	// Without a table, no method is idempotent, and Idempotent() makes one.
	c = newClient(t, reboundgrpc.Config{Policy: fast(nil)})
	srv = &server{unary: failThen(1, codes.Internal)}
	client = start(t, "bufconn", srv, nil, c.DialOptions()...)
	if _, err := client.UnaryCall(testContext(t), &testpb.SimpleRequest{}); status.Code(err) != codes.Internal {
		t.Errorf("no table: %v, want INTERNAL", err)
	}
	if _, err := client.UnaryCall(testContext(t), &testpb.SimpleRequest{}, reboundgrpc.Idempotent()); err != nil {
		t.Errorf("Idempotent(): %v, want a retried success", err)
	}
}

// An attempt that runs out of Policy.AttemptTimeout while the caller's
// context is live fails with DEADLINE_EXCEEDED, a Connection failure: an
// idempotent call retries it, a non-idempotent one does not (the server
// may have done the work).
func TestUnaryAttemptTimeout(t *testing.T) {
	for _, tr := range transports {
		for _, idempotent := range []bool{true, false} {
			t.Run(tr+map[bool]string{true: "/idempotent", false: "/non-idempotent"}[idempotent], func(t *testing.T) {
				rec := &recorder{}
				p := fast(rec)
				p.AttemptTimeout = 200 * time.Millisecond
				p.MaxAttempts = 5
				c := newClient(t, reboundgrpc.Config{Policy: p})
				srv := &server{unary: func(ctx context.Context, n int) (*testpb.SimpleResponse, error) {
					if n == 1 {
						<-ctx.Done() // never answers the first attempt
						return nil, ctx.Err()
					}
					return &testpb.SimpleResponse{}, nil
				}}
				client := start(t, tr, srv, nil, c.DialOptions()...)
				opt := reboundgrpc.NonIdempotent()
				if idempotent {
					opt = reboundgrpc.Idempotent()
				}
				_, err := client.UnaryCall(testContext(t), &testpb.SimpleRequest{}, opt)
				first := rec.of(rebound.AttemptFinished)[0]
				if first.Class != rebound.Connection || status.Code(first.Err) != codes.DeadlineExceeded {
					t.Errorf("first attempt: class %v code %v, want connection DEADLINE_EXCEEDED", first.Class, status.Code(first.Err))
				}
				if !idempotent {
					if e := reboundError(t, err); e.Reason != rebound.ReasonPermanent || status.Code(err) != codes.DeadlineExceeded {
						t.Errorf("non-idempotent: reason %v code %v, want permanent DEADLINE_EXCEEDED", e.Reason, status.Code(err))
					}
					return
				}
				// Later attempts may time out too on a loaded machine:
				// the call succeeds within its five.
				if err != nil {
					t.Fatal(err)
				}
				if calls := srv.seenCalls(unaryMethod); len(calls) < 2 || !slices.Equal(calls[1].previous, []string{"1"}) {
					t.Errorf("server saw %+v, want a retry", calls)
				}
			})
		}
	}
}

// The caller's own deadline ends the call: no retry, and the caller gets
// DEADLINE_EXCEEDED with reason canceled.
func TestUnaryCallerDeadline(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			rec := &recorder{}
			c := newClient(t, reboundgrpc.Config{Policy: fast(rec), Idempotent: func(string) bool { return true }})
			srv := &server{unary: func(ctx context.Context, _ int) (*testpb.SimpleResponse, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			}}
			client := start(t, tr, srv, nil, c.DialOptions()...)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_, err := client.UnaryCall(ctx, &testpb.SimpleRequest{})
			if got := status.Code(err); got != codes.DeadlineExceeded {
				t.Errorf("code %v, want DEADLINE_EXCEEDED (%v)", got, err)
			}
			e := reboundError(t, err)
			if e.Reason != rebound.ReasonCanceled || e.Attempts != 1 || e.Class != rebound.Canceled {
				t.Errorf("reason %v after %d attempts, class %v; want canceled after 1, canceled", e.Reason, e.Attempts, e.Class)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("errors.Is(err, context.DeadlineExceeded) is false: %v", err)
			}
			if f := rec.finished(t); f.Reason != rebound.ReasonCanceled {
				t.Errorf("CallFinished reason %v, want canceled", f.Reason)
			}
		})
	}
}

// The caller canceling ends the call with CANCELED, also when its context
// is done before the first attempt.
func TestUnaryCallerCanceled(t *testing.T) {
	c := newClient(t, reboundgrpc.Config{Policy: fast(nil), Idempotent: func(string) bool { return true }})
	started := make(chan struct{})
	srv := &server{unary: func(ctx context.Context, _ int) (*testpb.SimpleResponse, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	client := start(t, "bufconn", srv, nil, c.DialOptions()...)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	_, err := client.UnaryCall(ctx, &testpb.SimpleRequest{})
	if e := reboundError(t, err); e.Reason != rebound.ReasonCanceled || status.Code(err) != codes.Canceled || !errors.Is(err, context.Canceled) {
		t.Errorf("reason %v code %v (%v), want canceled CANCELED", e.Reason, status.Code(err), err)
	}
	// Done before any attempt: rebound.Do runs none, and the error still
	// carries a status.
	_, err = client.UnaryCall(ctx, &testpb.SimpleRequest{})
	if e := reboundError(t, err); e.Attempts != 0 || status.Code(err) != codes.Canceled || !errors.Is(err, context.Canceled) {
		t.Errorf("%d attempts, code %v (%v), want 0 and CANCELED", e.Attempts, status.Code(err), err)
	}
	if n := len(srv.seenCalls(unaryMethod)); n != 1 {
		t.Errorf("server saw %d calls, want 1", n)
	}
}

// An open breaker refuses a call before the network: UNAVAILABLE, reason
// circuit_open. Breakers and budgets are per endpoint, and Config.Endpoint
// names it.
func TestUnaryBreakerBudgetAndEndpoint(t *testing.T) {
	breakers, err := rebound.NewBreakers(rebound.BreakerConfig{ConsecutiveFailures: 2, OpenFor: time.Hour}, 0)
	if err != nil {
		t.Fatal(err)
	}
	budgets, err := rebound.NewBudgets(rebound.BudgetConfig{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	c := newClient(t, reboundgrpc.Config{
		Policy:   fast(rec),
		Breakers: breakers,
		Budgets:  budgets,
		Endpoint: func(m string) string { return "test " + m[len("/grpc.testing.TestService/"):] },
	})
	srv := &server{unary: failThen(100, codes.Unavailable)}
	client := start(t, "bufconn", srv, nil, c.DialOptions()...)

	_, err = client.UnaryCall(testContext(t), &testpb.SimpleRequest{})
	if e := reboundError(t, err); e.Reason != rebound.ReasonCircuitOpen || e.Attempts != 2 || e.Endpoint != "test UnaryCall" {
		t.Errorf("first call: reason %v after %d attempts, endpoint %q", e.Reason, e.Attempts, e.Endpoint)
	}
	_, err = client.UnaryCall(testContext(t), &testpb.SimpleRequest{})
	e := reboundError(t, err)
	if e.Reason != rebound.ReasonCircuitOpen || e.Attempts != 0 || status.Code(err) != codes.Unavailable || !errors.Is(err, rebound.ErrCircuitOpen) {
		t.Errorf("second call: reason %v after %d attempts, code %v (%v)", e.Reason, e.Attempts, status.Code(err), err)
	}
	if n := len(srv.seenCalls(unaryMethod)); n != 2 {
		t.Errorf("server saw %d attempts, want 2", n)
	}
	if breakers.Get("test UnaryCall").State() != rebound.Open || budgets.Len() != 1 {
		t.Errorf("breaker %v, %d budgets", breakers.Get("test UnaryCall").State(), budgets.Len())
	}
	for _, ev := range rec.of(rebound.CallFinished) {
		if ev.Endpoint != "test UnaryCall" {
			t.Errorf("event endpoint %q", ev.Endpoint)
		}
	}
}

// New names the invalid field.
func TestNewRejectsInvalidPolicy(t *testing.T) {
	_, err := reboundgrpc.New(reboundgrpc.Config{Policy: rebound.Policy{MaxAttempts: -1}})
	var ce *rebound.ConfigError
	if !errors.As(err, &ce) || ce.Field != "reboundgrpc.Config.Policy.MaxAttempts" {
		t.Fatalf("err %v, want a ConfigError for reboundgrpc.Config.Policy.MaxAttempts", err)
	}
}
