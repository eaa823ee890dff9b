"""The ledger and its projections (schema `outcomes`)."""

from __future__ import annotations

import asyncpg

from contracts import Envelope
from services.outcomes import domain


async def append(conn: asyncpg.Connection, env: Envelope, topic: str) -> bool:
    """Append the event to the ledger; False if this event id is already there."""
    row = await conn.fetchrow(
        "INSERT INTO ledger (event_id, event_type, referral_id, partner_id, employer_id, occurred_at,"
        " source_topic, envelope) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (event_id) DO NOTHING RETURNING seq",
        env.id,
        env.type,
        env.subject,
        env.partnerid,
        env.employerid,
        env.time,
        topic,
        env.model_dump_json(exclude_none=True),
    )
    return row is not None


async def record_fact(conn: asyncpg.Connection, env: Envelope, fact: str) -> None:
    """Merge one fact into the referral's projection and re-derive stages and status.

    Events of one referral arrive on several topics, applied by concurrent consumers. The
    row is created first (a concurrent creator waits on the primary key) and then locked,
    so two facts recorded at once are merged, never one overwriting the other.
    """
    await conn.execute(
        "INSERT INTO referral_facts (referral_id, status) VALUES ($1, 'submitted') ON CONFLICT DO NOTHING",
        env.subject,
    )
    row = await conn.fetchrow("SELECT facts FROM referral_facts WHERE referral_id = $1 FOR UPDATE", env.subject)
    facts = sorted(set(row["facts"]) | {fact})
    await conn.execute(
        "UPDATE referral_facts SET"
        "   partner_id = COALESCE(partner_id, $2), employer_id = COALESCE($3, employer_id),"
        "   facts = $4, stages = $5, status = $6, anomalies = $7, updated_at = now()"
        " WHERE referral_id = $1",
        env.subject,
        env.partnerid,
        env.employerid,
        facts,
        domain.stages_reached(facts),
        domain.partner_status(facts),
        domain.anomalies(facts),
    )


async def referral_view(pool: asyncpg.Pool, referral_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT * FROM referral_facts WHERE referral_id = $1", referral_id)


async def timeline(pool: asyncpg.Pool, referral_id: str, employer_id: str | None = None) -> list[asyncpg.Record]:
    """Events in the order they happened (arrival order breaks ties); an employer sees its own part."""
    return await pool.fetch(
        "SELECT seq, event_id, event_type, occurred_at, recorded_at, partner_id, employer_id, envelope"
        " FROM ledger WHERE referral_id = $1 AND ($2::text IS NULL OR employer_id = $2)"
        " ORDER BY occurred_at, seq",
        referral_id,
        employer_id,
    )


FUNNEL_SQL = """
SELECT {group} AS key, stage, count(*) AS n
FROM referral_facts, unnest(stages) AS stage
WHERE ($1::text IS NULL OR partner_id = $1) AND ($2::text IS NULL OR employer_id = $2)
GROUP BY 1, 2
"""


async def funnel_counts(
    pool: asyncpg.Pool, group: str | None, partner_id: str | None, employer_id: str | None
) -> list[asyncpg.Record]:
    column = {"partner": "partner_id", "employer": "employer_id", None: "'all'"}[group]
    return await pool.fetch(FUNNEL_SQL.format(group=column), partner_id, employer_id)


async def anomalies(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT referral_id, anomalies FROM referral_facts WHERE cardinality(anomalies) > 0 ORDER BY referral_id"
    )
