-- An outbox row Kafka refuses (too large, an invalid topic) is parked with the reason instead
-- of blocking the relay; later rows of the same key wait behind it (their order matters),
-- rows of other keys flow. An operator releases it (retry) or discards it (kept, marked).
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS parked_at timestamptz;
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS park_reason text;
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS discarded_at timestamptz;
-- The relay asks, for every row it claims, whether an older row of its key is parked.
CREATE INDEX IF NOT EXISTS outbox_parked_keys ON outbox (key, id) WHERE parked_at IS NOT NULL AND published_at IS NULL;
