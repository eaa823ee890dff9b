-- The openings catalogue, built from opening events, and routing's decisions.
CREATE TABLE openings (
    opening_id      text PRIMARY KEY,
    employer_id     text    NOT NULL,
    title           text    NOT NULL,
    onet_soc_code   text    NOT NULL,
    required_skills text[]  NOT NULL,
    preferred_skills text[] NOT NULL,
    capacity        int     NOT NULL,
    routed_count    int     NOT NULL DEFAULT 0,
    posted_at       timestamptz NOT NULL,
    CHECK (routed_count <= capacity)
);

CREATE TABLE decisions (
    referral_id   text PRIMARY KEY,
    partner_id    text        NOT NULL,
    outcome       text        NOT NULL CHECK (outcome IN ('routed', 'unmatched')),
    opening_id    text REFERENCES openings (opening_id),
    score         real,
    decided_at    timestamptz NOT NULL DEFAULT now()
);
