"""The gateway's tables (schema `employer_gateway`): openings, routed referrals, interviews."""

from __future__ import annotations

import json
from datetime import date, datetime

import asyncpg
from pydantic import BaseModel

from contracts import events
from services.employer_gateway.domain import (
    IN_PROGRESS,
    Employment,
    InboxEntry,
    Interview,
    Notice,
    Offer,
    Opening,
    OpeningState,
    Referral,
    State,
    Terms,
)


async def insert_opening(conn: asyncpg.Connection, event: events.OpeningPostedV1) -> None:
    await conn.execute(
        "INSERT INTO openings (opening_id, employer_id, posting) VALUES ($1, $2, $3)",
        event.opening_id,
        event.employer_id,
        event.model_dump_json(),
    )


async def list_openings(pool: asyncpg.Pool, employer_id: str) -> list[dict]:
    rows = await pool.fetch(
        "SELECT * FROM openings WHERE employer_id = $1 ORDER BY posted_at, opening_id", employer_id
    )
    return [opening_view(r) for r in rows]


def opening_view(row: asyncpg.Record) -> dict:
    """An opening as the employer sees it: the whole posting (1.1 fields filled in for older
    rows), its state and when it was posted, last updated and closed."""
    posting = events.OpeningUpdatedV1.model_validate_json(row["posting"]).model_dump(mode="json")
    when = {k: row[k].isoformat() if row[k] else None for k in ("posted_at", "updated_at", "closed_at")}
    return {**posting, "state": row["state"], **when}


async def load_opening(conn: asyncpg.Connection, opening_id: str, employer_id: str) -> Opening | None:
    """The employer's opening, locked for update (so changes to one opening happen one at a
    time); None if it is not theirs."""
    row = await conn.fetchrow(
        "SELECT posting, state, closed_at FROM openings WHERE opening_id = $1 AND employer_id = $2 FOR UPDATE",
        opening_id,
        employer_id,
    )
    if row is None:
        return None
    posting = events.OpeningUpdatedV1.model_validate_json(row["posting"])
    return Opening(posting, OpeningState(row["state"]), row["closed_at"])


async def save_opening(conn: asyncpg.Connection, opening: Opening) -> dict:
    """Store the opening's posting and state; returns it as the employer sees it."""
    row = await conn.fetchrow(
        "UPDATE openings SET posting = $2, state = $3, closed_at = $4, updated_at = now()"
        " WHERE opening_id = $1 RETURNING *",
        opening.posting.opening_id,
        opening.posting.model_dump_json(),
        opening.state.value,
        opening.closed_at,
    )
    return opening_view(row)


async def routed_to(conn: asyncpg.Connection, opening_id: str) -> int:
    """Referrals routed to the opening and still in play (neither withdrawn nor declined)."""
    return await conn.fetchval(
        "SELECT count(*) FROM referrals WHERE opening_id = $1 AND state NOT IN ('withdrawn', 'declined', 'offer_declined')",
        opening_id,
    )


async def lock_referral(conn: asyncpg.Connection, referral_id: str) -> None:
    """Serialize this transaction with every other one about the referral (until it ends).

    Routing decisions, withdrawals, updates and erasures of one referral arrive on three
    topics, applied by concurrent consumers; without this, an erasure could miss a routed
    row inserted (not yet committed) at the same moment, and the other way round.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('employer_gateway.referral:' || $1, 0))", referral_id)


async def lock_referrals(conn: asyncpg.Connection, referral_ids: list[str]) -> None:
    """`lock_referral` for several in one statement, in one order (sorted), so two
    transactions locking overlapping sets this way cannot deadlock."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('employer_gateway.referral:' || r, 0))"
        " FROM (SELECT r FROM unnest($1::text[]) AS r ORDER BY r) AS ordered",
        sorted(set(referral_ids)),
    )


