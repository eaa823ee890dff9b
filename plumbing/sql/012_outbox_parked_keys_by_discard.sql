-- The claim asks, for every row it claims, whether an older row of its key is parked. Asked
-- as `parked_at IS NOT NULL AND published_at IS NULL`, the planner could answer it from
-- outbox_unpublished (whose predicate that implies) instead of this index: after an analyze
-- that found few unpublished rows it estimated that index nearly empty and walked it below
-- each claimed row, entries of published rows included (in the pipeline benchmark one
-- relay's claims fetched each of its rows 200-400 times; seen in runs of both the old and
-- the new claim). A parked row leaves the parked state only by release (parked_at cleared)
-- or discard (published_at and discarded_at set together), so `discarded_at IS NULL` says
-- the same and no other index's predicate follows from it (plumbing/outbox.py).
DROP INDEX IF EXISTS outbox_parked_keys;
CREATE INDEX IF NOT EXISTS outbox_parked_keys ON outbox (key, id) WHERE parked_at IS NOT NULL AND discarded_at IS NULL;
