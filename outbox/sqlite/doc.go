// Package sqlite is an [outbox.Store] in a SQLite database, through
// database/sql and the pure-Go driver modernc.org/sqlite (no cgo), which
// [Open] uses. Messages are enqueued with [outbox.Enqueue] in the caller's
// own *sql.Tx on the same database, so that they commit or roll back with
// the business change they announce:
//
//	db, err := sqlite.Open("shop.db")
//	store, err := sqlite.New(db, sqlite.Config{})
//	err = store.Migrate(ctx) // once, at every start: creates the table
//
// # Opening the database
//
// [Open] opens a file in WAL mode, with a busy timeout, synchronous NORMAL
// and immediate transactions. A database opened another way (another
// driver, or more options) needs the same; with modernc.org/sqlite:
//
//	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
//
// [New] checks the two settings it depends on, journal_mode and
// busy_timeout, and returns a [*PragmaError] naming the one that is wrong:
// with a plain sql.Open("sqlite", path), most of 200 concurrent enqueues
// fail at once with SQLITE_BUSY.
//
// SQLite lets one connection write at a time. The busy timeout makes the
// others wait for the write lock, up to the timeout, instead of failing at
// once with SQLITE_BUSY; WAL lets readers go on while one writes. A Store
// takes its own writes in turn (a claim, a batch of outcomes, a replay):
// they queue in the process, in order, rather than in SQLite's busy
// handler, which sleeps between tries even once the lock is free. Only
// writers outside the Store (Enqueue's transactions, other processes)
// meet the busy timeout, so the pool needs no limit on open connections.
// Share one Store per database within a process.
//
// Two cautions, both SQLite's:
//
//   - Switching a new file to WAL takes a lock that the busy timeout does
//     not wait for, so connections that open together on a new file may
//     fail with SQLITE_BUSY. Open one connection first (Open does; or
//     db.Ping, or Migrate) before going concurrent; the file then stays in
//     WAL mode.
//   - A transaction that reads before it writes (a business SELECT, then
//     Enqueue) cannot wait for the write lock once it has read: a
//     concurrent writer makes its write fail with SQLITE_BUSY.
//     _txlock=immediate makes BeginTx take the write lock first, so that
//     such transactions queue instead.
//
// # Schema
//
// [Store.Migrate] creates the table [Table], "rebound_outbox", with
// the columns that outbox.Enqueue's INSERT expects, one row per message:
//
//	seq             INTEGER PRIMARY KEY AUTOINCREMENT  the enqueue order, never reused
//	id              TEXT NOT NULL UNIQUE
//	destination     TEXT NOT NULL
//	payload         BLOB NOT NULL
//	headers         TEXT NULL           a JSON object; NULL when none
//	ordering_key    TEXT NOT NULL       '' when none
//	state           INTEGER NOT NULL    1 pending, 2 delivering, 3 sent, 4 retrying, 5 dead
//	attempt         INTEGER NOT NULL    attempts started
//	created_at      INTEGER NOT NULL    Unix nanoseconds, as are all times
//	next_attempt_at INTEGER NOT NULL
//	lease_until     INTEGER NOT NULL    0 when not leased
//	sent_at         INTEGER NOT NULL    0 until sent
//	dead_reason     TEXT NOT NULL
//	last_error      TEXT NOT NULL       at most MaxErrorBytes
//	last_status     INTEGER NOT NULL
//	trace_parent    TEXT NOT NULL       W3C trace context of the enqueue,
//	trace_state     TEXT NOT NULL       '' when untraced (version 3)
//
// with an index on seq over the unfinished messages (pending, delivering,
// retrying) that claims walk, indexes on (state, next_attempt_at) and
// (state, lease_until), one on (ordering_key, seq) over the unfinished
// messages for ordering keys, and one on (destination, seq) for listing.
//
// The schema is embedded SQL, one versioned file per change, applied in an
// IMMEDIATE transaction and recorded in "rebound_outbox_schema_version",
// so Migrate is safe to call at every start, from many processes at once.
// A table at a version newer than the package knows is left alone and
// reported.
//
// # Claims
//
// [Store.Claim] is one UPDATE … RETURNING statement: it picks the oldest
// due messages (pending or retrying and due, or delivering with an
// expired lease), leaving out the destinations skipped and every message
// behind an earlier unfinished message of its ordering key, and leases
// them. SQLite runs one writer at a time, so the statement is atomic:
// concurrent claimers, in this process or another, never share a message,
// with no SKIP LOCKED needed (nor available). The price is that claims,
// like every write, take turns; a relay or two per database is the shape
// this store suits.
//
// The outcome of a delivery (MarkSent, MarkRetry, MarkDead, Extend,
// Release) is one UPDATE fenced by the message ID, the attempt that
// claimed it and the delivering state: a relay whose lease expired, and
// whose message was claimed again since, changes nothing and gets
// [outbox.ErrStale]. A Store is an [outbox.BatchCompleter]:
// [Store.MarkSentBatch] runs MarkSent's UPDATE for many messages in one
// transaction, and a relay records its deliveries that way, one commit
// per batch.
//
// A claim walks the unfinished messages in enqueue order (the index named
// in the statement) until it has its limit: its cost grows with the
// messages that are unfinished but not yet due ahead of the due ones (a
// long outage of a destination, whose messages wait out their backoff),
// not with the history of sent ones; run [Store.Prune] periodically all
// the same, to keep the file small.
//
// # Wake-ups
//
// SQLite has no notifications. A Store is an [outbox.Waker] all the same:
// [Store.Wait] looks every [WakeInterval] (10 ms) at PRAGMA data_version,
// which counts the commits of other connections, so a Relay claims within
// about 10 ms of an enqueue committed by this process or another, instead
// of at its next poll (RelayConfig.PollInterval), which remains the
// fallback. Every commit counts, the relay's own included, so under load a
// wake-up comes no sooner than three times the last claim's duration after
// it: claims keep to about a quarter of the time and stay batched. The
// watch holds one connection of the pool while a Relay runs; with a pool
// of one connection it stays off.
//
// # Time
//
// Due times and leases are compared with the now that the caller passes,
// never with the process's or SQLite's clock; the only clock the store
// reads is for pacing Wait (how long the last claim took). Times are stored as
// Unix nanoseconds, exactly, and read back in UTC; 0 is the zero time.
//
// A Store is safe for concurrent use.
package sqlite
