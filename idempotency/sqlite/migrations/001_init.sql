-- The keys of idempotency.Store. {{table}} is the quoted table name;
-- {{name}} is its bare name, for derived names. Times are Unix nanoseconds.
CREATE TABLE IF NOT EXISTS {{table}} (
	key          TEXT PRIMARY KEY NOT NULL,
	fingerprint  TEXT NOT NULL,
	state        INTEGER NOT NULL,   -- 1 in flight, 2 completed
	token        TEXT NOT NULL,
	locked_until INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	status       INTEGER NOT NULL DEFAULT 0,
	header       TEXT,               -- http.Header as JSON, once completed
	body         BLOB                -- the response body, once completed
);

-- Reap deletes by expiry.
CREATE INDEX IF NOT EXISTS "{{name}}_expires_at_idx" ON {{table}} (expires_at);
