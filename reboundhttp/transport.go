package reboundhttp

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/rebound-go/rebound"
)

// DefaultAttemptTimeout is the per-attempt timeout of a zero
// Config.AttemptTimeout: the guide's 5 s request timeout.
const DefaultAttemptTimeout = 5 * time.Second

// NoAttemptTimeout, as Config.AttemptTimeout, turns the per-attempt timeout
// off: attempts are then bounded only by the request's context, as with a
// plain http.Client. Use it for streaming or long downloads, whose bodies
// may take longer to read than any fixed bound. Any negative value means
// the same.
const NoAttemptTimeout time.Duration = -1

// Config configures a Transport. The zero value means every default.
type Config struct {
	// Base sends each attempt. Default http.DefaultTransport.
	Base http.RoundTripper
	// Attempts puts each attempt in its request's context, for AttemptOf:
	// what a tracing RoundTripper in Base reads (reboundotel's sets
	// http.request.resend_count from it). It is on by itself when Base
	// says it reads attempts, with a method ReadsAttempts() bool that
	// returns true, as reboundotel's transport does; set it when Base
	// wraps such a transport (otelhttp around reboundotel's). It costs an
	// allocation per attempt where the attempt would otherwise send the
	// caller's own request (no timeout of its own, nothing replayed).
	Attempts bool
	// AttemptTimeout bounds each attempt the way http.Client.Timeout
	// bounds a request: from sending it to the end of reading the response
	// body. Zero means DefaultAttemptTimeout (5 s); NoAttemptTimeout (any
	// negative value) means none. Each attempt gets between the timeout
	// and 1/32 more. An attempt that runs out of it is a Connection failure
	// and is retried; the caller's context deadline ends the call instead.
	AttemptTimeout time.Duration
	// Policy is the retry policy of every request. Its zero value means
	// rebound's defaults (3 attempts, exponential backoff 1 s → 10 s with
	// full jitter, retry Connection and Response failures, honour
	// Retry-After up to 60 s). Policy.Endpoint, Breaker, Budget and
	// NonIdempotent are set per request by the Transport.
	//
	// Policy.AttemptTimeout means what it means in rebound.Do: zero adds
	// no timeout (AttemptTimeout above still applies), and a positive
	// value is the per-attempt timeout when AttemptTimeout is zero or the
	// same; a different value is a configuration error. Either way the
	// Transport times its attempts itself, to the end of the response body.
	Policy rebound.Policy
	// Breakers, when set, gives each endpoint its own circuit breaker; a
	// request refused by an open breaker fails at once without touching
	// the network.
	Breakers *rebound.Breakers
	// Budgets, when set, gives each endpoint its own retry budget.
	Budgets *rebound.Budgets
	// Hedgers, when set, gives each endpoint its own rebound.Hedger:
	// a request still waiting for its response after the hedger's delay
	// is sent again beside the first, and the first good response wins
	// (see "Hedged requests" in the package doc). Only requests whose
	// method is idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) and
	// whose body can be replayed are hedged. Policy.Hedger, when set
	// instead, is one hedger for every endpoint.
	Hedgers *rebound.Hedgers
	// Endpoint labels a request for events, logs, metrics, breakers and
	// budgets. WithEndpoint on the request's context takes precedence.
	// Default DefaultEndpoint: method and host.
	Endpoint func(*http.Request) string
	// ClassifyResponse judges responses. Default DefaultClassifyResponse.
	ClassifyResponse ClassifyResponse
	// MaxBufferedBody is the largest request body without GetBody that is
	// held in memory to be replayed; a larger body is sent once and never
	// retried. Default 1 MiB; negative means never buffer.
	MaxBufferedBody int64
	// IdempotencyKeys, when set, gives every POST or PATCH request without
	// an Idempotency-Key header a random one, identical on each of its
	// attempts, so that it may be retried.
	IdempotencyKeys bool
}

