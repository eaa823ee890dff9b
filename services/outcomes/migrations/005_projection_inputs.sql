-- Issue 13 (speed): each referral's events in the compact form its projection reads
-- (services/outcomes/projection.py, INPUT_KEYS), kept beside the projection so a batch folds
-- its new events in instead of reading every ledger row of the referral again. Derived, like
-- the rest of the row; NULL (as for rows projected before this migration) means "read the
-- ledger", which then fills it. Plain JSON text written and read by Python only: no jsonb
-- parsing on every write, and numbers come back exactly as they went in.
ALTER TABLE referral_facts ADD COLUMN inputs text;
