// Package reboundhttp gives net/http clients the guide's recovery
// behaviour with no other code change: a Transport that classifies every
// attempt, retries what can succeed under a rebound.Policy, and hands back
// what net/http would.
//
//	client, err := reboundhttp.NewClient(reboundhttp.Config{})
//	resp, err := client.Get("https://api.example.com/v1/user/7")
//
// The package imports only the standard library and rebound.
//
// # What is retried
//
// Connection failures (refused, reset, timeouts, temporary DNS failures)
// and bad responses: 5xx except 501, 429 and 408 (DefaultClassifyResponse;
// Config.ClassifyResponse replaces it). Other 4xx and 501 are Logic errors
// and are never retried. A 429 or 503 with Retry-After waits what the server
// asked (delay-seconds or any HTTP-date form, read against the response's
// Date header) up to Policy.MaxRetryAfter (default 60 s); a longer request
// gives up at once and returns that response.
//
// GET, HEAD, OPTIONS, TRACE, PUT and DELETE are retried. POST, PATCH and
// other methods are retried only when the request carries an
// Idempotency-Key (or X-Idempotency-Key) header, which Config.IdempotencyKeys
// generates, or when the failure proves the request was not processed:
// connection refused, DNS failure, 429, 503, 408. (net/http itself replays
// HTTP/2 streams refused by the server or left unprocessed by a GOAWAY when
// the request has GetBody, which every request with a replayable body has
// here.)
//
// # Idempotency keys and 409
//
// A 409 Conflict is a Logic error, except in one case: a 409 with a
// Retry-After header answering a request that carries an Idempotency-Key.
// That is the IETF Idempotency-Key draft's answer to a request whose key's
// first request is still running, which is what a retry meets after an
// attempt timed out while the server went on working; the idempotency
// package's Middleware sends it with Retry-After: 1. It is a wait, not an
// error: the attempt counts toward Policy.MaxAttempts, the wait is capped
// by Policy.MaxRetryAfter like any Retry-After, and the next attempt gets
// the stored response of the first request (with Idempotent-Replayed:
// true) once it has completed. See Example (Idempotency).
//
// # The RoundTripper contract
//
// The caller's request is never modified: an attempt that needs anything
// different (its own timeout context, a replayed body, a generated
// Idempotency-Key) sends one copy carrying all of it. Bodies
// are replayed through GetBody; a body without GetBody is buffered up to
// Config.MaxBufferedBody (default 1 MiB), and a larger one is sent once.
// Every response the caller will not see is drained (at most 4 KiB) and
// closed, so connections are reused. When retrying stops on a response, that
// response is returned with a nil error and its body unread, just as
// without retries; when the last attempt got no response, RoundTrip returns
// the *rebound.Error saying why retrying stopped.
//
// # Timeouts
//
// Each attempt has its own timeout (Config.AttemptTimeout, default
// DefaultAttemptTimeout, 5 s),
// which bounds it like http.Client.Timeout bounds a request: from sending
// to the end of reading the body. An attempt that runs out of it is a
// Connection failure and is retried. The caller's context deadline bounds
// the whole call and ends it. To keep the happy path cheap, attempts whose
// context can never be canceled share one timer per 1/64 of the timeout, so
// each gets between the timeout and 1/32 more; an attempt whose context's
// deadline comes before its timeout would is bounded by that deadline alone,
// with no timer of its own.
//
// The timeout has a price: an attempt whose context is cancelable gets a
// timed context of its own (five allocations). Set Config.AttemptTimeout
// to NoAttemptTimeout to turn it off, for streaming responses or long
// downloads, or when the caller's context deadline is the only bound
// wanted.
//
// # Attempts
//
// The caller's request is never modified: an attempt sends it as it is
// when it can, else a copy carrying what differs (its timeout context, a
// replayed body, a generated key). With Config.Attempts, or a Base that
// reads attempts (reboundotel's transport), each attempt sends a copy
// whose context carries the attempt (one allocation of about 350 bytes for
// both): AttemptOf tells a RoundTripper in Config.Base
// which attempt it sends, counting from 1, and Attempt.Context is that
// context as the Transport made it, before any RoundTripper in Base added
// to it. A tracing RoundTripper, such as reboundotel's, reads the attempt
// number to set http.request.resend_count, and compares the spans of the
// two contexts to learn whether an instrumentation between it and the
// Transport (otelhttp) already started a span for the attempt.
//
// Config.Policy.AttemptTimeout keeps the meaning it has in rebound.Do: zero
// adds no timeout (Config.AttemptTimeout's still applies), and a positive
// value, from a policy shared with rebound.Do, is how long each attempt may
// take when Config.AttemptTimeout is zero or the same. A value that
// contradicts Config.AttemptTimeout is refused by NewTransport with a
// *rebound.ConfigError naming the field, rather than one of them guessed.
//
// # Labels, breakers and budgets
//
// Events carry an endpoint label: WithEndpoint on the request's context,
// else Config.Endpoint, else the method and host ("GET api.example.com").
// Use route templates, never raw URLs. Config.Breakers and Config.Budgets
// give each endpoint its own circuit breaker and retry budget; a request
// refused by an open breaker fails at once without touching the network.
// Errors carry URLs without user info or query.
//
// # Hedged requests
//
// Config.Hedgers gives each endpoint a rebound.Hedger: a request still
// waiting for its response after the hedger's delay (fixed, or the
// endpoint's live 90th percentile) is sent again beside the first, and the
// first good response is returned; hedges stay under 10% of requests by
// default. Only requests idempotent by their method (GET, HEAD, OPTIONS,
// TRACE, PUT, DELETE) with a replayable body are hedged; a POST is not,
// even with an Idempotency-Key, since the server would answer the hedge
// 409 while the first request runs. The losing requests are canceled and
// their responses drained and closed; the winner's body stays readable
// after RoundTrip returns (its context ends when the body is closed), the
// bug that hedgedhttp (#7), failsafe-go (#65) and resty (#1197) shipped.
// Each run of an attempt is sent with its own per-attempt timeout and
// counts as an attempt for AttemptOf (a hedge is a resend for tracing).
// Hedges are events (rebound.HedgeStarted, HedgeFinished,
// HedgeRejected) for the observers: rebound_hedges_total{endpoint,result}
// in reboundprom.
//
// # JSON
//
// GetJSON and DoJSON decode a 2xx response's JSON body into a value, as the
// guide's example does. They send the request through the client given, and
// its retries are those of the Transport in the client's chain of
// RoundTrippers, wherever it sits (c.Transport itself, or under a tracing or
// logging wrapper): that Transport is the only retry layer, and it also
// checks, inside each attempt, that the body is JSON, so that an empty or
// malformed body is retried like a 503. A client with no Transport in its
// chain (&http.Client{}, say) sends the request once; the error of a
// failure a Transport would have retried says so. A nil client means one
// with NewTransport(Config{}).
//
// # Errors
//
// When retrying stops without a response, RoundTrip returns the
// *rebound.Error: its Endpoint is the request's label, and its text names
// the URL once (http.Client adds it). The JSON helpers return the
// Transport's *rebound.Error when retrying stopped on a response too, with
// the *StatusError of that response as its Last. A StatusError keeps up to
// MaxStatusErrorBody (4 KiB) of the body, enough to decode a JSON error
// document; its text shows the first 64 bytes.
package reboundhttp
