"""Routing's catalogue and decisions (schema `routing`)."""

from __future__ import annotations

import json
import operator
import time
from collections import Counter
from datetime import datetime, timedelta

import asyncpg

from contracts import events
from plumbing import heap
from services.routing.catalogue import NEAREST_POOL, Catalogue, Index
from services.routing.domain import (
    FAIR_SHARE_HOLD,
    ROUTED,
    UNMATCHED,
    Candidate,
    Opening,
    Routed,
    Unmatched,
    held_back,
    releases_slot,
    skills,
)

# Decisions that occupy a slot of their opening (fair share counts them per partner; the
# `decisions_held` index and the triggers keeping `held_slots` have this predicate): a routing
# in progress, and a placement for good (the person holds the job, even if the partner
# withdraws the referral afterwards).
HOLDS_SLOT = "(outcome = 'placed' OR (outcome = 'routed' AND withdrawn_at IS NULL))"


async def upsert_opening(
    conn: asyncpg.Connection, event: events.OpeningPostedV1 | events.OpeningUpdatedV1, at: datetime
) -> None:
    """The posting as it now is; a posted event that comes after an update changes nothing."""
    posted = isinstance(event, events.OpeningPostedV1)
    await conn.execute(
        "INSERT INTO openings (opening_id, employer_id, title, onet_soc_code, required_skills, preferred_skills,"
        " capacity, posted_at, location, remote, required_credentials, degree_required, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        " ON CONFLICT (opening_id) DO UPDATE SET title = $3, onet_soc_code = $4, required_skills = $5,"
        " preferred_skills = $6, capacity = GREATEST($7, openings.routed_count), location = $9, remote = $10,"
        " required_credentials = $11, degree_required = $12, updated_at = $13"
        " WHERE NOT $14 AND (openings.updated_at IS NULL OR openings.updated_at <= $13)",
        event.opening_id,
        event.employer_id,
        event.title,
        event.onet_soc_code,
        sorted(skills(event.required_skills)),
        sorted(skills(event.preferred_skills)),
        event.capacity,
        at,
        event.location,
        event.remote,
        json.dumps([r.model_dump() for r in event.required_credentials]),
        event.degree_required.value if event.degree_required else None,
        None if posted else at,
        posted,
    )


async def close_opening(conn: asyncpg.Connection, event: events.OpeningClosedV1) -> None:
    await conn.execute(
        "UPDATE openings SET state = $2, updated_at = $3 WHERE opening_id = $1", event.opening_id, event.reason.value,
        event.closed_at,
    )


def _opening(r: asyncpg.Record, taken_by: dict[str, int]) -> Opening:
    return Opening(
        opening_id=r["opening_id"],
        employer_id=r["employer_id"],
        title=r["title"],
        onet_soc_code=r["onet_soc_code"],
        required=frozenset(r["required_skills"]),
        preferred=frozenset(r["preferred_skills"]),
        remaining=r["capacity"] - r["routed_count"],
        capacity=r["capacity"],
        location=r["location"],
        remote=r["remote"],
        credentials=tuple(events.CredentialRequirement(**c) for c in json.loads(r["required_credentials"])),
        degree=events.DegreeLevel(r["degree_required"]) if r["degree_required"] else None,
        posted_at=r["posted_at"],
        taken_by=taken_by,
    )


