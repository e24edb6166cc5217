-- The outbox table, per the column contract of outbox.Table (see
-- outbox/enqueue.go): outbox.Enqueue inserts into it with outbox.InsertSQL.
-- Times are Unix nanoseconds; 0 means none.
CREATE TABLE IF NOT EXISTS rebound_outbox (
	seq             INTEGER PRIMARY KEY AUTOINCREMENT, -- the enqueue order, never reused
	id              TEXT NOT NULL UNIQUE,
	destination     TEXT NOT NULL,
	payload         BLOB NOT NULL,
	headers         TEXT NULL,                  -- a JSON object, NULL when none
	ordering_key    TEXT NOT NULL DEFAULT '',
	state           INTEGER NOT NULL,           -- 1 pending, 2 delivering, 3 sent, 4 retrying, 5 dead
	attempt         INTEGER NOT NULL,
	created_at      INTEGER NOT NULL,
	next_attempt_at INTEGER NOT NULL,
	lease_until     INTEGER NOT NULL DEFAULT 0,
	sent_at         INTEGER NOT NULL DEFAULT 0,
	dead_reason     TEXT NOT NULL DEFAULT '',
	last_error      TEXT NOT NULL DEFAULT '',
	last_status     INTEGER NOT NULL DEFAULT 0
);

-- Claim finds due messages by state and time.
CREATE INDEX IF NOT EXISTS rebound_outbox_due_idx ON rebound_outbox (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS rebound_outbox_lease_idx ON rebound_outbox (state, lease_until);
-- Claim looks for an earlier unfinished message of the same ordering key.
-- The index holds only unfinished messages, so the look-up stops at the
-- first one instead of walking the key's history of sent messages. SQLite
-- uses a partial index only for a query whose WHERE has the index's
-- condition as one of its terms: Claim's subquery has "o.state IN (1,2,4)".
CREATE INDEX IF NOT EXISTS rebound_outbox_ordering_idx ON rebound_outbox (ordering_key, seq) WHERE state IN (1, 2, 4);
-- List and ReplayDead page through one destination in enqueue order.
CREATE INDEX IF NOT EXISTS rebound_outbox_destination_idx ON rebound_outbox (destination, seq);
