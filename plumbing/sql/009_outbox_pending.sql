-- Undone by 010_outbox_unpublished_index.sql: the relay's claim, driven by this table, walked
-- the ids the mark had deleted (4.6 ms a claim instead of 0.2); only the fillfactor stays.
-- Marking a row published rewrote it whole, with new index entries: the partial index of
-- unpublished rows (and the parked keys' one) named published_at, and an update that
-- changes a column an index names cannot be HOT (heap-only). Measured in the pipeline
-- benchmark: the mark wrote as much WAL as the insert (8.7 KB per referral, a fifth of the
-- database's WAL). Now the unpublished rows' ids are their own small table, written in the
-- statement that writes the rows (plumbing/outbox.py, no trigger) and emptied by the mark;
-- no index of the outbox names published_at, and pages keep room for the marked versions
-- (fillfactor), so the mark is a heap-only update of one page: about 150 bytes of WAL a
-- row instead of 1.5 KB, and no index work.
CREATE TABLE IF NOT EXISTS outbox_pending (id bigint PRIMARY KEY);
INSERT INTO outbox_pending (id) SELECT id FROM outbox WHERE published_at IS NULL ON CONFLICT DO NOTHING;
DROP INDEX IF EXISTS outbox_unpublished;
-- The relay asks, for every row it claims, whether an older row of its key is parked
-- (discarded rows keep parked_at and stay in this small index until pruned).
DROP INDEX IF EXISTS outbox_parked_keys;
CREATE INDEX IF NOT EXISTS outbox_parked_keys ON outbox (key, id) WHERE parked_at IS NOT NULL;
ALTER TABLE outbox SET (fillfactor = 50);