async def openings_for(conn: asyncpg.Connection, candidate: Candidate, *, nearest: bool = False) -> list[Opening]:
    """The open openings a decision about `candidate` needs, read without locks (`take_slot`
    re-checks the chosen one under its row lock).

    First only those whose required skills the candidate covers (`<@`, the only ones it can
    go to: few, through the GIN index). With `nearest`, for an unmatched decision: the
    openings sharing the most required skills with it (`&&`), at most NEAREST_POOL.
    """
    skills_ = sorted(candidate.skills)
    target = candidate.target_onet_soc_code
    if not nearest:
        rows = await conn.fetch(
            "SELECT * FROM openings WHERE state = 'open' AND required_skills <@ $1::text[]"
            " AND ($2::text IS NULL OR left(onet_soc_code, 7) = left($2, 7))",
            skills_,
            target,
        )
    else:
        rows = await conn.fetch(
            "SELECT o.* FROM openings o WHERE state = 'open' AND required_skills && $1::text[]"
            " AND ($2::text IS NULL OR left(onet_soc_code, 7) = left($2, 7))"
            " ORDER BY (SELECT count(*) FROM unnest(o.required_skills) AS s WHERE s = ANY($1::text[])) DESC,"
            " cardinality(o.required_skills), o.opening_id LIMIT $3",
            skills_,
            target,
            NEAREST_POOL,
        )
    held = await conn.fetch(
        "SELECT opening_id, partner_id, n FROM held_slots WHERE opening_id = ANY($1::text[])",
        [r["opening_id"] for r in rows],
    )
    taken: dict[str, dict[str, int]] = {}
    for h in held:
        taken.setdefault(h["opening_id"], {})[h["partner_id"]] = h["n"]
    return [_opening(r, taken.get(r["opening_id"], {})) for r in rows]


async def take_slot(conn: asyncpg.Connection, candidate: Candidate, opening_id: str, now: datetime) -> bool:
    """Take a slot of the opening for the candidate if it is still open, has one, and the
    fair-share rule still allows it: re-checked under the opening's row lock, so concurrent
    decisions can neither overfill it nor exceed a partner's share."""
    row = await conn.fetchrow("SELECT * FROM openings WHERE opening_id = $1 FOR UPDATE", opening_id)
    if row is None or row["state"] != "open" or row["routed_count"] >= row["capacity"]:
        return False
    held = await conn.fetchval(
        "SELECT coalesce((SELECT n FROM held_slots WHERE opening_id = $1 AND partner_id = $2), 0)",
        opening_id,
        candidate.partner_id,
    )
    if held_back(candidate, _opening(row, {candidate.partner_id: held}), now):
        return False
    await conn.execute("UPDATE openings SET routed_count = routed_count + 1 WHERE opening_id = $1", opening_id)
    return True


async def claim(
    conn: asyncpg.Connection, candidate: Candidate, candidate_id: str, credentials: list[events.Credential]
) -> bool:
    """Claim the first decision on a referral (as unmatched until decided); False if a decision
    or a withdrawal is already there, so a referral is never decided twice from its submission."""
    return bool(
        await conn.fetchval(
            "INSERT INTO decisions (referral_id, partner_id, candidate_id, outcome, target_onet_soc_code,"
            " target_opening_id, credentials, degree, location, skills, credential_list)"
            " VALUES ($1, $2, $3, 'unmatched', $4, $5, $6, $7, $8, $9, $10)"
            " ON CONFLICT (referral_id) DO NOTHING RETURNING 1",
            candidate.referral_id,
            candidate.partner_id,
            candidate_id,
            candidate.target_onet_soc_code,
            candidate.target_opening_id,
            *_profile(candidate, credentials),
        )
    )


def _profile(candidate: Candidate, credentials: list[events.Credential]) -> tuple[object, ...]:
    """The columns (credentials, degree, location, skills, credential_list) a later decision needs."""
    *columns, credential_list = _profile_values(candidate, credentials)
    return (*columns, json.dumps(credential_list))


def _profile_values(candidate: Candidate, credentials: list[events.Credential]) -> tuple[object, ...]:
    """`_profile` with the credential list as JSON values, not text: the batch statements put
    it in their own JSON document (it had been written, read back and written again)."""
    return (
        sorted(candidate.credentials),
        candidate.degree.value if candidate.degree else None,
        candidate.location,
        sorted(candidate.skills),
        [c.model_dump(mode="json") for c in credentials],
    )


