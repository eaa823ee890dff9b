-- Training providers' programs and their participants' enrollments (issue 15). A program is
-- the provider's (its id is unique in the network: it keys talentloop.programs). An
-- enrollment is one person in one program, as the provider reports it: the same network
-- candidate and the same partner id of the person a referral of theirs gets (a provider that
-- also refers keeps one id), its state (what its events said so far: `training.TrainingState`),
-- and the personal data sealed with the candidate's key, as a referral's. Erasure keeps the
-- row for the counts and drops the rest, as it does a referral's.
CREATE TABLE programs (
    program_id     text PRIMARY KEY,
    partner_id     text        NOT NULL,
    program        jsonb       NOT NULL,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX programs_partner ON programs (partner_id);

CREATE TABLE enrollments (
    enrollment_id        text PRIMARY KEY,
    partner_id           text        NOT NULL,
    program_id           text        NOT NULL REFERENCES programs (program_id),
    -- The provider's reference, else the person in the program (`TrainingRecordIn.enrollment_key`).
    enrollment_key       text,
    candidate_id         text        NOT NULL,
    partner_candidate_id text,
    identity_hashes      text[],
    status               text        NOT NULL,  -- enrolled, completed, exited; erased
    state                jsonb       NOT NULL,
    entry                text        NOT NULL,
    contact_sealed       jsonb,
    demographics_sealed  jsonb,
    enrolled_at          timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX enrollments_key ON enrollments (partner_id, enrollment_key) WHERE enrollment_key IS NOT NULL;
CREATE INDEX enrollments_candidate ON enrollments (candidate_id);
CREATE INDEX enrollments_partner_candidate ON enrollments (partner_id, partner_candidate_id);
