-- Claim walks the unfinished messages in enqueue order and stops at its
-- limit, instead of sorting every due message to take the oldest. Like
-- the ordering index, SQLite uses it only because Claim's WHERE has its
-- condition, "state IN (1,2,4)", as one of its terms.
CREATE INDEX IF NOT EXISTS rebound_outbox_unfinished_idx ON rebound_outbox (seq) WHERE state IN (1, 2, 4);