async def insert_routed(
    conn: asyncpg.Connection, event: events.ReferralRoutedV1, routed_at: datetime, entry: InboxEntry
) -> bool:
    """Put the routed referral in the employer's inbox; False if it is there already (a repeat)."""
    return bool(await conn.fetchval(
        "INSERT INTO referrals (referral_id, employer_id, opening_id, partner_id, candidate_id, state, routing,"
        " routed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (referral_id, employer_id) DO NOTHING"
        " RETURNING 1",
        event.referral_id,
        event.employer_id,
        event.opening_id,
        event.partner_id,
        entry.candidate_id,
        entry.state.value,
        json.dumps(entry.routing),
        routed_at,
    ))


async def insert_routed_many(
    conn: asyncpg.Connection, rows: list[tuple[events.ReferralRoutedV1, datetime, InboxEntry]]
) -> set[tuple[str, str]]:
    """`insert_routed` for several, in their order (the inbox's `seq`); returns the
    (referral id, employer id) of those inserted (not there already, first of repeats)."""
    inserted = await conn.fetch(
        "INSERT INTO referrals (referral_id, employer_id, opening_id, partner_id, candidate_id, state, routing,"
        " routed_at)"
        " SELECT u.r, u.e, u.o, u.p, u.c, u.s, u.g::jsonb, u.t"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],"
        "   $8::timestamptz[]) WITH ORDINALITY AS u(r, e, o, p, c, s, g, t, n)"
        " ORDER BY u.n"
        " ON CONFLICT (referral_id, employer_id) DO NOTHING RETURNING referral_id, employer_id",
        [e.referral_id for e, _, _ in rows],
        [e.employer_id for e, _, _ in rows],
        [e.opening_id for e, _, _ in rows],
        [e.partner_id for e, _, _ in rows],
        [entry.candidate_id for _, _, entry in rows],
        [entry.state.value for _, _, entry in rows],
        [json.dumps(entry.routing) for _, _, entry in rows],
        [at for _, at, _ in rows],
    )
    return {(r["referral_id"], r["employer_id"]) for r in inserted}


async def opening_state(conn: asyncpg.Connection, opening_id: str) -> OpeningState | None:
    state = await conn.fetchval("SELECT state FROM openings WHERE opening_id = $1", opening_id)
    return OpeningState(state) if state else None


async def in_progress_at(conn: asyncpg.Connection, opening_id: str) -> list[tuple[Referral, str]]:
    """The referrals routed to the opening and not yet final, locked, in referral order."""
    ids = await conn.fetch(
        "SELECT referral_id, employer_id FROM referrals WHERE opening_id = $1 AND state = ANY($2)"
        " ORDER BY referral_id",
        opening_id,
        [s.value for s in IN_PROGRESS],
    )
    found = [await load(conn, r["referral_id"], r["employer_id"]) for r in ids]
    return [f for f in found if f is not None]


async def opening_states(conn: asyncpg.Connection, opening_ids: list[str]) -> dict[str, OpeningState]:
    """The state of each of the openings the gateway has (others are left out)."""
    rows = await conn.fetch(
        "SELECT opening_id, state FROM openings WHERE opening_id = ANY($1::text[])", sorted(set(opening_ids))
    )
    return {r["opening_id"]: OpeningState(r["state"]) for r in rows}


async def notice(conn: asyncpg.Connection, referral_id: str) -> Notice:
    row = await conn.fetchrow("SELECT * FROM referral_notices WHERE referral_id = $1", referral_id)
    return Notice() if row is None else _notice_of(row)


async def notices(conn: asyncpg.Connection, referral_ids: list[str]) -> dict[str, Notice]:
    """The notices of those of the referrals that have one."""
    rows = await conn.fetch(
        "SELECT * FROM referral_notices WHERE referral_id = ANY($1::text[])", sorted(set(referral_ids))
    )
    return {r["referral_id"]: _notice_of(r) for r in rows}


