package reboundgrpc

import (
	"context"
	"errors"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rebound-go/rebound"
)

// DefaultMaxBufferedStream is the buffer limit a zero
// Config.MaxBufferedStream stands for: 1 MiB of request messages kept for
// replay before a stream's commit point.
const DefaultMaxBufferedStream = 1 << 20

// The metadata keys of gRFC A6 that the interceptors read and write.
const (
	// PreviousAttemptsKey is the outgoing metadata key of a retry: the
	// number of attempts of the call before this one.
	PreviousAttemptsKey = "grpc-previous-rpc-attempts"
	// PushbackKey is the trailer a server sets to ask for a wait before
	// the next attempt, in milliseconds; a negative or malformed value asks
	// the client not to retry.
	PushbackKey = "grpc-retry-pushback-ms"
)

// Config configures a Client. The zero value means every default.
type Config struct {
	// Policy is the retry policy of every call. Its zero value means
	// rebound's defaults (3 attempts, exponential backoff 1 s → 10 s with
	// full jitter, retry Connection and Response failures, honour server
	// pushback up to 60 s). Policy.Endpoint, Breaker, Budget and
	// NonIdempotent are set per call by the Client.
	//
	// Policy.AttemptTimeout bounds each attempt of a unary call, and each
	// attempt of a stream up to its commit point (see the package doc).
	Policy rebound.Policy
	// Breakers, when set, gives each endpoint its own circuit breaker; a
	// call refused by an open breaker fails at once without touching the
	// network, with status UNAVAILABLE.
	Breakers *rebound.Breakers
	// Budgets, when set, gives each endpoint its own retry budget.
	Budgets *rebound.Budgets
	// Hedgers, when set, gives each endpoint its own rebound.Hedger:
	// an idempotent unary or server-streaming call still unanswered after
	// the hedger's delay is sent again beside the first, and the first
	// answer wins (see "Hedged calls" in the package doc). Policy.Hedger,
	// when set instead, is one hedger for every endpoint. Calls that are
	// not idempotent, client and bidi streams are never hedged.
	Hedgers *rebound.Hedgers
	// Idempotent says which methods, by full name ("/pkg.Service/Method"),
	// may run twice without harm: their ABORTED, INTERNAL, UNKNOWN and
	// DEADLINE_EXCEEDED failures are retried. IdempotentMethods builds one
	// from a list. The call options Idempotent() and NonIdempotent()
	// override it for one call. Default nil: no method is idempotent, and
	// only failures that prove the call was not processed (UNAVAILABLE,
	// RESOURCE_EXHAUSTED with pushback) are retried.
	Idempotent func(fullMethod string) bool
	// MaxBufferedStream bounds the bytes of request messages (proto.Size)
	// a stream keeps to replay them on a new attempt before its commit
	// point. A message that would pass the bound commits the stream: it is
	// sent once and the stream is no longer retried. Zero means
	// DefaultMaxBufferedStream (1 MiB); negative means never buffer, so
	// that a stream is not retried once a message is sent.
	MaxBufferedStream int
	// Endpoint labels a call for events, logs, metrics, breakers and
	// budgets. Default: the full method name, "/pkg.Service/Method".
	Endpoint func(fullMethod string) string
}

// Client holds the interceptors of one configuration. It is safe for
// concurrent use.
type Client struct {
	cfg      Config
	bufLimit int  // bytes of stream messages kept for replay; < 0 none
	labelled bool // something needs the endpoint label
}

// New returns a Client, or an error naming the first invalid field of cfg.
func New(cfg Config) (*Client, error) {
	if err := cfg.Policy.Validate(); err != nil {
		var ce *rebound.ConfigError
		if errors.As(err, &ce) {
			return nil, &rebound.ConfigError{Field: "reboundgrpc.Config." + ce.Field, Problem: ce.Problem}
		}
		return nil, err
	}
	c := &Client{cfg: cfg, bufLimit: cfg.MaxBufferedStream}
	if c.bufLimit == 0 {
		c.bufLimit = DefaultMaxBufferedStream
	}
	c.labelled = cfg.Policy.Observer != nil || cfg.Breakers != nil || cfg.Budgets != nil || cfg.Hedgers != nil
	return c, nil
}

// DialOptions returns the Client's unary and stream interceptors as dial
// options (grpc.WithChainUnaryInterceptor, grpc.WithChainStreamInterceptor).
// Put them before other interceptors, such as tracing, for those to see
// each attempt.
func (c *Client) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(c.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(c.StreamClientInterceptor()),
	}
}

