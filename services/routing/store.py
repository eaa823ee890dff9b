"""Routing's catalogue and decisions (schema `routing`)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import asyncpg

from contracts import events
from services.routing.domain import ROUTED, UNMATCHED, Candidate, Opening, Routed, Unmatched, releases_slot, skills


async def upsert_opening(conn: asyncpg.Connection, event: events.OpeningPostedV1, posted_at) -> None:
    await conn.execute(
        "INSERT INTO openings (opening_id, employer_id, title, onet_soc_code, required_skills, preferred_skills,"
        " capacity, posted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (opening_id) DO NOTHING",
        event.opening_id,
        event.employer_id,
        event.title,
        event.onet_soc_code,
        sorted(skills(event.required_skills)),
        sorted(skills(event.preferred_skills)),
        event.capacity,
        posted_at,
    )


async def open_openings(conn: asyncpg.Connection) -> list[Opening]:
    """Openings with capacity left, locked so concurrent decisions cannot overfill one."""
    rows = await conn.fetch(
        "SELECT * FROM openings WHERE routed_count < capacity ORDER BY opening_id FOR UPDATE"
    )
    return [
        Opening(
            opening_id=r["opening_id"],
            employer_id=r["employer_id"],
            title=r["title"],
            onet_soc_code=r["onet_soc_code"],
            required=frozenset(r["required_skills"]),
            preferred=frozenset(r["preferred_skills"]),
            remaining=r["capacity"] - r["routed_count"],
        )
        for r in rows
    ]


async def record_decision(
    conn: asyncpg.Connection,
    candidate: Candidate,
    partner_id: str,
    candidate_id: str,
    decision: Routed | Unmatched,
) -> bool:
    """Store the first decision on a referral; False if one (or a withdrawal) is already there.

    The decision row is written before the slot is taken, so a referral decided (or
    withdrawn) concurrently under another event id never takes a second slot.
    """
    routed = isinstance(decision, Routed)
    inserted = await conn.fetchval(
        "INSERT INTO decisions (referral_id, partner_id, candidate_id, outcome, opening_id, score,"
        " target_onet_soc_code, target_opening_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (referral_id) DO NOTHING RETURNING 1",
        candidate.referral_id,
        partner_id,
        candidate_id,
        ROUTED if routed else UNMATCHED,
        decision.opening.opening_id if routed else None,
        decision.score if routed else None,
        candidate.target_onet_soc_code,
        candidate.target_opening_id,
    )
    if inserted and routed:
        await _take_slot(conn, decision.opening.opening_id)
    return bool(inserted)


async def record_redecision(conn: asyncpg.Connection, referral_id: str, decision: Routed | Unmatched) -> None:
    """Replace an unmatched decision (locked by `decision_for_update`) by a new one."""
    routed = isinstance(decision, Routed)
    await conn.execute(
        "UPDATE decisions SET outcome = $2, opening_id = $3, score = $4, decided_at = now()"
        " WHERE referral_id = $1 AND outcome = 'unmatched' AND withdrawn_at IS NULL",
        referral_id,
        ROUTED if routed else UNMATCHED,
        decision.opening.opening_id if routed else None,
        decision.score if routed else None,
    )
    if routed:
        await _take_slot(conn, decision.opening.opening_id)


async def _take_slot(conn: asyncpg.Connection, opening_id: str) -> None:
    await conn.execute("UPDATE openings SET routed_count = routed_count + 1 WHERE opening_id = $1", opening_id)


async def decision_for_update(conn: asyncpg.Connection, referral_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM decisions WHERE referral_id = $1 FOR UPDATE", referral_id)


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


async def forget_candidate(conn: asyncpg.Connection, candidate_id: str, referral_ids: list[str]) -> int:
    """Drop the erased person's pseudonymous id from every decision; counts stay."""
    result = await conn.execute(
        "UPDATE decisions SET candidate_id = NULL"
        " WHERE (referral_id = ANY($1) OR candidate_id = $2) AND candidate_id IS NOT NULL",
        referral_ids,
        candidate_id,
    )
    return int(result.split()[-1])


async def already_decided(conn: asyncpg.Connection, referral_id: str) -> bool:
    """A decision or a withdrawal exists: the referral is never decided from its submission again."""
    return bool(await conn.fetchval("SELECT 1 FROM decisions WHERE referral_id = $1", referral_id))


async def catalogue(pool: asyncpg.Pool) -> list[dict]:
    rows = await pool.fetch(
        "SELECT opening_id, employer_id, title, onet_soc_code, required_skills, preferred_skills, capacity,"
        " routed_count FROM openings ORDER BY posted_at, opening_id"
    )
    return [dict(r) for r in rows]
