"""The gateway's tables (schema `employer_gateway`): openings, routed referrals, interviews."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

from contracts import events
from services.employer_gateway.domain import Interview, Referral, State


async def insert_opening(conn: asyncpg.Connection, event: events.OpeningPostedV1) -> None:
    await conn.execute(
        "INSERT INTO openings (opening_id, employer_id, posting) VALUES ($1, $2, $3)",
        event.opening_id,
        event.employer_id,
        event.model_dump_json(),
    )


async def list_openings(pool: asyncpg.Pool, employer_id: str) -> list[dict]:
    rows = await pool.fetch(
        "SELECT posting, posted_at FROM openings WHERE employer_id = $1 ORDER BY posted_at, opening_id", employer_id
    )
    return [{**json.loads(r["posting"]), "posted_at": r["posted_at"].isoformat()} for r in rows]


async def insert_routed(conn: asyncpg.Connection, event: events.ReferralRoutedV1, routed_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO referrals (referral_id, employer_id, opening_id, partner_id, candidate_id, state, routing,"
        " routed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (referral_id) DO NOTHING",
        event.referral_id,
        event.employer_id,
        event.opening_id,
        event.partner_id,
        event.candidate_id,
        State.routed.value,
        event.model_dump_json(),
        routed_at,
    )


async def load(conn: asyncpg.Connection, referral_id: str, employer_id: str) -> tuple[Referral, str] | None:
    """The employer's referral (locked for update) and its partner id; None if not theirs."""
    row = await conn.fetchrow(
        "SELECT referral_id, employer_id, opening_id, partner_id, state FROM referrals"
        " WHERE referral_id = $1 AND employer_id = $2 FOR UPDATE",
        referral_id,
        employer_id,
    )
    if row is None:
        return None
    referral = Referral(row["referral_id"], row["employer_id"], row["opening_id"], State(row["state"]))
    for i in await conn.fetch(
        "SELECT interview_id, scheduled_for, mode, outcome FROM interviews WHERE referral_id = $1", referral_id
    ):
        referral.interviews[i["interview_id"]] = Interview(
            i["interview_id"],
            i["scheduled_for"],
            events.InterviewMode(i["mode"]),
            events.InterviewOutcome(i["outcome"]) if i["outcome"] else None,
        )
    return referral, row["partner_id"]


async def save(conn: asyncpg.Connection, referral: Referral) -> None:
    await conn.execute(
        "UPDATE referrals SET state = $2, updated_at = now() WHERE referral_id = $1",
        referral.referral_id,
        referral.state.value,
    )
    for i in referral.interviews.values():
        await conn.execute(
            "INSERT INTO interviews (interview_id, referral_id, scheduled_for, mode, outcome)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (interview_id) DO UPDATE SET outcome = EXCLUDED.outcome",
            i.interview_id,
            referral.referral_id,
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
        "SELECT seq, referral_id, opening_id, partner_id, candidate_id, state, routing, routed_at, updated_at FROM referrals"
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
                "score": routing["score"],
                "skills": routing["candidate_skills"],
                "matched_skills": routing["matched_skills"],
                "missing_skills": routing["missing_skills"],
                "credentials": routing["credentials"],
                "explanation": routing["explanation"],
                "routed_at": r["routed_at"].isoformat(),
                "updated_at": r["updated_at"].isoformat(),
            }
        )
    return out
