-- Slots each partner holds in each opening, kept as decisions change (issue 13 item 6). The
-- fair-share rule needs them for young openings with a slot, every batch; grouping the
-- slot-holding decisions each time grew with the table (0.32 ms a referral at 10,000 under
-- API load). A decision holds a slot while placed, or routed and not withdrawn (the
-- predicate of `decisions_held` and `store.HOLDS_SLOT`).
--
-- Statement triggers on `decisions` keep the counts in the transaction of every change,
-- whichever path makes it (first decisions, re-decisions, declines, placements, offers turned
-- down, withdrawals, erasure) and however many routing processes run. A count changes only
-- under its opening's row lock, taken in opening order before the counts (the order every
-- writer of `openings` uses), so two writers never wait for each other's counts in a cycle.
CREATE TABLE held_slots (
    opening_id text NOT NULL,
    partner_id text NOT NULL,  -- '' for a decision without one (none holds a slot today)
    n          int  NOT NULL,
    PRIMARY KEY (opening_id, partner_id)
);

CREATE FUNCTION held_slots_add(o text[], p text[], d int[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    negative int;
BEGIN
    IF o IS NULL THEN
        RETURN;
    END IF;
    PERFORM 1 FROM openings WHERE opening_id = ANY(o) ORDER BY opening_id FOR NO KEY UPDATE;
    -- (No CHECK (n >= 0): an upsert checks the row it would insert, a negative change included.)
    INSERT INTO held_slots AS h (opening_id, partner_id, n)
        SELECT u.o, u.p, u.d FROM unnest(o, p, d) AS u(o, p, d) ORDER BY u.o, u.p
        ON CONFLICT (opening_id, partner_id) DO UPDATE SET n = h.n + excluded.n;
    WITH gone AS (
        DELETE FROM held_slots h USING unnest(o, p) AS u(o, p)
        WHERE h.opening_id = u.o AND h.partner_id = u.p AND h.n <= 0 RETURNING h.n)
    SELECT count(*) FILTER (WHERE n < 0) INTO negative FROM gone;
    IF negative > 0 THEN  -- a release of a slot that was not counted: never let the counts drift
        RAISE EXCEPTION 'held_slots would go below zero for %', o;
    END IF;
END $$;

CREATE FUNCTION held_slots_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM held_slots_add(array_agg(c.o), array_agg(c.p), array_agg(c.d)) FROM (
            SELECT opening_id AS o, coalesce(partner_id, '') AS p, count(*)::int AS d FROM new_rows
            WHERE opening_id IS NOT NULL AND (outcome = 'placed' OR (outcome = 'routed' AND withdrawn_at IS NULL))
            GROUP BY 1, 2) c;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM held_slots_add(array_agg(c.o), array_agg(c.p), array_agg(c.d)) FROM (
            SELECT opening_id AS o, coalesce(partner_id, '') AS p, -count(*)::int AS d FROM old_rows
            WHERE opening_id IS NOT NULL AND (outcome = 'placed' OR (outcome = 'routed' AND withdrawn_at IS NULL))
            GROUP BY 1, 2) c;
    ELSE
        PERFORM held_slots_add(array_agg(c.o), array_agg(c.p), array_agg(c.d)) FROM (
            SELECT o, p, sum(d)::int AS d FROM (
                SELECT opening_id AS o, coalesce(partner_id, '') AS p, 1 AS d FROM new_rows
                WHERE opening_id IS NOT NULL AND (outcome = 'placed' OR (outcome = 'routed' AND withdrawn_at IS NULL))
                UNION ALL
                SELECT opening_id, coalesce(partner_id, ''), -1 FROM old_rows
                WHERE opening_id IS NOT NULL AND (outcome = 'placed' OR (outcome = 'routed' AND withdrawn_at IS NULL))
            ) AS each_row GROUP BY 1, 2 HAVING sum(d) <> 0) c;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER held_slots_insert AFTER INSERT ON decisions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION held_slots_changed();
CREATE TRIGGER held_slots_update AFTER UPDATE ON decisions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION held_slots_changed();
CREATE TRIGGER held_slots_delete AFTER DELETE ON decisions REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION held_slots_changed();

-- What the decisions hold now (a database migrated with decisions in it).
INSERT INTO held_slots (opening_id, partner_id, n)
    SELECT opening_id, coalesce(partner_id, ''), count(*) FROM decisions
    WHERE opening_id IS NOT NULL AND (outcome = 'placed' OR (outcome = 'routed' AND withdrawn_at IS NULL))
    GROUP BY 1, 2;
