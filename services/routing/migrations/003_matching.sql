-- Richer matching (issue 5): requirements, location, the opening's lifecycle, fair share.
ALTER TABLE openings
    ADD COLUMN location             text    NOT NULL DEFAULT '',
    ADD COLUMN remote               boolean NOT NULL DEFAULT false,
    ADD COLUMN required_credentials jsonb   NOT NULL DEFAULT '[]',
    ADD COLUMN degree_required      text,
    ADD COLUMN state                text    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed', 'filled')),
    ADD COLUMN hold_released        boolean NOT NULL DEFAULT false,  -- the fair-share hold ended and was swept
    ADD COLUMN updated_at           timestamptz;
-- Candidates for a decision: open openings whose required skills the candidate covers
-- (required_skills <@ theirs) or overlaps (&&, for the nearest ones).
CREATE INDEX openings_required_skills ON openings USING gin (required_skills) WHERE state = 'open';

-- What a later decision about a waiting (unmatched) referral needs; cleared on erasure.
ALTER TABLE decisions
    ADD COLUMN attempt     int NOT NULL DEFAULT 1,
    ADD COLUMN skills      text[] NOT NULL DEFAULT '{}',
    ADD COLUMN credential_list jsonb NOT NULL DEFAULT '[]',  -- as the referral states them, for re-routed events
    ADD COLUMN credentials text[] NOT NULL DEFAULT '{}',
    ADD COLUMN degree      text,
    ADD COLUMN location    text;
-- Slots a partner holds in an opening (the fair-share rule counts them).
CREATE INDEX decisions_held ON decisions (opening_id, partner_id) WHERE outcome = 'routed' AND withdrawn_at IS NULL;
-- Referrals waiting for an opening: found again when one appears that their skills cover.
CREATE INDEX decisions_waiting ON decisions USING gin (skills) WHERE outcome = 'unmatched' AND withdrawn_at IS NULL;
