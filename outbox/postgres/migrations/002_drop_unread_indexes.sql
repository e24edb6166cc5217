-- Claim walks rebound_outbox_unfinished_idx in seq order, its due test
-- one expression that no index matches, so nothing reads the indexes of
-- due messages and of leases any more; every claim and retry still paid
-- for entering its rows in them.
DROP INDEX IF EXISTS rebound_outbox_due_idx;
DROP INDEX IF EXISTS rebound_outbox_lease_idx;
