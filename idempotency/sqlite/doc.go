// Package sqlite is an [idempotency.Store] in a SQLite table, through
// database/sql. It is tested with the pure-Go driver modernc.org/sqlite
// (no cgo), which the caller imports and opens; the package itself imports
// no driver. The processes that share the database file share the keys.
//
//	store, err := sqlite.New(db, sqlite.Config{}) // table rebound_idempotency
//	...
//	err = store.Migrate(ctx) // at every start
//
// The database stays the caller's: [Store.Close] does not close it. The
// same database can hold the table of [idempotency.MarkTx], so that a
// consumer marks a message in the transaction of its effect.
//
// # Opening the database
//
// Open a file, in WAL mode and with a busy timeout:
//
//	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
//
// SQLite lets one connection write at a time. The busy timeout makes the
// others wait for the write lock, up to the timeout, instead of failing at
// once with SQLITE_BUSY; WAL lets readers go on while one writes. Every
// statement of the store is a single autocommit statement, which SQLite
// retries under the busy timeout, so the pool needs no limit on open
// connections: fifty goroutines claiming one key all get an answer.
//
// Two cautions, both SQLite's:
//
//   - Switching a new file to WAL takes a lock that the busy timeout does
//     not wait for, so connections that open together on a new file may
//     fail with SQLITE_BUSY. Open one connection first (db.Ping, or
//     Migrate) before going concurrent; the file then stays in WAL mode.
//   - A transaction of your own that reads before it writes (MarkTx after
//     a SELECT, say) cannot wait for the write lock: once it has read, a
//     concurrent writer makes its write fail with SQLITE_BUSY. Add
//     _txlock=immediate to the DSN so that BeginTx takes the write lock
//     first. The Store itself opens no such transaction.
//
// # Schema
//
// [Store.Migrate] creates one table (Config.Table, default
// "rebound_idempotency"), one row per key:
//
//	key          TEXT PRIMARY KEY
//	fingerprint  TEXT     the request's fingerprint, as claimed
//	state        INTEGER  1 in flight, 2 completed
//	token        TEXT     the lease holder's token
//	locked_until INTEGER  end of the in-flight lease, Unix nanoseconds
//	expires_at   INTEGER  end of the key's life, Unix nanoseconds (indexed)
//	status       INTEGER  the stored response, once completed:
//	header       TEXT       its http.Header as a JSON object,
//	body         BLOB       and its body, byte for byte
//
// The schema is embedded SQL, one versioned file per change, applied in an
// IMMEDIATE transaction and recorded in Config.Table+"_schema_version", so
// Migrate is safe to call at every start, from many processes at once. A
// table at a version newer than the package knows is left alone and
// reported.
//
// # Concurrency
//
// A Store is safe for concurrent use. Claim is one INSERT … ON CONFLICT DO
// UPDATE … WHERE … RETURNING statement that creates the key, or takes it
// over if it expired or its lease ended, and returns the new token; SQLite
// runs it under its single write lock, so exactly one of concurrent
// claimers of a key wins. A claim that loses reads the existing record with
// a second statement; should the key vanish in between (released, reaped),
// Claim tries again, a bounded number of times. Extend, Complete and
// Release are single statements fenced by key, token and the in-flight
// state: a holder whose lease was taken over changes nothing and gets
// [idempotency.ErrLeaseLost].
//
// # Time
//
// The store reads no clock: leases and expiries are computed from the now
// that the caller passes, and compared with it, never with SQLite's clock.
// Times are stored as Unix nanoseconds, exactly, and read back in UTC.
//
// An expired key may be claimed again at once, but its row stays in the
// table until [Store.Reap] deletes it: run an [idempotency.Reaper], which
// calls Reap periodically.
package sqlite