def _notice_of(row: asyncpg.Record) -> Notice:
    return Notice(
        withdrawn=row["withdrawn_at"] is not None,
        erased=row["erased_at"] is not None,
        profile=json.loads(row["profile"]) if row["profile"] is not None else None,
    )


async def note_withdrawal(conn: asyncpg.Connection, referral_id: str, at: datetime, reason: str) -> None:
    await conn.execute(
        "INSERT INTO referral_notices (referral_id, withdrawn_at, withdrawal_reason) VALUES ($1, $2, $3)"
        " ON CONFLICT (referral_id) DO UPDATE SET"
        "   withdrawn_at = COALESCE(referral_notices.withdrawn_at, EXCLUDED.withdrawn_at),"
        "   withdrawal_reason = COALESCE(referral_notices.withdrawal_reason, EXCLUDED.withdrawal_reason)",
        referral_id,
        at,
        reason,
    )


async def note_profile(conn: asyncpg.Connection, referral_id: str, profile: dict, at: datetime) -> bool:
    """Keep the profile if it is the newest seen for a referral whose candidate is not erased."""
    return bool(
        await conn.fetchval(
            "INSERT INTO referral_notices (referral_id, profile, profile_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (referral_id) DO UPDATE SET profile = EXCLUDED.profile, profile_at = EXCLUDED.profile_at"
            " WHERE referral_notices.erased_at IS NULL"
            "   AND (referral_notices.profile_at IS NULL OR referral_notices.profile_at <= EXCLUDED.profile_at)"
            " RETURNING 1",
            referral_id,
            json.dumps(profile),
            at,
        )
    )


async def note_erasure(conn: asyncpg.Connection, referral_ids: list[str], at: datetime) -> None:
    await conn.execute(
        "INSERT INTO referral_notices (referral_id, erased_at) SELECT r, $2 FROM unnest($1::text[]) AS r ORDER BY r"
        " ON CONFLICT (referral_id) DO UPDATE SET"
        "   erased_at = COALESCE(referral_notices.erased_at, EXCLUDED.erased_at), profile = NULL, profile_at = NULL",
        referral_ids,
        at,
    )


async def referrals_of_candidate(conn: asyncpg.Connection, candidate_id: str) -> list[str]:
    return [r["referral_id"] for r in await conn.fetch("SELECT referral_id FROM referrals WHERE candidate_id = $1", candidate_id)]


async def stored_routings(conn: asyncpg.Connection, referral_id: str) -> list[tuple[str, str, dict]]:
    """(employer id, candidate id, stored routing decision) of each inbox the referral is in."""
    rows = await conn.fetch(
        "SELECT employer_id, candidate_id, routing FROM referrals WHERE referral_id = $1 ORDER BY employer_id",
        referral_id,
    )
    return [(r["employer_id"], r["candidate_id"], json.loads(r["routing"])) for r in rows]


async def set_routing(
    conn: asyncpg.Connection, referral_id: str, employer_id: str, candidate_id: str, routing: dict
) -> None:
    await conn.execute(
        "UPDATE referrals SET candidate_id = $3, routing = $4, updated_at = now()"
        " WHERE referral_id = $1 AND employer_id = $2",
        referral_id,
        employer_id,
        candidate_id,
        json.dumps(routing),
    )


async def load(conn: asyncpg.Connection, referral_id: str, employer_id: str) -> tuple[Referral, str] | None:
    """The employer's referral (locked for update) and its partner id; None if not theirs."""
    rows = await _load(conn, referral_id, employer_id)
    return rows[0] if rows else None


async def load_all(conn: asyncpg.Connection, referral_id: str) -> list[tuple[Referral, str]]:
    """The referral as each employer it was routed to has it (for intake's events), locked."""
    return await _load(conn, referral_id, None)


