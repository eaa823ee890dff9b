-- Issue 13 (speed), instead of 005's column: each referral's compact events (what its
-- projection reads, services/outcomes/projection.py) as one small row per event. Rewriting a
-- referral's whole, growing text on every batch that touched it cost PostgreSQL a TOAST
-- compression, write and read every time; a row per event is appended once.
ALTER TABLE referral_facts DROP COLUMN inputs;
-- True once every ledger event of the referral has its row in referral_inputs; false (as
-- for referrals projected before this migration, or by a rebuild) means "read the ledger",
-- which fills them.
ALTER TABLE referral_facts ADD COLUMN inputs_complete boolean NOT NULL DEFAULT false;
CREATE TABLE referral_inputs (
    referral_id text NOT NULL,
    input       text NOT NULL  -- [type, time, employer, partner, data]: plain JSON written and read by Python only
);
CREATE INDEX referral_inputs_referral ON referral_inputs (referral_id);
-- Every batch rewrites the projections it touches: room on each page lets PostgreSQL update a
-- row in place (a HOT update, without touching its indexes) when partner and employer stay.
ALTER TABLE referral_facts SET (fillfactor = 60);