async def record(conn: asyncpg.Connection, referral_id: str, decision: Routed | Unmatched, attempt: int) -> None:
    """Store a decision on a claimed referral (its slot, if routed, is already taken)."""
    routed = isinstance(decision, Routed)
    await conn.execute(
        "UPDATE decisions SET outcome = $2, opening_id = $3, score = $4, attempt = $5, decided_at = now()"
        " WHERE referral_id = $1",
        referral_id,
        ROUTED if routed else UNMATCHED,
        decision.opening.opening_id if routed else None,
        decision.score if routed else None,
        attempt,
    )


async def update_profile(conn: asyncpg.Connection, candidate: Candidate, credentials: list[events.Credential]) -> None:
    await conn.execute(
        "UPDATE decisions SET credentials = $2, degree = $3, location = $4, skills = $5, credential_list = $6"
        " WHERE referral_id = $1",
        candidate.referral_id,
        *_profile(candidate, credentials),
    )


async def waiting_for(
    conn: asyncpg.Connection, opening_id: str, max_attempts: int, limit: int
) -> list[tuple[Candidate, asyncpg.Record]]:
    """Unmatched referrals, oldest first, whose skills cover the opening's required skills,
    whose target allows it and whose earlier employers do not include the opening's, with
    routing attempts left; locked (others skip them)."""
    rows = await conn.fetch(
        """
        SELECT d.* FROM decisions d, openings o
        WHERE o.opening_id = $1 AND d.outcome = 'unmatched' AND d.withdrawn_at IS NULL AND d.attempt < $2
          AND d.skills @> o.required_skills AND NOT (o.employer_id = ANY(d.declined_by))
          AND (d.target_onet_soc_code IS NULL OR left(d.target_onet_soc_code, 7) = left(o.onet_soc_code, 7))
        ORDER BY d.decided_at, d.referral_id
        LIMIT $3
        FOR UPDATE OF d SKIP LOCKED
        """,
        opening_id,
        max_attempts,
        limit,
    )
    return [(candidate_of(r), r) for r in rows]


def candidate_of(row: asyncpg.Record) -> Candidate:
    """The referral as a later decision sees it: the profile kept with its decision."""
    return Candidate(
        referral_id=row["referral_id"],
        skills=frozenset(row["skills"]),
        target_onet_soc_code=row["target_onet_soc_code"],
        target_opening_id=row["target_opening_id"],
        partner_id=row["partner_id"] or "",
        credentials=frozenset(row["credentials"]),
        degree=events.DegreeLevel(row["degree"]) if row["degree"] else None,
        location=row["location"],
        excluded_employers=frozenset(row["declined_by"]),
    )


def credential_list(row: asyncpg.Record) -> list[events.Credential]:
    return [events.Credential.model_validate(c) for c in json.loads(row["credential_list"])]


async def holds_ended(conn: asyncpg.Connection, now: datetime, hold: timedelta, limit: int) -> list[asyncpg.Record]:
    """Open openings whose fair-share hold has ended and that were not swept yet; marked swept."""
    return await conn.fetch(
        "UPDATE openings SET hold_released = true WHERE opening_id IN ("
        "  SELECT opening_id FROM openings WHERE state = 'open' AND NOT hold_released AND posted_at + $2 <= $1"
        "  ORDER BY posted_at, opening_id LIMIT $3 FOR UPDATE SKIP LOCKED)"
        " RETURNING opening_id, capacity",
        now,
        hold,
        limit,
    )


