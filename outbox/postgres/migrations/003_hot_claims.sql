-- Claims and retries become HOT updates (heap-only tuples: the new row
-- version goes on the same page and no index gets an entry for it).
--
-- PostgreSQL can make an update HOT only when no column that an index
-- reads changes (its key columns and the columns of its predicate) and the
-- page has room for the new version. The partial indexes read state, and
-- every claim changes state (pending or retrying to delivering), so every
-- claim wrote a new entry in all five indexes. They now read done, which
-- is true for sent and dead messages and which neither a claim nor a retry
-- nor a release changes; the table leaves half of each page free for the
-- new versions. A claim of a few hundred messages takes about 40 % of the
-- time it took.
--
-- Marking a message sent or dead still changes done, and must: that is how
-- it leaves the indexes of unfinished messages.
--
-- Adding a stored generated column rewrites the table, holding a lock that
-- blocks enqueues until it is done: on a large outbox, prune it first.
ALTER TABLE rebound_outbox
	ADD COLUMN IF NOT EXISTS done BOOLEAN GENERATED ALWAYS AS (state IN (3, 5)) STORED;
ALTER TABLE rebound_outbox SET (fillfactor = 50);

DROP INDEX IF EXISTS rebound_outbox_unfinished_idx;
CREATE INDEX rebound_outbox_unfinished_idx
	ON rebound_outbox (seq) WHERE NOT done;
DROP INDEX IF EXISTS rebound_outbox_ordering_idx;
CREATE INDEX rebound_outbox_ordering_idx
	ON rebound_outbox (ordering_key, seq) WHERE ordering_key <> '' AND NOT done;
DROP INDEX IF EXISTS rebound_outbox_sent_idx;
CREATE INDEX rebound_outbox_sent_idx
	ON rebound_outbox (sent_at) WHERE sent_at <> 0;
