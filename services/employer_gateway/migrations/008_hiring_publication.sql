-- Issue 16 item 5: whether the coalition may publish an employer's hiring for a calendar year
-- (hiring_publication.chosen.v1). The gateway keeps the employer's current choice per year (a
-- newer one replaces it, as outcomes' projection does) and publishes each through the outbox.
CREATE TABLE hiring_publication (
    employer_id text        NOT NULL,
    year        integer     NOT NULL,
    choice      jsonb       NOT NULL,  -- the event's payload
    chosen_at   timestamptz NOT NULL,
    PRIMARY KEY (employer_id, year)
);
