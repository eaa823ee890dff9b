-- Issue 15 item 6: one funnel with definitions a funder accepts (docs/pipeline.md).
--
-- Each referral's exclusive outcome, the employers that ever declined it and its flags
-- (services/outcomes/pipeline.py), and who it is about for counting people (`person_key`:
-- the network's candidate id; after an erasure "erased:" and the erasure event's id, so a
-- rebuild, which replays the same erasure, gives the same key; `candidate_id` is then
-- "erased" for every erased person, which would count them all as one).
ALTER TABLE referral_facts
    ADD COLUMN outcome text,
    ADD COLUMN declined_by text[] NOT NULL DEFAULT '{}',
    ADD COLUMN flags text[] NOT NULL DEFAULT '{}',
    ADD COLUMN person_key text,
    -- projection.VERSION the row was derived with: rows of an older one are projected again
    -- when the service starts (services/outcomes/app.py), as a rebuild would derive them.
    ADD COLUMN projected_with int NOT NULL DEFAULT 0;
ALTER TABLE referral_facts
    ALTER COLUMN declined_by SET STATISTICS 0,
    ALTER COLUMN flags SET STATISTICS 0;

-- The erasure that erased each referral: its event id, from the ledger's record of it for
-- erasures made before this column (the first one naming the referral, as a rebuild, which
-- applies erasures in their partition's order, keeps the first too).
ALTER TABLE erased_referrals ADD COLUMN erasure_id uuid;
UPDATE erased_referrals e SET erasure_id = first.event_id
FROM (
    SELECT DISTINCT ON (r) r, l.event_id
    FROM ledger l, jsonb_array_elements_text(l.envelope -> 'data' -> 'referral_ids') AS r
    WHERE l.event_type LIKE 'candidate.erased.%'
    ORDER BY r, l.seq
) AS first
WHERE first.r = e.referral_id;
