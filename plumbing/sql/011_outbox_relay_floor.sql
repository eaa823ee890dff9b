-- The relay's claim no longer walks the index entries of rows it already published
-- (plumbing/outbox.py). The mark names published_at, the predicate of outbox_unpublished, so
-- it is never heap-only and the index keeps an entry for every marked row until vacuum: at
-- 100,000 referrals routing's claim read 7,050 such entries on average, and one ran ~100 s.
--
-- The relay now claims above a floor: every id at or below it is final (its transaction
-- committed or never will) and published, parked, or waiting behind a parked row of its key.
-- The leader keeps it here, in the transaction that marks rows, so a new leader starts from
-- it and skips nothing. Releasing or discarding a parked row lowers it below that row and
-- counts in `releases`, in the same statement (plumbing/outbox.py release/discard): the leader
-- sees the count change in its next claim and claims from the lowered floor again.
CREATE TABLE IF NOT EXISTS outbox_relay (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    floor    bigint  NOT NULL DEFAULT 0,
    releases bigint  NOT NULL DEFAULT 0
);
INSERT INTO outbox_relay DEFAULT VALUES ON CONFLICT DO NOTHING;

-- The floor rests on this: a transaction has its transaction id before it takes an outbox
-- id (CASE evaluates its condition first), so once every transaction id older than one
-- taken after reading the sequence has ended, every id up to what was read is final.
-- Without it an INSERT takes the id first and its transaction id a moment later, and a
-- snapshot taken between the two does not show the transaction at all. CACHE 1 (the
-- default, said here because the floor depends on it): a session's cached ids would be
-- used by later transactions.
ALTER SEQUENCE outbox_id_seq CACHE 1;
ALTER TABLE outbox ALTER COLUMN id
    SET DEFAULT CASE WHEN pg_current_xact_id() IS NOT NULL THEN nextval('outbox_id_seq'::regclass) END;
