-- The keys of idempotency.Store. {{table}} is the quoted, possibly
-- schema-qualified table name; {{name}} is its bare name, for derived names.
CREATE TABLE IF NOT EXISTS {{table}} (
	key          TEXT PRIMARY KEY,
	fingerprint  TEXT NOT NULL,
	state        SMALLINT NOT NULL,   -- 1 in flight, 2 completed
	token        TEXT NOT NULL,
	locked_until TIMESTAMPTZ NOT NULL,
	expires_at   TIMESTAMPTZ NOT NULL,
	status       INTEGER NOT NULL DEFAULT 0,
	header       JSONB,               -- http.Header as JSON, once completed
	body         BYTEA                -- the response body, once completed
);

-- Reap deletes by expiry.
CREATE INDEX IF NOT EXISTS "{{name}}_expires_at_idx" ON {{table}} (expires_at);