# The referrals rows with everything hanging off them, in one statement. `version` and `seen`
# tell whether the row locked is the one this statement's snapshot saw: locking may wait for
# another transaction's commit, and then the row is its newest version while the subqueries
# still see the snapshot. Every change to interviews, offers or employment also updates the
# referral's row (`save`), so equal ctids mean the children read are current too.
_CHILDREN = """
    (SELECT array_agg(ROW(i.interview_id, i.scheduled_for, i.mode, i.outcome, i.cancelled_by) ORDER BY i.interview_id)
       FROM interviews i WHERE i.referral_id = r.referral_id AND i.employer_id = r.employer_id) AS interviews,
    (SELECT array_agg(ROW(o.offer_id, o.terms, o.expires_on, o.declined_reason) ORDER BY o.created_at, o.offer_id)
       FROM offers o WHERE o.referral_id = r.referral_id AND o.employer_id = r.employer_id) AS offers,
    e.start_date, e.checked, e.separated_on, e.terms AS employment_terms, e.converted_on
"""
_FROM = " FROM referrals r LEFT JOIN employments e ON e.referral_id = r.referral_id AND e.employer_id = r.employer_id"
LOAD = (
    "SELECT r.ctid::text AS version,"
    " (SELECT s.ctid::text FROM referrals s WHERE s.referral_id = r.referral_id AND s.employer_id = r.employer_id)"
    " AS seen, r.referral_id, r.employer_id, r.opening_id, r.partner_id, r.state, r.decline_reason,"
    + _CHILDREN
    + _FROM
    + " WHERE r.referral_id = $1 AND ($2::text IS NULL OR r.employer_id = $2) ORDER BY r.employer_id FOR UPDATE OF r"
)


LOAD_MANY = (
    "SELECT r.ctid::text AS version,"
    " (SELECT s.ctid::text FROM referrals s WHERE s.referral_id = r.referral_id AND s.employer_id = r.employer_id)"
    " AS seen, r.referral_id, r.employer_id, r.opening_id, r.partner_id, r.state, r.decline_reason,"
    + _CHILDREN
    + _FROM
    + " WHERE (r.referral_id, r.employer_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
    " ORDER BY r.referral_id, r.employer_id FOR UPDATE OF r"
)


async def load_many(conn: asyncpg.Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[Referral, str]]:
    """`load` for several (referral id, employer id) in one statement, locked in that order;
    those found, by key."""
    keys = sorted(set(keys))
    args = ([k[0] for k in keys], [k[1] for k in keys])
    rows = await conn.fetch(LOAD_MANY, *args)
    if any(r["version"] != r["seen"] for r in rows):
        rows = await conn.fetch(LOAD_MANY, *args)  # as in `_load`: current now that the locks are held
    return {(row["referral_id"], row["employer_id"]): (referral_of(row), row["partner_id"]) for row in rows}


async def _load(conn: asyncpg.Connection, referral_id: str, employer_id: str | None) -> list[tuple[Referral, str]]:
    rows = await conn.fetch(LOAD, referral_id, employer_id)
    if any(r["version"] != r["seen"] for r in rows):
        # Changed while we waited for the lock: read again; holding the lock, it is current now.
        rows = await conn.fetch(LOAD, referral_id, employer_id)
    return [(referral_of(row), row["partner_id"]) for row in rows]


def referral_of(row: asyncpg.Record) -> Referral:
    """The domain's referral from a row of `LOAD` (or of the detail query: the same columns)."""
    referral = Referral(
        row["referral_id"],
        row["employer_id"],
        row["opening_id"],
        State(row["state"]),
        decline_reason=events.DeclineReason(row["decline_reason"]) if row["decline_reason"] else None,
    )
    for interview_id, scheduled_for, mode, outcome, cancelled_by in row["interviews"] or ():
        referral.interviews[interview_id] = Interview(
            interview_id,
            scheduled_for,
            events.InterviewMode(mode),
            events.InterviewOutcome(outcome) if outcome else None,
            events.CancelledBy(cancelled_by) if cancelled_by else None,
        )
    for offer_id, terms, expires_on, declined_reason in row["offers"] or ():
        referral.offers[offer_id] = Offer(
            offer_id,
            terms_from(json.loads(terms)),
            expires_on,
            events.OfferDeclineReason(declined_reason) if declined_reason else None,
        )
    if row["start_date"] is not None:
        checked = {int(days): still for days, still in json.loads(row["checked"]).items()}
        terms = row["employment_terms"]
        referral.employment = Employment(
            row["start_date"], checked, row["separated_on"], terms_from(json.loads(terms)) if terms else None,
            row["converted_on"],
        )
    return referral


