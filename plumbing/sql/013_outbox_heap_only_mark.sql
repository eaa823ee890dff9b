-- The published mark becomes a heap-only update (plumbing/outbox.py). outbox_unpublished named
-- published_at in its predicate, so every mark wrote new entries in every index of the outbox
-- (its key, its event id) and left dead ones for vacuum to clean; since 011 the relay's claim
-- starts above its cursor and probes the ids it has not seen by the primary key's order, so it
-- no longer needs an index that leaves published rows out. Measured on an idle PostgreSQL
-- (500-row batches): the mark 17-19 -> 6-7 us of the backend's CPU and 238 -> 88 bytes of WAL
-- a row, the insert one index entry less (1,050 -> 970 bytes of WAL a row). Nothing else of
-- the outbox names published_at in an index (outbox_parked_keys asks discarded_at, 012), and
-- the fillfactor 009 set keeps room on each page for the marked version.
DROP INDEX IF EXISTS outbox_unpublished;
