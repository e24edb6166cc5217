// Package idempotency makes repeated requests and redelivered messages
// harmless: the guide's idempotent interface, where a unique ID
// deduplicates.
//
// # Server middleware
//
// Middleware implements the IETF Idempotency-Key header
// (draft-ietf-httpapi-idempotency-key-header) for POST and PATCH by
// default: the first request with a key runs and its response is stored; a
// repeat gets the stored response with Idempotent-Replayed: true; a repeat
// while the first still runs gets 409; the same key with a different
// request gets 422; a missing (where required) or malformed key gets 400.
// Keys are scoped per caller, expire after 24 h (a Reaper deletes them from
// SQL stores; MemoryStore and Redis forget them by themselves), and are
// locked in the Store with a lease that a running request renews, so a
// crashed holder blocks its key for at most one lease. 5xx responses and
// responses above 1 MiB are not stored: the key is released and a retry
// runs the handler again. So is the key of a handler that panics; the panic
// itself goes on, unrecovered, to net/http or to the program's own
// recovery. Errors are application/problem+json.
//
// The package idempotencygrpc below this one does the same for gRPC unary
// calls, keyed by an idempotency-key metadata entry, on the same Stores.
//
// # Stores
//
// MemoryStore (tests, one process) is here; the SQLite, PostgreSQL and
// Redis stores are in the packages sqlite, postgres and redis below this
// one. Each is built by New(db, Config) (*Store, error), whose zero Config
// means the defaults, and has a Close that leaves the caller's database or
// client open; the SQL stores create their table with Migrate. All pass
// the conformance suite in idempotencytest: an atomic claim, fencing by
// lease token, lease expiry and takeover, TTL, and exactly one winner among
// 50 concurrent claims; and, on the SQL engines, MarkTx.
//
// # Expiry and shutdown
//
// The SQL stores keep an expired key's row until it is reaped: build a
// Reaper with NewReaper, Start it, and Stop it at shutdown. Stop cancels a
// reap in progress and returns once the Reaper's goroutine has ended; a
// stopped Reaper does not start again. MemoryStore and the Redis store
// forget expired keys by themselves and need none. Nothing else here runs
// a goroutine: the middleware's lease renewal ends with its request.
//
// # Consumers
//
// A message or webhook consumer records the message ID with MarkTx in the
// same database transaction as its effect: the mark and the effect commit
// or roll back together, so a redelivered message is skipped exactly when
// its effect is already there. Once does the same without a transaction
// (on any Store, typically Redis), at the price of a window between the
// effect and the mark.
package idempotency
