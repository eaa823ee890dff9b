-- Undoes 009's outbox_pending: the claim, driven by that table's primary key, walked the
-- ids the mark had deleted (dead until vacuumed, and not yet dead to the transactions
-- running beside it): 4.6 ms a claim in the pipeline benchmark instead of 0.2 with this
-- partial index, which cost more than the heap-only mark saved. The fillfactor 009 set
-- stays: the marked version lands on its row's page, and PostgreSQL logs only what changed
-- (plumbing/outbox.py).
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
DROP INDEX IF EXISTS outbox_parked_keys;
CREATE INDEX IF NOT EXISTS outbox_parked_keys ON outbox (key, id) WHERE parked_at IS NOT NULL AND published_at IS NULL;
DROP TABLE IF EXISTS outbox_pending;