def terms_from(doc: dict) -> Terms:
    """An offer's terms as stored. Offers stored before offer.extended 2.0 have no pay basis
    (their wage's unit gives it, as the contract's upcaster does) and none of 2.0's other fields
    (None: not said); their benefits are the basic three."""
    wage = events.Wage.model_validate(doc["wage"]) if doc.get("wage") is not None else None
    schedule = doc.get("schedule")
    end_date = doc.get("end_date")
    return Terms(
        job_title=doc["job_title"],
        onet_soc_code=doc["onet_soc_code"],
        wage=wage,
        hours_per_week=doc.get("hours_per_week"),
        employment_type=events.EmploymentKind(doc["employment_type"]),
        benefits=events.Benefits.model_validate(doc["benefits"]),
        start_date=date.fromisoformat(doc["start_date"]),
        pay_basis=events.PayBasis(doc["pay_basis"]) if "pay_basis" in doc else events.v1_pay_basis(doc["wage"]["unit"]),
        apprenticeship_registered=doc.get("apprenticeship_registered"),
        engagement_hours=doc.get("engagement_hours"),
        end_date=date.fromisoformat(end_date) if end_date else None,
        schedule=events.Schedule.model_validate(schedule) if schedule is not None else None,
    )


def _terms_json(terms: Terms) -> str:
    return json.dumps({name: _plain(value) for name, value in terms.fields().items()})


def _plain(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, date):
        return value.isoformat()
    return value


# The referral's row and everything hanging off it, in one statement. Rows whose values did
# not change are left as they are (no new row version for PostgreSQL to write and vacuum).
async def save(conn: asyncpg.Connection, referral: Referral) -> None:
    """Store the referral's state and everything hanging off it (interviews, offers, employment)."""
    await save_many(conn, [referral])


# Several referrals: each one's row and everything hanging off them, in one statement.
SAVE_MANY = """
WITH referral AS (
    UPDATE referrals r SET state = u.state, decline_reason = u.decline_reason, updated_at = now()
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(referral_id, employer_id, state, decline_reason)
    WHERE r.referral_id = u.referral_id AND r.employer_id = u.employer_id
), interview AS (
    INSERT INTO interviews AS i (interview_id, referral_id, employer_id, scheduled_for, mode, outcome, cancelled_by)
    SELECT * FROM unnest($5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::text[], $10::text[], $11::text[])
    ON CONFLICT (interview_id) DO UPDATE SET
        scheduled_for = EXCLUDED.scheduled_for, mode = EXCLUDED.mode, outcome = EXCLUDED.outcome,
        cancelled_by = EXCLUDED.cancelled_by
    WHERE (i.scheduled_for, i.mode, i.outcome, i.cancelled_by)
        IS DISTINCT FROM (EXCLUDED.scheduled_for, EXCLUDED.mode, EXCLUDED.outcome, EXCLUDED.cancelled_by)
), offer AS (
    INSERT INTO offers AS o (offer_id, referral_id, employer_id, terms, expires_on, declined_reason)
    SELECT u.offer_id, u.referral_id, u.employer_id, u.terms::jsonb, u.expires_on, u.declined_reason
    FROM unnest($12::text[], $13::text[], $14::text[], $15::text[], $16::date[], $17::text[])
        AS u(offer_id, referral_id, employer_id, terms, expires_on, declined_reason)
    ON CONFLICT (offer_id) DO UPDATE SET declined_reason = EXCLUDED.declined_reason
    WHERE o.declined_reason IS DISTINCT FROM EXCLUDED.declined_reason
), employment AS (
    INSERT INTO employments AS e (referral_id, employer_id, start_date, checked, separated_on, terms, converted_on)
    SELECT u.referral_id, u.employer_id, u.start_date, u.checked::jsonb, u.separated_on, u.terms::jsonb, u.converted_on
    FROM unnest($18::text[], $19::text[], $20::date[], $21::text[], $22::date[], $23::text[], $24::date[])
        AS u(referral_id, employer_id, start_date, checked, separated_on, terms, converted_on)
    ON CONFLICT (referral_id, employer_id) DO UPDATE SET
        checked = EXCLUDED.checked, separated_on = EXCLUDED.separated_on, terms = EXCLUDED.terms,
        converted_on = EXCLUDED.converted_on
    WHERE (e.checked, e.separated_on, e.terms, e.converted_on)
        IS DISTINCT FROM (EXCLUDED.checked, EXCLUDED.separated_on, EXCLUDED.terms, EXCLUDED.converted_on)
)
SELECT 1
"""


