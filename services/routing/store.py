"""Routing's catalogue and decisions (schema `routing`)."""

from __future__ import annotations

import asyncpg

from contracts import events
from services.routing.domain import Opening, skills


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


async def record_routed(
    conn: asyncpg.Connection, referral_id: str, partner_id: str, opening_id: str, score: float
) -> None:
    await conn.execute("UPDATE openings SET routed_count = routed_count + 1 WHERE opening_id = $1", opening_id)
    await conn.execute(
        "INSERT INTO decisions (referral_id, partner_id, outcome, opening_id, score) VALUES ($1, $2, 'routed', $3, $4)",
        referral_id,
        partner_id,
        opening_id,
        score,
    )


async def record_unmatched(conn: asyncpg.Connection, referral_id: str, partner_id: str) -> None:
    await conn.execute(
        "INSERT INTO decisions (referral_id, partner_id, outcome) VALUES ($1, $2, 'unmatched')",
        referral_id,
        partner_id,
    )


async def already_decided(conn: asyncpg.Connection, referral_id: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM decisions WHERE referral_id = $1", referral_id))


async def catalogue(pool: asyncpg.Pool) -> list[dict]:
    rows = await pool.fetch(
        "SELECT opening_id, employer_id, title, onet_soc_code, required_skills, preferred_skills, capacity,"
        " routed_count FROM openings ORDER BY posted_at, opening_id"
    )
    return [dict(r) for r in rows]
