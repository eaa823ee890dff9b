-- Issue 7: the ledger takes every lifecycle event from every topic (openings and routing's
-- skills-gap observations too), and the referral projection holds what the reports and the
-- closed loop need. Everything here but the ledger is derived from the ledger, so a rebuild
-- from Kafka gives the same content.
ALTER TABLE ledger DROP CONSTRAINT ledger_referral_or_candidate;
ALTER TABLE ledger ADD CONSTRAINT ledger_about_something
    CHECK (referral_id IS NOT NULL OR event_type LIKE 'candidate.%' OR event_type LIKE 'opening.%');
ALTER TABLE ledger ADD COLUMN opening_id text;  -- opening events' subject
CREATE INDEX ledger_type_time ON ledger (event_type, occurred_at);

ALTER TABLE referral_facts
    ADD COLUMN exit            text,
    ADD COLUMN record          jsonb,           -- records.ReferralRecord without demographics
    ADD COLUMN partner_detail  jsonb NOT NULL DEFAULT '{}',  -- why, with the partner status
    ADD COLUMN candidate_id    text,            -- to open the sealed demographics; "erased" after erasure
    ADD COLUMN demographics_sealed jsonb;       -- only with consent to aggregate reports

-- Openings as last posted or updated (what employers demand, for the skills-gap report).
CREATE TABLE openings (
    opening_id       text PRIMARY KEY,
    employer_id      text        NOT NULL,
    onet_soc_code    text        NOT NULL,
    required_skills  text[]      NOT NULL,
    preferred_skills text[]      NOT NULL,
    posted_at        timestamptz NOT NULL,
    changed_at       timestamptz NOT NULL,  -- the posting's time: a late older update changes nothing
    state            text        NOT NULL DEFAULT 'open'
);
