-- The outbox table. Its columns are the contract of outbox.InsertSQL (see
-- outbox.Table); times are Unix nanoseconds, 0 meaning none. States: 1
-- pending, 2 delivering, 3 sent, 4 retrying, 5 dead.
CREATE TABLE IF NOT EXISTS rebound_outbox (
	seq             BIGSERIAL PRIMARY KEY,
	id              TEXT NOT NULL UNIQUE,
	destination     TEXT NOT NULL,
	payload         BYTEA NOT NULL,
	headers         TEXT NULL,
	ordering_key    TEXT NOT NULL DEFAULT '',
	state           SMALLINT NOT NULL,
	attempt         INTEGER NOT NULL,
	created_at      BIGINT NOT NULL,
	next_attempt_at BIGINT NOT NULL,
	lease_until     BIGINT NOT NULL DEFAULT 0,
	sent_at         BIGINT NOT NULL DEFAULT 0,
	dead_reason     TEXT NOT NULL DEFAULT '',
	last_error      TEXT NOT NULL DEFAULT '',
	last_status     INTEGER NOT NULL DEFAULT 0
);

-- Claim walks the unfinished messages in enqueue order, so that it never
-- reads the history of sent and dead ones and stops at its limit.
CREATE INDEX IF NOT EXISTS rebound_outbox_unfinished_idx
	ON rebound_outbox (seq) WHERE state IN (1, 2, 4);
-- Messages waiting for their next attempt, and expired leases.
CREATE INDEX IF NOT EXISTS rebound_outbox_due_idx
	ON rebound_outbox (next_attempt_at, seq) WHERE state IN (1, 4);
CREATE INDEX IF NOT EXISTS rebound_outbox_lease_idx
	ON rebound_outbox (lease_until) WHERE state = 2;
-- Claim: the earlier unfinished messages of an ordering key. Only
-- unfinished ones are indexed, so the check does not walk a key's history
-- of sent messages.
CREATE INDEX IF NOT EXISTS rebound_outbox_ordering_idx
	ON rebound_outbox (ordering_key, seq) WHERE ordering_key <> '' AND state IN (1, 2, 4);
-- List and ReplayDead by destination.
CREATE INDEX IF NOT EXISTS rebound_outbox_destination_idx
	ON rebound_outbox (destination, seq);
-- Prune.
CREATE INDEX IF NOT EXISTS rebound_outbox_sent_idx
	ON rebound_outbox (sent_at) WHERE state = 3;

-- Every statement that inserts messages notifies the relays listening on
-- the channel rebound_outbox; PostgreSQL delivers the notification when
-- the transaction commits, and never if it rolls back.
CREATE OR REPLACE FUNCTION rebound_outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('rebound_outbox', '');
	RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS rebound_outbox_notify ON rebound_outbox;
CREATE TRIGGER rebound_outbox_notify
	AFTER INSERT ON rebound_outbox
	FOR EACH STATEMENT EXECUTE FUNCTION rebound_outbox_notify();
