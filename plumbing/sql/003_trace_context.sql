-- The W3C trace context of the span that wrote each outbox row (HTTP request or consumed
-- event); the relay sends it as the record's `traceparent` / `tracestate` Kafka headers.
-- NULL when the row was written outside a span (a sweeper, a migration, a script).
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS traceparent text;
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS tracestate text;
