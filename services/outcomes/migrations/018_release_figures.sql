-- Issue 16: what each release computed for the blocks of its program dimension, published or not
-- (reports/across_years.Held: each program it counted anyone in -> its block, and per line each
-- block's figure), so a later release is held to the figures it rested on rather than to the ledger
-- read again, where a late event counts as "then" (docs/transparency.md, "Across years"). Aggregate
-- counts, never served (the public routes serve release_files only). NULL for a release stored
-- before this migration: its figures are then read from the ledger.
ALTER TABLE releases ADD COLUMN IF NOT EXISTS held jsonb;
