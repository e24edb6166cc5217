-- The W3C trace context of the transaction that enqueued each message
-- (traceparent and tracestate header values), which the relay continues
-- when it delivers: one trace from the business transaction to the
-- receiver. '' when the enqueue was not traced; existing messages read as
-- untraced.
ALTER TABLE rebound_outbox ADD COLUMN trace_parent TEXT NOT NULL DEFAULT '';
ALTER TABLE rebound_outbox ADD COLUMN trace_state TEXT NOT NULL DEFAULT '';
