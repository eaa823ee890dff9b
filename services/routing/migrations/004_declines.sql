-- Re-routing after an employer declines (issue 5): the decline frees the slot and the
-- referral is decided again among other employers' openings. `declined_by` lists the
-- employers it was routed to and that declined it (it never goes back to them); a
-- referral with no attempts left stays 'declined'.
ALTER TABLE decisions ADD COLUMN declined_by text[] NOT NULL DEFAULT '{}';

ALTER TABLE decisions DROP CONSTRAINT decisions_outcome_check;
ALTER TABLE decisions ADD CONSTRAINT decisions_outcome_check
    CHECK (outcome IN ('routed', 'unmatched', 'withdrawn', 'declined'));
