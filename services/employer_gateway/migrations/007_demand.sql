-- Issue 16 items 3 and 4: what an employer declares it will need (demand forecasts) and how it
-- hires (hiring standards). The gateway keeps the current declaration per key (a newer one
-- replaces it, as outcomes' projection does) and publishes each through the outbox.
CREATE TABLE demand_forecasts (
    employer_id     text        NOT NULL,
    onet_soc_code   text        NOT NULL,
    employment_type text        NOT NULL,
    horizon_months  integer     NOT NULL,
    forecast_id     text        NOT NULL UNIQUE,
    forecast        jsonb       NOT NULL,  -- the event's payload
    declared_at     timestamptz NOT NULL,
    PRIMARY KEY (employer_id, onet_soc_code, employment_type, horizon_months)
);

CREATE TABLE hiring_standards (
    employer_id    text        NOT NULL,
    onet_soc_code  text        NOT NULL,
    standards      jsonb       NOT NULL,  -- the event's payload
    published_at   timestamptz NOT NULL,
    PRIMARY KEY (employer_id, onet_soc_code)
);
