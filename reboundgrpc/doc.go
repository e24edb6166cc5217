// Package reboundgrpc gives gRPC clients rebound's retries: interceptors
// that classify every attempt's status by rebound's classes and retry what
// can succeed under a rebound.Policy, and server interceptors that turn a
// handler's error into the status those clients (and grpc-go's own retry)
// understand.
//
//	client, err := reboundgrpc.New(reboundgrpc.Config{
//		Idempotent: reboundgrpc.IdempotentMethods("/shop.Catalog/GetItem"),
//	})
//	conn, err := grpc.NewClient(target, append(client.DialOptions(), creds)...)
//
// The package imports grpc-go, genproto's google.golang.org/genproto/googleapis/rpc
// (for RetryInfo), protobuf and, of rebound, only the core.
//
// # What is retried
//
// Every call runs under rebound.Do with Config.Policy: its attempt cap,
// backoff, budget, breaker, deadline and observer apply as they do to any
// call. The endpoint label is the full method name ("/pkg.Service/Method")
// unless Config.Endpoint says otherwise; Config.Breakers and Config.Budgets
// give each label its own breaker and budget, and a call refused by an open
// breaker fails at once with UNAVAILABLE. Observers get the events of
// rebound.Do, as with reboundhttp.
//
// Whether a method may run twice is not in its name, so nothing is
// idempotent by default: Config.Idempotent (IdempotentMethods builds one
// from a list) declares methods idempotent, and the call options
// Idempotent() and NonIdempotent() override it for one call. A call whose
// outgoing metadata carries an idempotency-key (IdempotencyKey; the server
// dedupes it, as idempotency/idempotencygrpc does) is retried as an
// idempotent one, though not hedged: the server would answer the hedge
// ABORTED while the first call runs. Failures that prove the server did
// not do the work are retried for every method; failures after which it
// may have are retried only for idempotent ones.
//
// # Classification
//
// Each attempt's status is classified (StatusError, a rebound.Classified):
//
//	code                          class       retried
//	UNAVAILABLE                   Connection  yes
//	DEADLINE_EXCEEDED, attempt's  Connection  idempotent methods only
//	DEADLINE_EXCEEDED, caller's   Canceled    no: the call ends (reason canceled)
//	RESOURCE_EXHAUSTED            Response    only with pushback (below)
//	ABORTED, INTERNAL, UNKNOWN    Response    idempotent methods only
//	CANCELED, caller's            Canceled    no: the call ends (reason canceled)
//	CANCELED, caller's ctx live   Connection  idempotent methods only (rebound.Do's rule)
//	INVALID_ARGUMENT, NOT_FOUND,  Logic       never
//	ALREADY_EXISTS,
//	PERMISSION_DENIED,
//	FAILED_PRECONDITION,
//	OUT_OF_RANGE, UNIMPLEMENTED,
//	DATA_LOSS, UNAUTHENTICATED
//
// A DEADLINE_EXCEEDED while the caller's context is live comes from
// Policy.AttemptTimeout (or the server's own deadline): the attempt is
// abandoned and, for an idempotent method, retried. One that comes from
// the caller's deadline ends the call, as rebound.Do ends any call whose
// context is done; the error says reason canceled and status.Code still
// reports DEADLINE_EXCEEDED. A CANCELED the caller did not cause (the
// server's, or a closing ClientConn) is what rebound.Do calls an attempt cut
// short below the caller: Connection, maybe processed.
//
// # Errors
//
// When a call fails, the caller gets the *rebound.Error saying why retrying
// stopped, whose Endpoint is the call's label, as reboundhttp's Transport
// returns when no response is left to return. Its Last is the last
// attempt's *StatusError, and its chain carries the status: status.Code,
// status.FromError and status.Convert report the server's code and
// details (FromError and Convert give the *rebound.Error's text as the
// message). When no attempt produced a status (the context was done before
// the first, or an open breaker refused it), Last is a *StatusError with
// CANCELED, DEADLINE_EXCEEDED or UNAVAILABLE wrapping the original, so that
// status.Code never reports UNKNOWN for them.
//
// # Pushback
//
// A server asks for a wait with the grpc-retry-pushback-ms trailer (gRFC
// A6) or a google.rpc.RetryInfo status detail. A non-negative wait is
// honoured like rebound.RetryAfter: the next attempt comes after it
// instead of the policy's backoff, and a wait above Policy.MaxRetryAfter
// (default 60 s) gives up with reason wait_too_long. A wait of zero retries
// at once (rebound.Do reads a zero RetryAfter as no wait asked, so it is
// passed as 1 ns). A negative or malformed pushback, more than one, or a
// negative RetryInfo delay, stops the retries. With both, the longer wait
// wins. A RetryInfo without a delay makes RESOURCE_EXHAUSTED retryable
// after the policy's backoff. Pushback makes RESOURCE_EXHAUSTED retryable
// and sets the wait of the other retryable codes; it never makes a Logic
// code retryable, nor ABORTED, INTERNAL or UNKNOWN of a non-idempotent
// method.
//
// Each retry carries the outgoing metadata grpc-previous-rpc-attempts:
// the number of attempts before it.
//
// # Reconnects
//
// When its server goes away, a grpc.ClientConn reconnects on its own
// backoff (1 s, then growing, with jitter; grpc.WithConnectParams sets
// it), and until it is connected again it fails calls at once with the
// last dial error, UNAVAILABLE. Retries that all fall inside that backoff
// fail the same way: a server back after 300 ms is still refused for
// about a second. Give the policy's retries longer than the channel's
// backoff (Backoff and MaxAttempts, or MaxElapsed), or shorten the
// channel's, so that a restart the retries should ride out is.
//
// # Timeouts
//
// Policy.AttemptTimeout bounds each attempt of a unary call. The caller's
// context deadline bounds the whole call (grpc-go sends each attempt the
// deadline that comes first). For a stream, the attempt timeout bounds an
// attempt up to its commit point only: a committed stream lives as long as
// the caller's context.
//
// # Streams
//
// A stream is retried only before its commit point (gRFC A6): until the
// first response header or message arrives. Until then, the request
// messages sent are kept, up to Config.MaxBufferedStream bytes (proto.Size;
// default 1 MiB), and a new attempt replays them in order, and CloseSend if
// the caller called it. The stream commits when the header or the first
// message arrives, when the stream ends with OK, or when a message is sent
// that cannot be kept (it would pass the limit, the limit is negative, or
// it is not a proto.Message); from then on the stream is the last
// attempt's, and its errors reach the caller unretried, as grpc-go's. A
// failure to open the stream is retried too.
//
// The retry of a failed attempt happens in RecvMsg (or NewStream): SendMsg
// on an attempt that failed keeps the message for the next and returns
// nil. Header before the commit point waits for the current attempt's
// header; when that attempt ends without one, it returns nil, nil, as
// grpc-go does, and the next RecvMsg reports or retries the failure. The
// messages kept are the caller's: as grpc-go says, a message must not be
// modified after SendMsg.
//
// A stream is one rebound.Do call, run on a goroutine of its own from
// NewStream until the commit point or until retrying stops: its events end
// with the commit point (success) or with the error RecvMsg then returns,
// the *rebound.Error. Every abandoned attempt's stream is canceled.
//
// # Hedged calls
//
// Config.Hedgers gives each endpoint a rebound.Hedger (Policy.Hedger, one
// for all): an idempotent call still unanswered after the hedger's delay
// (fixed, or the method's live 90th percentile) is sent again beside the
// first, within the hedger's budget (10% of attempts by default), and the
// first answer wins; the other is canceled. Only calls declared idempotent
// are hedged, and of streams only server-streaming ones (their one request
// is kept and sent to each run; one larger than MaxBufferedStream is not
// sent twice at once, only retried). Unary runs each get their own reply
// message, header, trailer and peer; the winner's are copied into the
// caller's (grpc.Header, grpc.Trailer, grpc.Peer options). A hedged server
// stream opens its streams at the first RecvMsg or Header, and commits on
// the first response header (or an OK end without one); the winner stays
// readable until it ends, the others are canceled. Each run carries
// grpc-previous-rpc-attempts, as gRFC A6's hedging does. grpc-go itself
// has no hedging (grpc-go#2823).
//
// # Server interceptors
//
// UnaryServerInterceptor and StreamServerInterceptor (functions: they need
// no configuration) pass a handler's error that already carries a gRPC
// status unchanged, and turn any other into a status by rebound.Classify
// (ToStatus):
//
//	error                                  code
//	rebound.RetryAfter with a wait > 0     RESOURCE_EXHAUSTED, with RetryInfo and pushback
//	Transient mark, Connection, Response   UNAVAILABLE
//	Logic (rebound.Permanent, …)           FAILED_PRECONDITION
//	Canceled                               DEADLINE_EXCEEDED for context.DeadlineExceeded, else CANCELED
//	Unknown                                UNKNOWN, as grpc-go sends for a plain error
//
// A RetryAfter wait is sent twice: as a google.rpc.RetryInfo detail with
// the exact wait, and as the grpc-retry-pushback-ms trailer, rounded up to
// the millisecond, which grpc-go's own retry reads (when the service
// config lists RESOURCE_EXHAUSTED among its retryable codes). To ask for a
// wait with a status of your own, add the RetryInfo detail and the trailer
// yourself.
//
// # Compared with grpc-go's retry and go-grpc-middleware
//
// grpc-go retries by a service config's retryPolicy: it caps maxAttempts
// at 5 whatever the config says (grpc-go#4615), ignores a policy it finds
// invalid without telling (grpc-go#7446), has no hedging (grpc-go#2823;
// this package hedges, see above),
// and has only a per-channel throttle, no per-endpoint breaker or budget,
// and no events. It retries the codes listed, for every method alike. This
// package's retries sit above grpc-go's, in an interceptor: leave the
// service config's retryPolicy unset (or dial with grpc.WithDisableRetry)
// so that the two do not multiply attempts. grpc-go's transparent retry of
// streams that never reached the server still happens below, unseen.
//
// go-grpc-middleware/v2's retry interceptor is off by default (zero
// retries until WithMax sets them, per client or per call), retries unary
// and server-streaming calls only, on a list of codes (UNAVAILABLE and
// RESOURCE_EXHAUSTED by default) for every method alike, with waits from
// its own backoff function. Here client, server and bidirectional streams
// are retried up to their commit point, idempotency decides the ambiguous
// codes, the server's pushback sets the wait, and the classes, budgets,
// breakers and events are those of every other rebound call.
package reboundgrpc
