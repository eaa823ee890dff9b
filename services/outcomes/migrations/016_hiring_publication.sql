-- Issue 16 item 5: employers' choices whether the coalition may publish their hiring for a year
-- (hiring_publication.chosen.v1, on talentloop.openings): in the ledger (no personal data: nothing
-- to erase) and as each employer's current choice per year.
ALTER TABLE ledger DROP CONSTRAINT ledger_about_something;
ALTER TABLE ledger ADD CONSTRAINT ledger_about_something
    CHECK (referral_id IS NOT NULL OR enrollment_id IS NOT NULL OR request_id IS NOT NULL
           OR event_type LIKE 'candidate.%' OR event_type LIKE 'opening.%' OR event_type LIKE 'program.%'
           OR event_type LIKE 'service_provider.%' OR event_type LIKE 'demand.%'
           OR event_type LIKE 'hiring_standards.%' OR event_type LIKE 'hiring_publication.%');

-- The employer's last choice for the year by the time it was made (a late older one changes
-- nothing, so the order of arrival does not matter and a rebuild gives the same row).
CREATE TABLE publication_choices (
    employer_id   text        NOT NULL,
    year          integer     NOT NULL,
    opted_in      boolean     NOT NULL,
    employer_name text        NOT NULL,
    chosen_at     timestamptz NOT NULL,
    PRIMARY KEY (employer_id, year)
);
