-- Issue 16 items 3 and 4: the demand board. Outcomes keeps each opening's whole posting (its
-- kind of job, wage, capacity and credentials: what the board counts), and the employers'
-- demand forecasts and hiring standards from talentloop.openings, in the ledger (no personal
-- data: nothing to erase) and as their current declarations.
ALTER TABLE openings ADD COLUMN posting jsonb;
UPDATE openings o SET posting = (
    SELECT l.envelope -> 'data' FROM ledger l
    WHERE l.opening_id = o.opening_id AND l.event_type IN ('opening.posted.v1', 'opening.updated.v1')
    ORDER BY l.occurred_at DESC, l.seq DESC LIMIT 1
);

ALTER TABLE ledger DROP CONSTRAINT ledger_about_something;
ALTER TABLE ledger ADD CONSTRAINT ledger_about_something
    CHECK (referral_id IS NOT NULL OR enrollment_id IS NOT NULL OR request_id IS NOT NULL
           OR event_type LIKE 'candidate.%' OR event_type LIKE 'opening.%' OR event_type LIKE 'program.%'
           OR event_type LIKE 'service_provider.%' OR event_type LIKE 'demand.%'
           OR event_type LIKE 'hiring_standards.%');

-- An employer's current forecast per occupation, employment type and horizon: the latest by the
-- declaration's time (a late older one changes nothing, so the order of arrival does not matter).
CREATE TABLE demand_forecasts (
    employer_id     text        NOT NULL,
    onet_soc_code   text        NOT NULL,
    employment_type text        NOT NULL,
    horizon_months  integer     NOT NULL,
    forecast        jsonb       NOT NULL,
    declared_at     timestamptz NOT NULL,
    PRIMARY KEY (employer_id, onet_soc_code, employment_type, horizon_months)
);

-- An employer's current hiring standards per occupation, as published (public, with its name).
CREATE TABLE hiring_standards (
    employer_id    text        NOT NULL,
    onet_soc_code  text        NOT NULL,
    standards      jsonb       NOT NULL,
    published_at   timestamptz NOT NULL,
    PRIMARY KEY (employer_id, onet_soc_code)
);
