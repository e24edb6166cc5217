// Package cli holds the commands of the rebound program. Each command is a
// function of a context, its arguments and an IO, returning the process
// exit code; cmd/rebound only wires them to the operating system.
//
// # rebound call
//
// Call is a curl-like HTTP client for scripts and cron jobs, built on
// reboundhttp: it sends one request, retries what can succeed (connection
// errors, 5xx except 501, 429, 408, and with --json a 2xx whose body is not
// JSON) with exponential backoff and full jitter from 1 s up to 10 s, and
// never retries what cannot (other 4xx, 501). A POST, a PATCH or another
// method that is not idempotent is retried only after failures that prove
// it was not processed (connection refused, 429, 503, 408), unless it
// carries an Idempotency-Key: --idempotency-key KEY sends one, and
// --idempotency-key auto gives a POST or PATCH a random one, the same on
// every attempt.
//
// The response body goes to stdout, whatever its status. Each failed
// attempt, its reason and the wait before the next go to stderr as plain
// lines, or on a terminal as one line rewritten in place:
//
//	rebound: attempt 1/3 GET https://api.example.com/v1/user: 503 Service Unavailable (response); retrying in 1.2s
//	rebound: attempt 2/3 GET https://api.example.com/v1/user: 503 Service Unavailable (response); retrying in 1.7s
//	rebound: attempt 3/3 GET https://api.example.com/v1/user: 503 Service Unavailable (response)
//	rebound: gave up after 3 attempts in 3.4s: exhausted (last: 503)
//
// URLs are shown without user info or query. A first attempt that succeeds
// writes nothing to stderr.
//
// --timeout bounds each attempt, from sending the request to the end of
// reading its body; an attempt that runs out of it is a connection error
// and is retried. --max-time bounds the whole call, body included: no wait
// starts that would end after it, and an attempt it interrupts counts as
// timed out.
//
// # Exit codes
//
// The exit code says how the call ended, judged by the last attempt:
//
//	code  outcome
//	0     success: a 1xx, 2xx or 3xx response (with --json, a 2xx must have a JSON body)
//	1     error: a body file or stdin could not be read, stdout could not be
//	      written, too many redirects, a failure rebound does not classify
//	2     usage: an unknown flag, a bad flag value, a missing or non-HTTP URL
//	3     logic error, never retried: a 4xx other than 408 and 429, a 501,
//	      a host that does not exist, an untrusted certificate; the body is on stdout
//	4     gave up after response errors: the last attempt got a 5xx, 429 or 408,
//	      or with --json a 2xx whose body is not JSON; the body is on stdout
//	5     gave up after connection errors: refused, reset, timed out, a
//	      temporary DNS failure, a body cut short
//	6     canceled: the context passed to Call was canceled, such as by SIGINT
//
// Codes 4 and 5 stand for every way of giving up on a retryable failure:
// the attempts ran out, --max-time left no room for another attempt, the
// server asked for a Retry-After above --max-wait, or the request was a
// POST without an idempotency key that may have been processed. --max-time
// has no code of its own: running out of it gives 4 or 5 by what failed
// last, and 5 when it interrupted an attempt.
//
// # rebound enqueue and rebound dead
//
// Enqueue and Dead are clients of a relay's JSON API (internal/api), at
// --server (default $REBOUND_SERVER, else http://127.0.0.1:8080) with the
// bearer token --token (default $REBOUND_TOKEN), which no message shows.
// Each request is sent through reboundhttp with up to 3 attempts.
//
//	rebound enqueue --destination NAME --data JSON    prints the new message's ID
//	rebound dead list [--destination D] [--limit N]   a table, or JSON lines with --json
//	rebound dead replay ID... | --all | --destination D
//	rebound dead discard ID...
//
// Enqueue always sends an Idempotency-Key, random or --idempotency-key
// KEY, the same on every attempt: the API answers a repeated key with the
// first answer, so a retried enqueue never enqueues twice, and running the
// command again with the same key and flags is safe. --data must be JSON
// and is checked before anything is sent; --data-binary sends any bytes.
//
// An error answer of the API is one line on stderr, with the problem's
// title, field and detail:
//
//	rebound enqueue: 422 Unknown destination (field destination): No destination is configured as "x", ...
//
// Their exit codes are those of Call, read for an API:
//
//	code  outcome
//	0     success
//	1     error: a payload file or stdin could not be read, an answer that
//	      is not the JSON expected, stdout could not be written
//	2     usage: an unknown flag, a bad flag value, a missing flag or
//	      argument, a --data that is not JSON
//	3     the API refused the request (a 4xx other than 408 and 429): a bad
//	      or missing token (401, 403), an unknown message (404), a message
//	      that is not dead (409), an invalid field (400, 422)
//	4     gave up after server errors: the last attempt got a 5xx, 429 or 408
//	5     the API could not be reached: refused, reset, timed out, an
//	      unknown host, a TLS failure
//	6     canceled
//
// dead replay and dead discard go on with the other IDs after an ID the
// API refuses, and exit with 3 at the end; any other failure stops them.
package cli
