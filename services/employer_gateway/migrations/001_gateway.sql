-- Employers' openings, the referrals routed to them and their interviews.
CREATE TABLE openings (
    opening_id   text PRIMARY KEY,
    employer_id  text        NOT NULL,
    posting      jsonb       NOT NULL,
    posted_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX openings_employer ON openings (employer_id);

CREATE TABLE referrals (
    referral_id   text PRIMARY KEY,
    seq           bigserial   NOT NULL UNIQUE,  -- arrival order; the inbox's paging cursor
    employer_id   text        NOT NULL,
    opening_id    text        NOT NULL,
    partner_id    text        NOT NULL,
    candidate_id  text        NOT NULL,
    state         text        NOT NULL,
    routing       jsonb       NOT NULL,
    routed_at     timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX referrals_inbox ON referrals (employer_id, seq);

CREATE TABLE interviews (
    interview_id   text PRIMARY KEY,
    referral_id    text        NOT NULL REFERENCES referrals (referral_id),
    scheduled_for  timestamptz NOT NULL,
    mode           text        NOT NULL,
    outcome        text
);
CREATE INDEX interviews_referral ON interviews (referral_id);
