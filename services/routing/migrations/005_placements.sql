-- A placed referral keeps its slot for good, and one whose offer the candidate turned down
-- gives it back (issue 14): routing follows placement.reported and offer.declined. A
-- placed referral still counts against its partner's fair share, withdrawn or not.
ALTER TABLE decisions DROP CONSTRAINT decisions_outcome_check;
ALTER TABLE decisions ADD CONSTRAINT decisions_outcome_check
    CHECK (outcome IN ('routed', 'unmatched', 'withdrawn', 'declined', 'placed', 'offer_declined'));

DROP INDEX decisions_held;
CREATE INDEX decisions_held ON decisions (opening_id, partner_id)
    WHERE outcome = 'placed' OR (outcome = 'routed' AND withdrawn_at IS NULL);

-- A placement routing learns of after the referral's withdrawal takes its slot back, even if
-- another referral took it meanwhile: the person holds the job. The opening then counts more
-- referrals than its capacity, and has no slot until enough of those in progress end (a
-- decision takes a slot only below the capacity, under the opening's row lock).
ALTER TABLE openings DROP CONSTRAINT openings_check;