async def save_many(conn: asyncpg.Connection, referrals: list[Referral]) -> None:
    """Several referrals (each once), with what hangs off each, in one statement."""
    if not referrals:
        return
    interviews = [(r, i) for r in referrals for i in r.interviews.values()]
    offers = [(r, o) for r in referrals for o in r.offers.values()]
    employed = [(r, r.employment) for r in referrals if r.employment is not None]
    await conn.execute(
        SAVE_MANY,
        [r.referral_id for r in referrals],
        [r.employer_id for r in referrals],
        [r.state.value for r in referrals],
        [r.decline_reason.value if r.decline_reason else None for r in referrals],
        [i.interview_id for _, i in interviews],
        [r.referral_id for r, _ in interviews],
        [r.employer_id for r, _ in interviews],
        [i.scheduled_for for _, i in interviews],
        [i.mode.value for _, i in interviews],
        [i.outcome.value if i.outcome else None for _, i in interviews],
        [i.cancelled_by.value if i.cancelled_by else None for _, i in interviews],
        [o.offer_id for _, o in offers],
        [r.referral_id for r, _ in offers],
        [r.employer_id for r, _ in offers],
        [_terms_json(o.terms) for _, o in offers],
        [o.expires_on for _, o in offers],
        [o.declined.value if o.declined else None for _, o in offers],
        [r.referral_id for r, _ in employed],
        [r.employer_id for r, _ in employed],
        [e.start_date for _, e in employed],
        [json.dumps({str(days): still for days, still in sorted(e.checked.items())}) for _, e in employed],
        [e.separated_on for _, e in employed],
        [_terms_json(e.terms) if e.terms is not None else None for _, e in employed],
        [e.converted_on for _, e in employed],
    )


INBOX_COLUMNS = (
    "r.seq, r.referral_id, r.opening_id, r.partner_id, r.candidate_id, r.state, r.decline_reason, r.routing,"
    " r.routed_at, r.updated_at, r.stale_at"
)
# The candidate's sealed contact details, where they allowed employers to see them.
_CONTACT = (
    " LEFT JOIN contacts c ON c.referral_id = r.referral_id AND c.share_contact AND c.contact_sealed IS NOT NULL"
)


async def inbox_page(
    conn: asyncpg.Connection | asyncpg.Pool,
    employer_id: str,
    *,
    state: str | None,
    opening_id: str | None,
    after: int | None,
    limit: int,
) -> list[tuple[dict, str | None]]:
    """The employer's routed referrals in arrival order, paged by the `seq` cursor; each with
    the candidate's sealed contact details (JSON) if they allowed employers to see them."""
    rows = await conn.fetch(
        f"SELECT {INBOX_COLUMNS}, c.contact_sealed FROM referrals r{_CONTACT}"
        " WHERE r.employer_id = $1 AND ($2::text IS NULL OR r.state = $2) AND ($3::text IS NULL OR r.opening_id = $3)"
        " AND r.seq > coalesce($4::bigint, 0)"
        " ORDER BY r.seq LIMIT $5",
        employer_id,
        state,
        opening_id,
        after,
        limit,
    )
    return [(inbox_item(r), r["contact_sealed"]) for r in rows]


