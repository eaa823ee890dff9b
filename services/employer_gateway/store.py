"""The gateway's tables (schema `employer_gateway`): openings, routed referrals, interviews."""

from __future__ import annotations

import json
from datetime import date, datetime

import asyncpg

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


async def notice(conn: asyncpg.Connection, referral_id: str) -> Notice:
    row = await conn.fetchrow("SELECT * FROM referral_notices WHERE referral_id = $1", referral_id)
    if row is None:
        return Notice()
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


async def _load(conn: asyncpg.Connection, referral_id: str, employer_id: str | None) -> list[tuple[Referral, str]]:
    rows = await conn.fetch(
        "SELECT referral_id, employer_id, opening_id, partner_id, state, decline_reason FROM referrals"
        " WHERE referral_id = $1 AND ($2::text IS NULL OR employer_id = $2) ORDER BY employer_id FOR UPDATE",
        referral_id,
        employer_id,
    )
    if not rows:
        return []
    args = (referral_id, employer_id)
    where = " WHERE referral_id = $1 AND ($2::text IS NULL OR employer_id = $2)"
    interviews = await conn.fetch(
        "SELECT interview_id, employer_id, scheduled_for, mode, outcome, cancelled_by FROM interviews" + where, *args
    )
    offers = await conn.fetch("SELECT * FROM offers" + where, *args)
    employments = {r["employer_id"]: r for r in await conn.fetch("SELECT * FROM employments" + where, *args)}
    out = []
    for row in rows:
        employer = row["employer_id"]
        referral = Referral(
            row["referral_id"],
            employer,
            row["opening_id"],
            State(row["state"]),
            decline_reason=events.DeclineReason(row["decline_reason"]) if row["decline_reason"] else None,
        )
        for i in (i for i in interviews if i["employer_id"] == employer):
            referral.interviews[i["interview_id"]] = Interview(
                i["interview_id"],
                i["scheduled_for"],
                events.InterviewMode(i["mode"]),
                events.InterviewOutcome(i["outcome"]) if i["outcome"] else None,
                events.CancelledBy(i["cancelled_by"]) if i["cancelled_by"] else None,
            )
        for o in (o for o in offers if o["employer_id"] == employer):
            referral.offers[o["offer_id"]] = Offer(
                o["offer_id"],
                terms_from(json.loads(o["terms"])),
                o["expires_on"],
                events.OfferDeclineReason(o["declined_reason"]) if o["declined_reason"] else None,
            )
        if (e := employments.get(employer)) is not None:
            checked = {int(days): still for days, still in json.loads(e["checked"]).items()}
            referral.employment = Employment(e["start_date"], checked, e["separated_on"])
        out.append((referral, row["partner_id"]))
    return out


def terms_from(doc: dict) -> Terms:
    return Terms(
        job_title=doc["job_title"],
        onet_soc_code=doc["onet_soc_code"],
        wage=events.Wage.model_validate(doc["wage"]),
        hours_per_week=doc["hours_per_week"],
        employment_type=events.EmploymentType(doc["employment_type"]),
        benefits=events.Benefits.model_validate(doc["benefits"]),
        start_date=date.fromisoformat(doc["start_date"]),
    )


def _terms_json(terms: Terms) -> str:
    return json.dumps(
        {
            **terms.fields(),
            "wage": terms.wage.model_dump(mode="json"),
            "benefits": terms.benefits.model_dump(mode="json"),
            "start_date": terms.start_date.isoformat(),
        }
    )


async def save(conn: asyncpg.Connection, referral: Referral) -> None:
    """Store the referral's state and everything hanging off it (interviews, offers, employment)."""
    ids = (referral.referral_id, referral.employer_id)
    await conn.execute(
        "UPDATE referrals SET state = $3, decline_reason = $4, updated_at = now()"
        " WHERE referral_id = $1 AND employer_id = $2",
        *ids,
        referral.state.value,
        referral.decline_reason.value if referral.decline_reason else None,
    )
    for i in referral.interviews.values():
        await conn.execute(
            "INSERT INTO interviews (interview_id, referral_id, employer_id, scheduled_for, mode, outcome, cancelled_by)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (interview_id) DO UPDATE SET"
            " scheduled_for = EXCLUDED.scheduled_for, mode = EXCLUDED.mode, outcome = EXCLUDED.outcome,"
            " cancelled_by = EXCLUDED.cancelled_by",
            i.interview_id,
            *ids,
            i.scheduled_for,
            i.mode.value,
            i.outcome.value if i.outcome else None,
            i.cancelled_by.value if i.cancelled_by else None,
        )
    for o in referral.offers.values():
        await conn.execute(
            "INSERT INTO offers (offer_id, referral_id, employer_id, terms, expires_on, declined_reason)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (offer_id) DO UPDATE SET declined_reason = EXCLUDED.declined_reason",
            o.offer_id,
            *ids,
            _terms_json(o.terms),
            o.expires_on,
            o.declined.value if o.declined else None,
        )
    if (e := referral.employment) is not None:
        await conn.execute(
            "INSERT INTO employments (referral_id, employer_id, start_date, checked, separated_on)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (referral_id, employer_id) DO UPDATE SET"
            " checked = EXCLUDED.checked, separated_on = EXCLUDED.separated_on",
            *ids,
            e.start_date,
            json.dumps({str(days): still for days, still in sorted(e.checked.items())}),
            e.separated_on,
        )


INBOX_COLUMNS = (
    "seq, referral_id, opening_id, partner_id, candidate_id, state, decline_reason, routing, routed_at, updated_at,"
    " stale_at"
)


async def inbox_page(
    pool: asyncpg.Pool,
    employer_id: str,
    *,
    state: str | None,
    opening_id: str | None,
    after: int | None,
    limit: int,
) -> list[dict]:
    """The employer's routed referrals in arrival order, paged by the `seq` cursor."""
    rows = await pool.fetch(
        f"SELECT {INBOX_COLUMNS} FROM referrals"
        " WHERE employer_id = $1 AND ($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR opening_id = $3)"
        " AND seq > coalesce($4::bigint, 0)"
        " ORDER BY seq LIMIT $5",
        employer_id,
        state,
        opening_id,
        after,
        limit,
    )
    return [inbox_item(r) for r in rows]


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


async def referral_detail(pool: asyncpg.Pool, referral_id: str, employer_id: str) -> dict | None:
    """One of the employer's referrals with its interviews, offers and employment; None if not theirs."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"SELECT {INBOX_COLUMNS} FROM referrals WHERE referral_id = $1 AND employer_id = $2",
            referral_id,
            employer_id,
        )
        if row is None:
            return None
        [(referral, _)] = await _load(conn, referral_id, employer_id)
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
        },
    }


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


async def forget_contacts(conn: asyncpg.Connection, referral_ids: list[str]) -> None:
    await conn.execute("DELETE FROM contacts WHERE referral_id = ANY($1::text[])", referral_ids)


async def shared_contacts(conn: asyncpg.Connection | asyncpg.Pool, referral_ids: list[str]) -> dict[str, events.Sealed]:
    """The sealed contact details of those referrals whose candidate allowed employers to see them."""
    rows = await conn.fetch(
        "SELECT referral_id, contact_sealed FROM contacts WHERE referral_id = ANY($1::text[])"
        " AND share_contact AND contact_sealed IS NOT NULL",
        referral_ids,
    )
    return {r["referral_id"]: events.Sealed.model_validate_json(r["contact_sealed"]) for r in rows}
