// Package redis is an [idempotency.Store] on Redis, through
// github.com/redis/go-redis/v9. It lets every process of a service share
// idempotency keys: the HTTP middleware's, or [idempotency.Once]'s.
//
// Since this package is named redis too, import go-redis under another
// name:
//
//	import goredis "github.com/redis/go-redis/v9"
//
//	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
//	store, err := redis.New(client, redis.Config{})
//
// The Store is safe for concurrent use. The client stays the caller's:
// [Store.Close] does not close it.
//
// # Data layout
//
// Each idempotency key is one Redis hash, named Config.Prefix followed by
// the key ("rebound:idem:" by default), with these fields:
//
//	fingerprint   the request fingerprint given to Claim
//	state         "in_flight" or "completed"
//	token         the lease token of the holder
//	locked_until  end of the lease, Unix nanoseconds in decimal
//	expires_at    end of the key's life, Unix nanoseconds in decimal
//	status        response status code in decimal (once completed)
//	header        response header (once completed), binary: unsigned
//	              varints counting names and values, each name and value
//	              preceded by its length in bytes
//	body          response body, raw bytes (once completed)
//
// Redis strings are binary-safe, so bodies and header values that are not
// UTF-8 come back unchanged.
//
// # Atomicity
//
// Claim, Extend, Complete and Release are each one Lua script, sent with
// EVALSHA (and EVAL the first time a server has not seen it), so Redis
// runs each as one step that no other client can interleave with. Claim
// reads the hash and, when the key is absent, expired, or in flight past
// its lease, replaces it with a new in-flight record under the caller's
// token; otherwise it returns the record as it is. Extend, Complete and
// Release act only while the hash is in flight under the caller's token,
// and otherwise report [idempotency.ErrLeaseLost].
//
// # Time
//
// Every decision uses the times the caller passes in, never the Redis
// server's clock: a lease or a key ends at the exact nanosecond the caller
// asked for (the scripts compare instants as whole seconds and
// nanoseconds, since a Lua number cannot hold Unix nanoseconds exactly).
//
// Redis's own expiry only collects garbage. Claim and Complete set the
// hash to expire, by PEXPIRE, one minute after its time to live, relative
// to when Redis runs the script; the minute covers clock skew and time in
// transit, so Redis never deletes a record that the callers still see as
// alive. A record past its expires_at but not yet deleted by Redis is
// treated as absent. Reap therefore does nothing and returns 0.
//
// # Redis Cluster
//
// Each record is one key and each script touches only that key, so the
// Store works on Redis Cluster through a go-redis ClusterClient, with the
// records spread over the slots. A Prefix holding a hash tag, such as
// "{idem}:", puts them all in one slot instead.
package redis