def inbox_item(r: asyncpg.Record) -> dict:
    """A referral as the employer sees it: what routing decided and why, and its state. Never
    the candidate's demographics (the gateway never receives them)."""
    routing = json.loads(r["routing"])
    return {
        "cursor": r["seq"],
        "referral_id": r["referral_id"],
        "opening_id": r["opening_id"],
        "partner_id": r["partner_id"],
        "candidate_id": r["candidate_id"],
        "state": r["state"],
        "decline_reason": r["decline_reason"],
        "attempt": routing.get("attempt", 1),
        "score": routing["score"],
        "skills": routing.get("candidate_skills", []),  # gone once the candidate is erased
        "matched_skills": routing["matched_skills"],
        "missing_skills": routing["missing_skills"],
        "credentials": routing.get("credentials", []),
        "explanation": routing["explanation"],
        "details": routing.get("details"),
        "routed_at": r["routed_at"].isoformat(),
        "updated_at": r["updated_at"].isoformat(),
        "stale_at": r["stale_at"].isoformat() if r["stale_at"] else None,
    }


async def referral_detail(
    conn: asyncpg.Connection | asyncpg.Pool, referral_id: str, employer_id: str
) -> tuple[dict, str | None] | None:
    """One of the employer's referrals with its interviews, offers and employment, and the
    candidate's shared sealed contact details (JSON, or None); None if not theirs. One
    statement, so one consistent snapshot."""
    row = await conn.fetchrow(
        f"SELECT {INBOX_COLUMNS}, r.employer_id, {_CHILDREN}, c.contact_sealed{_FROM}{_CONTACT}"
        " WHERE r.referral_id = $1 AND r.employer_id = $2",
        referral_id,
        employer_id,
    )
    if row is None:
        return None
    referral = referral_of(row)
    employment = referral.employment
    return {
        **inbox_item(row),
        "interviews": [
            {
                "interview_id": i.interview_id,
                "scheduled_for": i.scheduled_for.isoformat(),
                "mode": i.mode.value,
                "outcome": i.outcome.value if i.outcome else None,
                "cancelled_by": i.cancelled_by.value if i.cancelled_by else None,
            }
            for i in sorted(referral.interviews.values(), key=lambda i: (i.scheduled_for, i.interview_id))
        ],
        "offers": [
            {
                "offer_id": o.offer_id,
                **json.loads(_terms_json(o.terms)),
                "expires_on": o.expires_on.isoformat() if o.expires_on else None,
                "declined_reason": o.declined.value if o.declined else None,
            }
            for o in referral.offers.values()
        ],
        "employment": None
        if employment is None
        else {
            "start_date": employment.start_date.isoformat(),
            "retention": {str(days): still for days, still in sorted(employment.checked.items())},
            "separated_on": employment.separated_on.isoformat() if employment.separated_on else None,
            # The job's terms now (after a conversion, the new ones); null if stored before they were kept.
            "terms": json.loads(_terms_json(employment.terms)) if employment.terms is not None else None,
            "converted_on": employment.converted_on.isoformat() if employment.converted_on else None,
        },
    }, row["contact_sealed"]


# --- the candidate's contact details ----------------------------------------------------


