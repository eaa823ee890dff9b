"""The gateway's tables (schema `employer_gateway`): openings, routed referrals, interviews."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

from contracts import events
from services.employer_gateway.domain import InboxEntry, Interview, Notice, Opening, OpeningState, Referral, State


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
        "SELECT count(*) FROM referrals WHERE opening_id = $1 AND state NOT IN ('withdrawn', 'declined')",
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
        "SELECT referral_id, employer_id FROM referrals WHERE opening_id = $1"
        " AND state NOT IN ('declined', 'placed', 'withdrawn') ORDER BY referral_id",
        opening_id,
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
    interviews = await conn.fetch(
        "SELECT interview_id, employer_id, scheduled_for, mode, outcome FROM interviews"
        " WHERE referral_id = $1 AND ($2::text IS NULL OR employer_id = $2)",
        referral_id,
        employer_id,
    )
    out = []
    for row in rows:
        referral = Referral(
            row["referral_id"],
            row["employer_id"],
            row["opening_id"],
            State(row["state"]),
            decline_reason=events.DeclineReason(row["decline_reason"]) if row["decline_reason"] else None,
        )
        for i in interviews:
            if i["employer_id"] == referral.employer_id:
                referral.interviews[i["interview_id"]] = Interview(
                    i["interview_id"],
                    i["scheduled_for"],
                    events.InterviewMode(i["mode"]),
                    events.InterviewOutcome(i["outcome"]) if i["outcome"] else None,
                )
        out.append((referral, row["partner_id"]))
    return out


async def save(conn: asyncpg.Connection, referral: Referral) -> None:
    await conn.execute(
        "UPDATE referrals SET state = $3, decline_reason = $4, updated_at = now()"
        " WHERE referral_id = $1 AND employer_id = $2",
        referral.referral_id,
        referral.employer_id,
        referral.state.value,
        referral.decline_reason.value if referral.decline_reason else None,
    )
    for i in referral.interviews.values():
        await conn.execute(
            "INSERT INTO interviews (interview_id, referral_id, employer_id, scheduled_for, mode, outcome)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (interview_id) DO UPDATE SET outcome = EXCLUDED.outcome",
            i.interview_id,
            referral.referral_id,
            referral.employer_id,
            i.scheduled_for,
            i.mode.value,
            i.outcome.value if i.outcome else None,
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
        "SELECT seq, referral_id, opening_id, partner_id, candidate_id, state, decline_reason, routing, routed_at,"
        " updated_at FROM referrals"
        " WHERE employer_id = $1 AND ($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR opening_id = $3)"
        " AND seq > coalesce($4::bigint, 0)"
        " ORDER BY seq LIMIT $5",
        employer_id,
        state,
        opening_id,
        after,
        limit,
    )
    out = []
    for r in rows:
        routing = json.loads(r["routing"])
        out.append(
            {
                "cursor": r["seq"],
                "referral_id": r["referral_id"],
                "opening_id": r["opening_id"],
                "partner_id": r["partner_id"],
                "candidate_id": r["candidate_id"],
                "state": r["state"],
                "decline_reason": r["decline_reason"],
                "score": routing["score"],
                "skills": routing.get("candidate_skills", []),  # gone once the candidate is erased
                "matched_skills": routing["matched_skills"],
                "missing_skills": routing["missing_skills"],
                "credentials": routing.get("credentials", []),
                "explanation": routing["explanation"],
                "routed_at": r["routed_at"].isoformat(),
                "updated_at": r["updated_at"].isoformat(),
            }
        )
    return out
