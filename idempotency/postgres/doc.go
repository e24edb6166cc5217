// Package postgres is an [idempotency.Store] in a PostgreSQL table, through a
// [pgxpool.Pool]. Every process sharing the database shares the keys, so a
// key claimed by one replica is in flight for all of them.
//
//	store, err := postgres.New(pool, postgres.Config{}) // table rebound_idempotency
//	...
//	err = store.Migrate(ctx) // at every start
//
// The pool stays the caller's: [Store.Close] does not close it.
//
// # Schema
//
// [Store.Migrate] creates one table (Config.Table, default
// "rebound_idempotency"), one row per key:
//
//	key          TEXT PRIMARY KEY
//	fingerprint  TEXT         the request's fingerprint, as claimed
//	state        SMALLINT     1 in flight, 2 completed
//	token        TEXT         the lease holder's token
//	locked_until TIMESTAMPTZ  end of the in-flight lease
//	expires_at   TIMESTAMPTZ  end of the key's life (indexed, for Reap)
//	status       INTEGER      the stored response, once completed:
//	header       JSONB          its http.Header as a JSON object,
//	body         BYTEA          and its body, byte for byte
//
// The schema is embedded SQL, one versioned file per change, applied in a
// transaction and recorded in Config.Table+"_schema_version". Migrate is
// safe to call at every start, from many processes at once: an advisory
// lock serialises them. A table at a version newer than the package knows
// is left alone and reported.
//
// # Concurrency
//
// A Store is safe for concurrent use. Claim is one INSERT … ON CONFLICT DO
// UPDATE … WHERE statement that creates the key, or takes it over if it
// expired or its lease ended, and returns the new token; PostgreSQL makes
// concurrent claimers of one key wait for each other, so exactly one wins.
// A claim that loses reads the existing record with a second statement;
// should the key vanish in between (released, reaped), Claim tries again, a
// bounded number of times. Extend, Complete and Release are single
// statements fenced by key, token and the in-flight state: a holder whose
// lease was taken over changes nothing and gets [idempotency.ErrLeaseLost].
//
// # Time
//
// The store reads no clock: leases and expiries are computed from the now
// that the caller passes, and compared with it, never with the database's
// clock. Callers on several machines should have their clocks in step to
// well within the lease. Times are stored to the microsecond, PostgreSQL's
// precision, and read back in UTC.
//
// An expired key may be claimed again at once, but its row stays in the
// table until [Store.Reap] deletes it: run an [idempotency.Reaper], which
// calls Reap periodically, as the package example does.
package postgres