async def keep_contact(
    conn: asyncpg.Connection, referral_id: str, share_contact: bool | None, sealed: events.Sealed | None, at: datetime
) -> None:
    """Keep the newest sealed contact details (and, from a submission, the consent to share
    them); nothing once the candidate is erased. `share_contact=None`: an update, which
    changes only the details."""
    await conn.execute(
        "INSERT INTO contacts (referral_id, share_contact, contact_sealed, updated_at)"
        " SELECT $1, coalesce($2, false), $3, $4"
        " WHERE NOT EXISTS (SELECT 1 FROM referral_notices WHERE referral_id = $1 AND erased_at IS NOT NULL)"
        " ON CONFLICT (referral_id) DO UPDATE SET share_contact = coalesce($2, contacts.share_contact),"
        "   contact_sealed = EXCLUDED.contact_sealed, updated_at = EXCLUDED.updated_at"
        " WHERE contacts.updated_at <= EXCLUDED.updated_at",
        referral_id,
        share_contact,
        sealed.model_dump_json() if sealed else None,
        at,
    )


async def keep_contacts(
    conn: asyncpg.Connection, rows: list[tuple[str, bool, events.Sealed | None, datetime]]
) -> None:
    """`keep_contact` of submissions (referral id, share_contact, sealed details, at), at most
    one per referral (an upsert may change a row once per statement)."""
    await conn.execute(
        "INSERT INTO contacts (referral_id, share_contact, contact_sealed, updated_at)"
        " SELECT u.r, u.s, u.c::jsonb, u.t FROM unnest($1::text[], $2::bool[], $3::text[], $4::timestamptz[])"
        "   AS u(r, s, c, t)"
        " WHERE NOT EXISTS (SELECT 1 FROM referral_notices n WHERE n.referral_id = u.r AND n.erased_at IS NOT NULL)"
        " ON CONFLICT (referral_id) DO UPDATE SET share_contact = EXCLUDED.share_contact,"
        "   contact_sealed = EXCLUDED.contact_sealed, updated_at = EXCLUDED.updated_at"
        " WHERE contacts.updated_at <= EXCLUDED.updated_at",
        [r for r, _, _, _ in rows],
        [share for _, share, _, _ in rows],
        [sealed.model_dump_json() if sealed else None for _, _, sealed, _ in rows],
        [at for _, _, _, at in rows],
    )


async def forget_contacts(conn: asyncpg.Connection, referral_ids: list[str]) -> None:
    await conn.execute("DELETE FROM contacts WHERE referral_id = ANY($1::text[])", referral_ids)


# --- demand forecasts and hiring standards (issue 16 items 3 and 4) ---------------------------


async def save_forecast(conn: asyncpg.Connection, event: events.DemandForecastV1, at: datetime) -> bool:
    """The employer's current forecast for its occupation, employment type and horizon: the latest
    by `at` (the event's time, as outcomes keeps it); True when it replaced an earlier one."""
    return bool(await conn.fetchval(
        "WITH old AS (SELECT 1 FROM demand_forecasts WHERE employer_id = $1 AND onet_soc_code = $2"
        "  AND employment_type = $3 AND horizon_months = $4)"
        " INSERT INTO demand_forecasts (employer_id, onet_soc_code, employment_type, horizon_months, forecast_id,"
        " forecast, declared_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (employer_id, onet_soc_code, employment_type, horizon_months) DO UPDATE"
        " SET forecast_id = $5, forecast = $6, declared_at = $7 WHERE demand_forecasts.declared_at <= $7"
        " RETURNING EXISTS (SELECT 1 FROM old)",
        event.employer_id, event.onet_soc_code, event.employment_type.value, event.horizon_months,
        event.forecast_id, event.model_dump_json(), at,
    ))


async def list_forecasts(pool: asyncpg.Pool, employer_id: str) -> list[dict]:
    rows = await pool.fetch(
        "SELECT forecast, declared_at FROM demand_forecasts WHERE employer_id = $1"
        " ORDER BY onet_soc_code, employment_type, horizon_months", employer_id,
    )
    return [{**json.loads(r["forecast"]), "declared_at": r["declared_at"].isoformat()} for r in rows]
