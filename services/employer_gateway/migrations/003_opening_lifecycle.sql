-- An opening's lifecycle: open until the employer closes it or marks it filled; only an
-- open one is updated. `posting` always holds the whole posting as it now is.
ALTER TABLE openings
    ADD COLUMN state       text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed', 'filled')),
    ADD COLUMN updated_at  timestamptz,
    ADD COLUMN closed_at   timestamptz,
    ADD CHECK ((state = 'open') = (closed_at IS NULL));

-- How many referrals are routed to an opening (a new capacity may not go below it).
CREATE INDEX referrals_opening ON referrals (opening_id);
