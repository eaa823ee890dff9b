-- Withdrawals, updates and erasure (referral.withdrawn, referral.updated, candidate.erased).
-- A decision now keeps what a second decision needs (the submitted target, the partner and
-- the candidate) and whether the referral was withdrawn. A referral withdrawn (or erased)
-- before routing saw it gets a row with outcome 'withdrawn', so a later submitted event is
-- never routed. partner_id may be unknown then (candidate.erased does not carry it), and
-- candidate_id is set to NULL when the person is erased.
ALTER TABLE decisions
    ALTER COLUMN partner_id DROP NOT NULL,
    ADD COLUMN candidate_id         text,
    ADD COLUMN target_onet_soc_code text,
    ADD COLUMN target_opening_id    text,
    ADD COLUMN withdrawn_at         timestamptz,
    ADD COLUMN withdrawal_reason    text;

ALTER TABLE decisions DROP CONSTRAINT decisions_outcome_check;
ALTER TABLE decisions ADD CONSTRAINT decisions_outcome_check
    CHECK (outcome IN ('routed', 'unmatched', 'withdrawn'));
ALTER TABLE decisions ADD CONSTRAINT decisions_withdrawn_has_time
    CHECK (outcome <> 'withdrawn' OR withdrawn_at IS NOT NULL);

CREATE INDEX decisions_candidate ON decisions (candidate_id) WHERE candidate_id IS NOT NULL;
