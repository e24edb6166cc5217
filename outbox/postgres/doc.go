// Package postgres is an [outbox.Store] in a PostgreSQL table, through a
// [pgxpool.Pool]. Any number of relays, in any number of processes, share
// one database: each message is delivered by one relay at a time.
//
// # Schema
//
// [Store.Migrate] creates the table [Table] ("rebound_outbox"), one row per
// message, with the columns that [outbox.Enqueue] and [Enqueue] write:
//
//	seq             BIGSERIAL PRIMARY KEY   enqueue order
//	id              TEXT NOT NULL UNIQUE
//	destination     TEXT NOT NULL
//	payload         BYTEA NOT NULL
//	headers         TEXT NULL               a JSON object, NULL when none
//	ordering_key    TEXT NOT NULL           '' when none
//	state           SMALLINT NOT NULL       1 pending, 2 delivering, 3 sent,
//	                                        4 retrying, 5 dead
//	attempt         INTEGER NOT NULL        attempts started (claims)
//	created_at      BIGINT NOT NULL         Unix nanoseconds, as every time
//	next_attempt_at BIGINT NOT NULL
//	lease_until     BIGINT NOT NULL         0 when not leased
//	sent_at         BIGINT NOT NULL         0 until sent
//	dead_reason     TEXT NOT NULL
//	last_error      TEXT NOT NULL           at most MaxErrorBytes
//	last_status     INTEGER NOT NULL
//	trace_parent    TEXT NOT NULL           W3C trace context of the enqueue,
//	trace_state     TEXT NOT NULL           '' when untraced (version 4)
//	done            BOOLEAN                 generated: sent or dead
//
// with partial indexes for Claim (unfinished messages in enqueue order,
// the unfinished messages of each ordering key), an index by destination
// for List, one of sent messages for Prune,
// and a trigger that notifies the channel [Channel] after every statement
// that inserts messages. The partial indexes read done, not state, and the
// table leaves half of each page free (fillfactor 50), so that a claim, a
// retry or a release changes its row in place without touching an index
// (a HOT update); only a message's end, sent or dead, writes index
// entries.
//
// The tables live in the first schema of the connections' search_path;
// to keep the outbox elsewhere, set search_path in the pool's
// ConnConfig.RuntimeParams (and in the database/sql connections that
// Enqueue writes through). The schema is embedded SQL, one versioned file
// per change, applied in a transaction and recorded in [VersionTable].
// Migrate is safe to call at every start, from many processes at once: an
// advisory lock serialises them. An outbox at a version newer than the
// package knows is left alone and reported.
//
// # Enqueue
//
// Messages are written in the caller's transaction, so that they exist
// only if the business change they announce commits: through
// database/sql and pgx's stdlib driver with [outbox.Enqueue], or in a
// [pgx.Tx] with this package's [Enqueue], which writes them in one statement
// (given a pool or a connection instead, it commits them at once, for a
// producer with no business transaction of its own).
//
// # Claiming
//
// [Store.Claim] is one statement: it selects the due messages, oldest
// first, with FOR UPDATE SKIP LOCKED, and leases them (delivering, attempt
// plus one, lease until now+lease) in the same UPDATE. Concurrent claimers
// pass over the rows another claimer has locked instead of waiting for
// them, so relays never block each other and never share a message. A
// message with an ordering key is due only while no earlier message of its
// key is pending, retrying or delivering; a dead one no longer holds its
// key back.
//
// Claim reads the unfinished messages in enqueue order until it has its
// limit: its cost grows with the messages that are unfinished but not yet
// due ahead of the due ones (a long outage of a destination, whose
// messages wait out their backoff), not with the sent history. Run Prune
// periodically all the same: Stats counts every row.
//
// Every later change to a message in flight (Extend, MarkSent, MarkRetry,
// MarkDead, Release) is one UPDATE fenced by the message's ID, the attempt
// that claimed it and the delivering state. A relay whose lease expired,
// and whose message another relay claimed since, changes nothing and gets
// [outbox.ErrStale].
//
// A Store is an [outbox.BatchCompleter]: [Store.MarkSentBatch] records
// many deliveries in one statement, UPDATE … FROM unnest(IDs, attempts,
// times), fenced like MarkSent, and returns the rows it changed; the
// others are stale. A relay records its deliveries that way, one commit
// per batch rather than per message.
//
// # Waking
//
// A Store is an [outbox.Waker]. [Store.Wait] LISTENs on [Channel] on a
// connection of its own and returns when a transaction that enqueued
// messages commits, so a relay delivers at once instead of at its next
// poll; PostgreSQL sends nothing for a transaction that rolls back.
// Notifications are only a hint: relays keep polling, and a lost
// notification (a broken connection, a restart) delays delivery by at
// most a poll interval. Every committing enqueue takes PostgreSQL's
// notification queue lock briefly at commit, which serialises those
// commits database-wide.
//
// # Pools
//
// The store takes its connections from the pool it is given: one is
// taken out of it for as long as Wait listens, and a relay uses a few
// more (its claims, its batched outcomes, the lease renewals and retries
// of deliveries in flight). Sharing the application's pool is fine until
// the application can exhaust it: a burst of transactions that hold every
// connection (slow commits queued on the notification lock, say) makes
// the relay's claims wait behind them, and messages wait with them. In a
// benchmark where 64 producers shared 32 connections with the relay, the
// first second's claims waited up to 250 ms for a connection. Give the
// store a pool of its own when the application's can run dry; 4 to 8
// connections serve the default 16 workers.
//
// # Time
//
// The store reads no clock: leases, due times and pruning compare the
// times the callers pass. Relays on several machines should have their
// clocks in step to well within the lease. Times are read back in UTC.
//
// # Concurrency and shutdown
//
// A Store is safe for concurrent use. [Store.Close] ends a Wait in
// progress and closes its connection; it does not close the pool, which
// stays the caller's.
package postgres