async def decision_for_update(conn: asyncpg.Connection, referral_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM decisions WHERE referral_id = $1 FOR UPDATE", referral_id)


async def decline(conn: asyncpg.Connection, referral_id: str, employer_id: str, opening_id: str) -> None:
    """The employer declined the referral routed to its opening: the slot is free again, the
    employer is never chosen again for it, and it stays declined unless decided again."""
    await conn.execute(
        "UPDATE decisions SET outcome = 'declined', declined_by = array_append(declined_by, $2)"
        " WHERE referral_id = $1",
        referral_id,
        employer_id,
    )
    await conn.execute("UPDATE openings SET routed_count = routed_count - 1 WHERE opening_id = $1", opening_id)


async def place(conn: asyncpg.Connection, referral_id: str, opening_id: str, *, retake_slot: bool) -> None:
    """The referral was placed at the opening: its slot is never given back. `retake_slot`: a
    withdrawal gave it back before routing learnt of the placement, so it is taken again, even
    if another referral took it meanwhile (the routed count may then exceed the capacity: the
    opening has no slot until enough referrals in progress there end; migration 005)."""
    await conn.execute("UPDATE decisions SET outcome = 'placed' WHERE referral_id = $1", referral_id)
    if retake_slot:
        await conn.execute("UPDATE openings SET routed_count = routed_count + 1 WHERE opening_id = $1", opening_id)


async def end_with_offer_declined(conn: asyncpg.Connection, referral_id: str, opening_id: str, *, free_slot: bool) -> None:
    """The candidate turned the offer down: the referral ends there, its slot free (`free_slot`)
    unless a withdrawal gave it back already."""
    await conn.execute("UPDATE decisions SET outcome = 'offer_declined' WHERE referral_id = $1", referral_id)
    if free_slot:
        await conn.execute("UPDATE openings SET routed_count = routed_count - 1 WHERE opening_id = $1", opening_id)


async def withdraw(conn: asyncpg.Connection, referral_ids: list[str], at: datetime, reason: str) -> list[str]:
    """Mark the referrals withdrawn and give back the slots the routed ones took.

    A referral routing has not decided yet gets a withdrawn row, so its submitted event
    (arriving later, or again under another event id) is never routed. Rows are locked in
    referral order and openings updated in opening order, the order every other writer
    uses, so concurrent decisions wait instead of deadlocking. Returns the openings that
    got a slot back (empty when everything was withdrawn before: idempotent).
    """
    ids = sorted(set(referral_ids))
    await conn.execute(
        "INSERT INTO decisions (referral_id, outcome, withdrawn_at, withdrawal_reason)"
        " SELECT r, 'withdrawn', $2, $3 FROM unnest($1::text[]) AS r ORDER BY r"
        " ON CONFLICT (referral_id) DO NOTHING",
        ids,
        at,
        reason,
    )
    rows = await conn.fetch(
        "SELECT referral_id, outcome, opening_id, withdrawn_at FROM decisions"
        " WHERE referral_id = ANY($1) ORDER BY referral_id FOR UPDATE",
        ids,
    )
    pending = [r for r in rows if r["withdrawn_at"] is None]
    await conn.execute(
        "UPDATE decisions SET withdrawn_at = $2, withdrawal_reason = $3 WHERE referral_id = ANY($1)",
        [r["referral_id"] for r in pending],
        at,
        reason,
    )
    released = Counter(r["opening_id"] for r in rows if releases_slot(r["outcome"], r["withdrawn_at"] is not None))
    for opening_id in sorted(released):
        await conn.execute(
            "UPDATE openings SET routed_count = routed_count - $2 WHERE opening_id = $1",
            opening_id,
            released[opening_id],
        )
    return sorted(released.elements())


async def forget_candidate(conn: asyncpg.Connection, candidate_id: str | None, referral_ids: list[str]) -> int:
    """Drop the erased person's pseudonymous id and profile from the referrals' decisions (and,
    given the candidate, from every decision about them); counts stay."""
    result = await conn.execute(
        "UPDATE decisions SET candidate_id = NULL, skills = '{}', credentials = '{}', degree = NULL, location = NULL,"
        " credential_list = '[]'"
        " WHERE (referral_id = ANY($1) OR candidate_id = $2) AND candidate_id IS NOT NULL",
        referral_ids,
        candidate_id,
    )
    return int(result.split()[-1])


async def catalogue(pool: asyncpg.Pool) -> list[dict]:
    rows = await pool.fetch(
        "SELECT opening_id, employer_id, title, onet_soc_code, required_skills, preferred_skills, capacity,"
        " routed_count, state, location, remote, required_credentials, degree_required FROM openings"
        " ORDER BY posted_at, opening_id"
    )
    return [{**dict(r), "required_credentials": json.loads(r["required_credentials"])} for r in rows]


# --- a batch of first decisions, set-based (handlers.on_referrals_submitted) ---------------


async def claim_many(conn: asyncpg.Connection, claims: list[tuple[Candidate, str, list[events.Credential]]]) -> set[str]:
    """`claim` for many referrals in one statement (rows locked in referral order, as every
    writer does); returns the referral ids claimed now."""
    rows = []
    for candidate, candidate_id, credentials in sorted(claims, key=lambda c: c[0].referral_id):
        creds, degree, location, skills_, credential_list_ = _profile_values(candidate, credentials)
        rows.append({
            "referral_id": candidate.referral_id, "partner_id": candidate.partner_id, "candidate_id": candidate_id,
            "target_onet_soc_code": candidate.target_onet_soc_code, "target_opening_id": candidate.target_opening_id,
            "credentials": creds, "degree": degree, "location": location, "skills": skills_,
            "credential_list": credential_list_,
        })
    claimed = await conn.fetch(
        "INSERT INTO decisions (referral_id, partner_id, candidate_id, outcome, target_onet_soc_code,"
        " target_opening_id, credentials, degree, location, skills, credential_list)"
        " SELECT r.referral_id, r.partner_id, r.candidate_id, 'unmatched', r.target_onet_soc_code,"
        " r.target_opening_id, ARRAY(SELECT jsonb_array_elements_text(r.credentials)), r.degree, r.location,"
        " ARRAY(SELECT jsonb_array_elements_text(r.skills)), r.credential_list"
        " FROM jsonb_to_recordset($1::jsonb) AS r(referral_id text, partner_id text, candidate_id text,"
        " target_onet_soc_code text, target_opening_id text, credentials jsonb, degree text, location text,"
        " skills jsonb, credential_list jsonb)"
        " ON CONFLICT (referral_id) DO NOTHING RETURNING referral_id",
        json.dumps(rows),
    )
    return {r["referral_id"] for r in claimed}


async def claim_decided(
    conn: asyncpg.Connection, decided: list[tuple[Candidate, str, list[events.Credential], Routed | Unmatched]]
) -> set[str]:
    """`claim_many` and then `record` of each, in one statement: each referral's first decision written
    in its final form (attempt 1), unless a decision or a withdrawal is there already. Rows
    are inserted in referral order, as every writer locks them; returns the ids inserted.

    One row version instead of an inserted one and its update (which, its outcome and
    opening indexed, was no heap-only update: every index of the table got a second entry):
    the pair was 6 % of PostgreSQL's execution time in the pipeline and 2.3 KB of WAL a
    referral. The scores travel as `real[]` beside the JSON, so they are stored exactly as
    `record` stores them (a float4 from the Python float, not from its decimal text)."""
    rows, scores = [], []
    for candidate, candidate_id, credentials, decision in sorted(decided, key=lambda c: c[0].referral_id):
        creds, degree, location, skills_, credential_list_ = _profile_values(candidate, credentials)
        is_routed = isinstance(decision, Routed)
        rows.append({
            "referral_id": candidate.referral_id, "partner_id": candidate.partner_id, "candidate_id": candidate_id,
            "outcome": ROUTED if is_routed else UNMATCHED,
            "opening_id": decision.opening.opening_id if is_routed else None,
            "target_onet_soc_code": candidate.target_onet_soc_code, "target_opening_id": candidate.target_opening_id,
            "credentials": creds, "degree": degree, "location": location, "skills": skills_,
            "credential_list": credential_list_,
        })
        scores.append(decision.score if is_routed else None)
    inserted = await conn.fetch(
        "INSERT INTO decisions (referral_id, partner_id, candidate_id, outcome, opening_id, score, attempt,"
        " target_onet_soc_code, target_opening_id, credentials, degree, location, skills, credential_list)"
        " SELECT r.referral_id, r.partner_id, r.candidate_id, r.outcome, r.opening_id, r.score, 1,"
        " r.target_onet_soc_code, r.target_opening_id, ARRAY(SELECT jsonb_array_elements_text(r.credentials)),"
        " r.degree, r.location, ARRAY(SELECT jsonb_array_elements_text(r.skills)), r.credential_list"
        " FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (referral_id text, partner_id text,"
        " candidate_id text, outcome text, opening_id text, target_onet_soc_code text, target_opening_id text,"
        " credentials jsonb, degree text, location text, skills jsonb, credential_list jsonb),"
        " unnest($2::real[])) WITH ORDINALITY AS r(referral_id, partner_id, candidate_id, outcome, opening_id,"
        " target_onet_soc_code, target_opening_id, credentials, degree, location, skills, credential_list, score, n)"
        " ORDER BY r.n"
        " ON CONFLICT (referral_id) DO NOTHING RETURNING referral_id",
        json.dumps(rows),
        scores,
    )
    return {r["referral_id"] for r in inserted}


# A catalogue whose open openings give the same count and sum of their versions' hashes is
# the one the process indexed (a sum, so the order PostgreSQL reads rows in does not matter).
# `posting_version` is drawn anew by every change of a posting (migration 007): hashing the
# integer costs PostgreSQL a fraction of hashing the id and times as text, which it did before.
_FINGERPRINT = "coalesce(sum(hashint8(posting_version)), 0)"


# The batch's partners' held slots in young openings with a slot left ($1: posted after, $2: partners).
_HELD = (
    "SELECT h.opening_id, h.partner_id, h.n FROM held_slots h JOIN openings o USING (opening_id)"
    " WHERE o.state = 'open' AND o.posted_at > $1 AND o.routed_count < o.capacity"
    " AND h.partner_id = ANY($2::text[])"
)
# The open openings' fingerprint and slots, and `_HELD` as arrays, in one row.
_CATALOGUE = f"""
SELECT c.*, h.* FROM (
    SELECT count(*) AS n, {_FINGERPRINT} AS version, array_agg(opening_id) AS ids,
        array_agg(capacity) AS capacity, array_agg(routed_count) AS routed FROM openings WHERE state = 'open'
) c, (
    SELECT array_agg(opening_id) AS held_ids, array_agg(partner_id) AS held_partners, array_agg(n) AS held_n
    FROM ({_HELD}) held
) h
"""

SETTLE_EVERY_S = 300.0  # the most often a new index is moved out of the collector's way (`plumbing.heap.settle`)


class Postings:
    """Openings' postings parsed once per process, and the `Index` built from the open ones.

    Every change of a posting, closing included, gives it a new `posting_version` (migration
    007); so each batch asks PostgreSQL for the open openings' fingerprint (their count and the
    sum of their versions' hashes) with their slots, as arrays in one row, and rebuilds
    the index (parsing only the postings it has not seen in that version) only when the
    fingerprint is not the one indexed. Reading 5,000 openings row by row cost ~20 ms of Python
    a batch."""

    def __init__(self, settle_every_s: float = SETTLE_EVERY_S) -> None:
        self._cache: dict[str, tuple[int, Opening]] = {}  # opening id -> (version, posting)
        self._index: Index | None = None
        self._fingerprint: tuple[int, int] | None = None
        self._settle_every_s = settle_every_s
        self._settled_at: float | None = None  # time.monotonic() of the last heap.settle()

    async def catalogue(
        self, conn: asyncpg.Connection, candidates: list[Candidate], earliest: datetime
    ) -> tuple[Catalogue, dict[str, tuple[int, int]]]:
        """Every open opening with its slots now, read without locks; and the (capacity, routed
        count) each was seen with, for `take_slots` to check. (A batch's candidates together
        share a required skill with nearly every opening, so all are read.)"""
        # Partners' held slots matter only while an opening is young (the fair-share hold) and
        # has a slot left (a decision passes over a full opening before asking whose slots it
        # holds), and only the deciding candidate's partner's (`decide_in`, `domain.held_back`):
        # the batch's partners', not every partner's (the single-request path's small batches
        # read about 760 rows each for the CSV's partner at 5,000 openings). The counts are kept
        # per opening and partner as decisions change (migration 006), so this reads a row per
        # partner there, not every decision holding a slot. Read with the fingerprint and the
        # slots, in one statement (one snapshot, one round trip a batch where there were two).
        earliest_posted = earliest - FAIR_SHARE_HOLD
        partners = sorted({c.partner_id or "" for c in candidates})  # '': a decision without one (held_slots)
        row = await conn.fetchrow(_CATALOGUE, earliest_posted, partners)
        ids, capacity, routed = row["ids"] or [], row["capacity"] or [], row["routed"] or []
        held = zip(row["held_ids"] or [], row["held_partners"] or [], row["held_n"] or [], strict=True)
        if self._index is None or self._fingerprint != (row["n"], int(row["version"])):
            ids, capacity, routed = await self._reindex(conn)
            # The held slots read after the slots, as a decision is counted in both: one that
            # committed in between then shows in the held counts (the fair share stays safe).
            held = map(tuple, await conn.fetch(_HELD, earliest_posted, partners))
        taken: dict[str, dict[str, int]] = {}
        for opening_id, partner_id, n in held:
            taken.setdefault(opening_id, {})[partner_id] = n
        assert self._index is not None
        remaining = dict(zip(ids, map(operator.sub, capacity, routed), strict=True))
        seen = dict(zip(ids, zip(capacity, routed, strict=True), strict=True))
        return Catalogue.of(self._index, remaining, taken), seen

    async def _reindex(self, conn: asyncpg.Connection) -> tuple[list[str], list[int], list[int]]:
        """The open openings row by row (postings not cached in their version read whole), the
        index built from them and their fingerprint; their slots as they were then."""
        rows = await conn.fetch(
            "SELECT opening_id, capacity, routed_count, posting_version AS version, hashint8(posting_version) AS hash"
            " FROM openings WHERE state = 'open'"
        )
        cache = self._cache
        stale = [r["opening_id"] for r in rows if r["version"] != cache.get(r["opening_id"], (None,))[0]]
        if stale:
            for full in await conn.fetch("SELECT * FROM openings WHERE opening_id = ANY($1::text[])", stale):
                cache[full["opening_id"]] = (full["posting_version"], _opening(full, {}))
        ids = [r["opening_id"] for r in rows]
        self._index = Index({i: cache[i][1] for i in ids})
        self._fingerprint = (len(rows), sum(r["hash"] for r in rows))
        if self._settled_at is None or time.monotonic() - self._settled_at >= self._settle_every_s:
            heap.settle()  # at most once per SETTLE_EVERY_S: it costs a full collection
            self._settled_at = time.monotonic()
        return ids, [r["capacity"] for r in rows], [r["routed_count"] for r in rows]


async def take_slots(conn: asyncpg.Connection, taken: dict[str, int], seen: dict[str, tuple[int, int]]) -> bool:
    """Take the slots a batch chose, under the chosen openings' row locks (opening order, as
    every writer), if each is still open with the capacity and routed count the batch saw;
    else take none and return False (another process routed or freed a slot meanwhile)."""
    if not taken:
        return True
    ids = sorted(taken)
    # FOR NO KEY UPDATE: every writer of these columns takes at least that lock, so they wait
    # for each other as before, while the FOR KEY SHARE locks that inserting decisions which
    # name an opening takes (the foreign key; `claim_decided`, before this) do not make two
    # batches wait for each other in referral order.
    rows = await conn.fetch(
        "SELECT opening_id, state, capacity, routed_count FROM openings WHERE opening_id = ANY($1::text[])"
        " ORDER BY opening_id FOR NO KEY UPDATE",
        ids,
    )
    now = {r["opening_id"]: (r["state"], r["capacity"], r["routed_count"]) for r in rows}
    if any(now.get(i) != ("open", *seen[i]) for i in ids):
        return False
    await conn.execute(
        "UPDATE openings o SET routed_count = o.routed_count + v.n"
        " FROM unnest($1::text[], $2::int[]) AS v(opening_id, n) WHERE o.opening_id = v.opening_id",
        ids,
        [taken[i] for i in ids],
    )
    return True