// IdempotentMethods returns a Config.Idempotent that reports true for the
// full method names given, such as "/pkg.Service/Get".
func IdempotentMethods(fullMethods ...string) func(fullMethod string) bool {
	set := make(map[string]struct{}, len(fullMethods))
	for _, m := range fullMethods {
		set[m] = struct{}{}
	}
	return func(m string) bool {
		_, ok := set[m]
		return ok
	}
}

// idempotencyOption is the call option of Idempotent and NonIdempotent.
type idempotencyOption struct {
	grpc.EmptyCallOption
	idempotent bool
}

// Idempotent returns a call option that declares the call idempotent,
// whatever Config.Idempotent says of its method.
func Idempotent() grpc.CallOption { return idempotencyOption{idempotent: true} }

// NonIdempotent returns a call option that declares the call not
// idempotent, whatever Config.Idempotent says of its method.
func NonIdempotent() grpc.CallOption { return idempotencyOption{idempotent: false} }

// idempotent reports whether the call may be repeated: the last
// Idempotent or NonIdempotent option, else Config.Idempotent.
func (c *Client) idempotent(method string, opts []grpc.CallOption) bool {
	for _, o := range slices.Backward(opts) {
		if io, ok := o.(idempotencyOption); ok {
			return io.idempotent
		}
	}
	return c.cfg.Idempotent != nil && c.cfg.Idempotent(method)
}

// label returns the endpoint label of method.
func (c *Client) label(method string) string {
	if c.cfg.Endpoint != nil {
		return c.cfg.Endpoint(method)
	}
	return method
}

// IdempotencyKey is the outgoing metadata key of an idempotency key, as
// idempotency/idempotencygrpc reads it on the server.
const IdempotencyKey = "idempotency-key"

// policy returns the policy of one call: NonIdempotent unless the call is
// declared idempotent, and the endpoint's label, breaker, budget and (for
// a call declared idempotent) hedger.
func (c *Client) policy(method string, opts []grpc.CallOption) rebound.Policy {
	p := c.cfg.Policy
	declared := c.idempotent(method, opts)
	p.NonIdempotent = !declared // a call with an idempotency key is retried all the same: see attemptError
	if c.labelled {
		label := c.label(method)
		p.Endpoint = label
		if c.cfg.Breakers != nil {
			p.Breaker = c.cfg.Breakers.Get(label)
		}
		if c.cfg.Budgets != nil {
			p.Budget = c.cfg.Budgets.Get(label)
		}
		if c.cfg.Hedgers != nil && declared {
			p.Hedger = c.cfg.Hedgers.Get(label)
		}
	}
	if !declared {
		// Not even with an idempotency key: the server would answer the
		// hedge ABORTED while the first call runs.
		p.Hedger = nil
	}
	return p
}

// hasIdempotencyKey reports whether the call's outgoing metadata carries
// an idempotency key: the server dedupes it, so it may be retried.
func hasIdempotencyKey(ctx context.Context) bool {
	md, ok := metadata.FromOutgoingContext(ctx)
	return ok && len(md.Get(IdempotencyKey)) > 0
}

// handOver turns rebound.Do's error into the call's: the *rebound.Error,
// labelled with the call's endpoint, whose chain always carries a gRPC
// status. Its Last is the last attempt's *StatusError when there was one;
// when the call ended without one (the caller's context was done before
// an attempt, or an open breaker refused the first), Last becomes a
// *StatusError with code CANCELED or DEADLINE_EXCEEDED, or UNAVAILABLE,
// that wraps the original Last.
func (c *Client) handOver(ctx context.Context, method string, err error) error {
	e, ok := err.(*rebound.Error)
	if !ok {
		return err
	}
	if e.Endpoint == "" {
		e.Endpoint = c.label(method) // computed only now, so that a success never pays for it
	}
	var gs interface{ GRPCStatus() *status.Status }
	if errors.As(e.Last, &gs) {
		return e
	}
	switch e.Reason {
	case rebound.ReasonCanceled:
		e.Last = &StatusError{st: status.FromContextError(ctx.Err()), err: e.Last, class: rebound.Classification{Class: rebound.Canceled}}
	case rebound.ReasonCircuitOpen:
		msg := "circuit open"
		if e.Last != nil {
			msg = e.Last.Error()
		}
		e.Last = &StatusError{st: status.New(codes.Unavailable, msg), err: e.Last, class: rebound.Classification{Class: rebound.Connection}}
	}
	return e
}