// Transport is an http.RoundTripper that classifies each attempt's outcome
// and retries what can succeed, under a rebound policy.
//
//   - Responses are judged by ClassifyResponse: by default 5xx (except 501),
//     429 and 408 are retried, other 4xx and 501 never are.
//   - GET, HEAD, OPTIONS, TRACE, PUT and DELETE are retried; POST, PATCH and
//     other methods only when the request carries an Idempotency-Key (or
//     X-Idempotency-Key) header, or when the failure proves the request was
//     not sent (connection refused, DNS failure) or not processed (429,
//     503, 408).
//   - The request is never modified; an attempt sends it as it is when
//     nothing differs, else a copy with its timeout context, the replayed
//     body or the generated key (and the attempt, see Config.Attempts and
//     AttemptOf). Bodies are
//     replayed through GetBody; a body without GetBody is buffered up to
//     MaxBufferedBody.
//   - A response that is not returned is drained (at most 4 KiB) and closed,
//     so its connection can be reused.
//   - When retrying stops on a response (a 400, a 503 with a Retry-After
//     above the policy's cap, the last of the attempts), that response is
//     returned with a nil error and an unread body, as net/http would. When
//     the last attempt got no response, the error is the *rebound.Error,
//     whose Endpoint is the request's label.
//   - A 409 with Retry-After to a request with an Idempotency-Key is a
//     wait (see DefaultClassifyResponse).
//
// A Transport is safe for concurrent use.
type Transport struct {
	cfg      Config
	base     http.RoundTripper
	classify ClassifyResponse
	timer    *attemptTimer
	labelled bool // something needs the endpoint label
	attempts bool // put each attempt in its request's context (Config.Attempts)
}

// NewTransport returns a Transport, or an error naming the first invalid
// field of cfg.
func NewTransport(cfg Config) (*Transport, error) {
	if p := cfg.Policy.AttemptTimeout; p != 0 {
		// A policy shared with rebound.Do keeps its meaning: each attempt
		// gets that long. Two different values would be a guess.
		switch {
		case p > 0 && (cfg.AttemptTimeout == 0 || cfg.AttemptTimeout == p):
			cfg.AttemptTimeout = p
		default:
			return nil, &rebound.ConfigError{Field: "reboundhttp.Config.Policy.AttemptTimeout", Problem: "want 0, or the same as Config.AttemptTimeout (" + cfg.AttemptTimeout.String() + "), got " + p.String() + ": set Config.AttemptTimeout, which bounds each attempt to the end of its response body"}
		}
		cfg.Policy.AttemptTimeout = 0 // the Transport times its attempts itself
	}
	d := cfg.AttemptTimeout
	switch {
	case d == 0:
		d = DefaultAttemptTimeout
	case d < 0:
		d = 0 // no per-attempt timeout
	}
	if err := cfg.Policy.Validate(); err != nil {
		var ce *rebound.ConfigError
		if errors.As(err, &ce) {
			return nil, &rebound.ConfigError{Field: "reboundhttp.Config." + ce.Field, Problem: ce.Problem}
		}
		return nil, err
	}
	t := &Transport{cfg: cfg, base: cfg.Base, classify: cfg.ClassifyResponse, attempts: cfg.Attempts}
	if r, ok := cfg.Base.(interface{ ReadsAttempts() bool }); ok && r.ReadsAttempts() {
		t.attempts = true
	}
	if t.base == nil {
		t.base = http.DefaultTransport
	}
	if t.classify == nil {
		t.classify = DefaultClassifyResponse
	}
	if t.cfg.MaxBufferedBody == 0 {
		t.cfg.MaxBufferedBody = DefaultMaxBufferedBody
	}
	if d > 0 {
		t.timer = newAttemptTimer(d)
	}
	t.labelled = cfg.Policy.Observer != nil || cfg.Breakers != nil || cfg.Budgets != nil || cfg.Hedgers != nil
	return t, nil
}

// NewClient returns an *http.Client whose transport is NewTransport(cfg).
func NewClient(cfg Config) (*http.Client, error) {
	t, err := NewTransport(cfg)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: t}, nil
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.roundTrip(req, jsonCallFrom(req.Context()))
}

// label returns the endpoint label of req.
func (t *Transport) label(req *http.Request) string {
	if label, ok := EndpointFrom(req.Context()); ok {
		return label
	}
	if t.cfg.Endpoint != nil {
		return t.cfg.Endpoint(req)
	}
	return DefaultEndpoint(req)
}

// safeMethod reports whether repeating a request with this method cannot do
// its effect twice (RFC 9110 §9.2.2).
func safeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete, "":
		return true
	}
	return false
}

func hasIdempotencyKey(h http.Header) bool {
	if _, ok := h["Idempotency-Key"]; ok {
		return true
	}
	_, ok := h["X-Idempotency-Key"]
	return ok
}

// doneBody releases an attempt's own timeout context once its body is
// closed.
type doneBody struct {
	io.ReadCloser
	done func()
}

func (b *doneBody) Close() error {
	err := b.ReadCloser.Close()
	if b.done != nil {
		b.done()
		b.done = nil
	}
	return err
}

func newIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
