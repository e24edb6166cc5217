// Package idempotencygrpc dedupes unary gRPC calls by an idempotency key,
// through the same Stores as idempotency.Middleware: the gRPC form of the
// IETF Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header).
//
// A client sends the key as the "idempotency-key" metadata entry; the
// first call with a key runs, and its outcome is stored, scoped by the
// caller's Principal, for TTL (24 h); a repeat gets the stored outcome
// with the header metadata "idempotent-replayed: true". Install it after
// authentication:
//
//	in, err := idempotencygrpc.New(idempotencygrpc.Config{Store: store})
//	…
//	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(auth, in.Unary()))
//
// # Outcomes
//
// The gRPC counterparts of the HTTP middleware's answers:
//
//	call                                   answer                                      HTTP middleware
//	-------------------------------------  ------------------------------------------  ---------------
//	method left out by Config.Methods      the handler, untouched                      other methods
//	no key, not Required                   the handler, untouched                      no key
//	no key, Required                       INVALID_ARGUMENT                            400
//	key repeated, empty, too long, not     INVALID_ARGUMENT saying which rule          400
//	  printable ASCII, badly quoted
//	response type not in protoregistry     INTERNAL naming the method (not run)        —
//	Fingerprint fails                      its status, else INTERNAL (not run)         —
//	store fails on Claim                   UNAVAILABLE (not run: retry, same key)      503
//	first call with the key                the handler, under a lease renewed
//	                                       every Lease/3
//	  → OK, response ≤ MaxStoredResponse   stored, replayed                            2xx-4xx stored
//	  → OK, larger response                sent, not stored: key released              > 1 MiB
//	  → INVALID_ARGUMENT, NOT_FOUND,       stored with its message and details,        4xx stored
//	    ALREADY_EXISTS, PERMISSION_DENIED,   replayed
//	    FAILED_PRECONDITION, OUT_OF_RANGE,
//	    UNIMPLEMENTED, UNAUTHENTICATED
//	  → any other code (UNAVAILABLE,       sent, not stored: key released, so that    5xx
//	    INTERNAL, UNKNOWN, ABORTED,          a retry runs the handler again
//	    DEADLINE_EXCEEDED, CANCELED,
//	    RESOURCE_EXHAUSTED, DATA_LOSS)
//	  → panic                              key released; the panic goes on            panic
//	                                         unrecovered
//	repeat while the first runs            ABORTED, google.rpc.RetryInfo of 1 s,       409,
//	                                         trailer grpc-retry-pushback-ms: 1000        Retry-After: 1
//	same key, different request            INVALID_ARGUMENT ("key reused")             422
//	repeat after the first completed       the stored outcome, with header metadata    stored response,
//	                                         idempotent-replayed: true                   Idempotent-Replayed
//
// The key follows idempotency.ParseKey's rules, so that a key passed on by
// an HTTP gateway means the same thing: exactly one entry, non-empty,
// printable ASCII, at most MaxKeyLength (255) bytes, either bare (without
// quotes or backslashes) or a whole Structured Field string ("…", with \"
// and \\ escapes), whose content is the key.
//
// Two calls are the same request when their fingerprints are equal; the
// default, DefaultFingerprint, digests the full method name and the
// request's deterministic protobuf encoding. A request that is not a
// proto.Message (a server with a codec of its own) cannot be fingerprinted
// by default: such calls are refused with INTERNAL, a fault of the
// server's configuration rather than of the call, until Config.Fingerprint
// is set. A custom Fingerprint may refuse a call with a code of its own by
// returning a status error.
//
// # Replaying a response
//
// A stored OK response is a marshalled message; replaying it needs its Go
// type, found from the full method name through protoregistry (the
// service's descriptor, the method's output, the output's message type).
// Generated code registers both when its package is linked. A method whose
// response type is not registered is refused with INTERNAL at its first
// call with a key, before it runs, rather than run once and never replayed.
//
// # Encoding
//
// An outcome is stored as an idempotency.Response:
//
//	Status  int(codes.Code): 0 (OK) for a response, else the error's code
//	Body    OK: the response message, proto.Marshal'd;
//	        else: the google.rpc.Status (code, message, details), proto.Marshal'd
//	Header  nil
//
// The handler's own header and trailer metadata are not stored, so a
// replay carries only idempotent-replayed: capturing them would mean
// wrapping the call's grpc.ServerTransportStream, which breaks
// grpc.SetSendCompressor and grpc.ClientSupportedCompressors for the
// handler. Keys are stored as "grpc:" + principal + ":" + key, so a Store
// shared with idempotency.Middleware keeps the two protocols' keys apart.
//
// # Store failures
//
// If the Store fails to claim a key, the call is refused with UNAVAILABLE
// rather than run without protection (or with the call's own
// DEADLINE_EXCEEDED or CANCELED when its context ended first). Failures to
// store the outcome, release the key or renew its lease after the handler
// ran are logged to Config.Logger; the caller gets the handler's answer.
//
// Only unary calls are intercepted: a stream has no single response to
// store.
package idempotencygrpc
