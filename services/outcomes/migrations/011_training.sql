-- Issue 15 slice 6: training in the ledger. Outcomes consumes talentloop.programs and
-- talentloop.training (intake's program.*, training.* and credential.earned events): each is
-- kept in the ledger under its enrollment or program, and an enrollment's events are projected
-- into `enrollment_facts` (records.EnrollmentRecord), so the coalition funnel starts at training.
ALTER TABLE ledger ADD COLUMN enrollment_id text, ADD COLUMN program_id text;
ALTER TABLE ledger DROP CONSTRAINT ledger_about_something;
ALTER TABLE ledger ADD CONSTRAINT ledger_about_something
    CHECK (referral_id IS NOT NULL OR enrollment_id IS NOT NULL OR event_type LIKE 'candidate.%'
           OR event_type LIKE 'opening.%' OR event_type LIKE 'program.%');
CREATE INDEX ledger_enrollment ON ledger (enrollment_id, occurred_at, seq) WHERE enrollment_id IS NOT NULL;

-- Each enrollment as its events tell it (derived from the ledger: a rebuild gives the same rows).
-- `person_key` as referral_facts': the network's candidate id, "erased:" and the erasure's id
-- after an erasure, so training and referrals of one person join when the funnel counts people.
CREATE TABLE enrollment_facts (
    enrollment_id       text PRIMARY KEY,
    partner_id          text NOT NULL,
    program_id          text NOT NULL,
    status              text NOT NULL,
    candidate_id        text,            -- "erased" after erasure
    person_key          text NOT NULL,
    demographics_sealed jsonb,           -- only with consent to aggregate reports; dropped on erasure
    record              jsonb NOT NULL,  -- records.EnrollmentRecord
    projected_with      int  NOT NULL
);
CREATE INDEX enrollment_facts_partner ON enrollment_facts (partner_id);
CREATE INDEX enrollment_facts_person ON enrollment_facts (person_key);

-- The enrollments erased, by which erasure (the first one naming it, live and in a rebuild).
CREATE TABLE erased_enrollments (
    enrollment_id text PRIMARY KEY,
    erased_at     timestamptz NOT NULL,
    erasure_id    uuid NOT NULL
);

-- Programs as last registered or updated (like `openings`).
CREATE TABLE programs (
    program_id  text PRIMARY KEY,
    partner_id  text        NOT NULL,
    name        text        NOT NULL,
    credential  jsonb,
    program     jsonb       NOT NULL,   -- the whole program as its latest event carries it
    registered_at timestamptz NOT NULL,
    changed_at  timestamptz NOT NULL    -- a late older update changes nothing
);
