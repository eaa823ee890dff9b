"""The ledger and its projections (schema `outcomes`)."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

from contracts import Envelope
from services.outcomes import domain


async def lock_referral(conn: asyncpg.Connection, referral_id: str) -> None:
    """Serialize this transaction with every other one about the referral (until it ends).

    A referral's events and its candidate's erasure arrive on different topics, applied by
    concurrent consumers; without this an erasure could miss an event being appended at the
    same moment and leave it unredacted.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('outcomes.referral:' || $1, 0))", referral_id)


async def append(
    conn: asyncpg.Connection, env: Envelope, topic: str, *, redacted: bool = False, about_referral: bool = True
) -> bool:
    """Append the event to the ledger; False if this event id is already there.

    `redacted`: the candidate was erased before the event arrived; it is stored redacted.
    `about_referral=False`: a candidate event (its subject is the candidate, not a referral).
    """
    if redacted:
        env = env.model_copy(update={"data": domain.redact(env.data)})
    row = await conn.fetchrow(
        "INSERT INTO ledger (event_id, event_type, referral_id, partner_id, employer_id, occurred_at,"
        " source_topic, envelope, redacted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $9 THEN now() END)"
        " ON CONFLICT (event_id) DO NOTHING RETURNING seq",
        env.id,
        env.type,
        env.subject if about_referral else None,
        env.partnerid,
        env.employerid,
        env.time,
        topic,
        env.model_dump_json(exclude_none=True),
        redacted,
    )
    return row is not None


async def is_erased(conn: asyncpg.Connection, referral_id: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM erased_referrals WHERE referral_id = $1", referral_id))


async def mark_erased(conn: asyncpg.Connection, referral_ids: list[str], at: datetime) -> None:
    await conn.execute(
        "INSERT INTO erased_referrals (referral_id, erased_at) SELECT r, $2 FROM unnest($1::text[]) AS r"
        " ON CONFLICT (referral_id) DO NOTHING",
        referral_ids,
        at,
    )


async def redact(conn: asyncpg.Connection, referral_ids: list[str]) -> int:
    """Take the erased candidate's personal parts out of the referrals' ledger rows.

    The only change the ledger allows: its trigger lets it through while
    `talentloop.redacting` is on, which is switched on for these statements only (and
    would end with the transaction anyway). Rows redacted before are left alone.
    """
    rows = await conn.fetch(
        "SELECT seq, envelope FROM ledger WHERE referral_id = ANY($1) AND redacted_at IS NULL ORDER BY seq FOR UPDATE",
        referral_ids,
    )
    if not rows:
        return 0
    changed = []
    for r in rows:
        envelope = json.loads(r["envelope"])
        envelope["data"] = domain.redact(envelope["data"])
        changed.append((r["seq"], json.dumps(envelope)))
    await conn.execute("SELECT set_config('talentloop.redacting', 'on', true)")
    await conn.executemany("UPDATE ledger SET envelope = $2, redacted_at = now() WHERE seq = $1", changed)
    await conn.execute("SELECT set_config('talentloop.redacting', 'off', true)")
    return len(changed)


async def record_fact(conn: asyncpg.Connection, env: Envelope, fact: domain.Fact) -> None:
    """Merge one fact into the referral's projection and re-derive stages and status.

    Events of one referral arrive on several topics, applied by concurrent consumers. The
    row is created first (a concurrent creator waits on the primary key) and then locked,
    so two facts recorded at once are merged, never one overwriting the other.
    """
    await conn.execute(
        "INSERT INTO referral_facts (referral_id, status) VALUES ($1, 'submitted') ON CONFLICT DO NOTHING",
        env.subject,
    )
    row = await conn.fetchrow("SELECT scoped_facts FROM referral_facts WHERE referral_id = $1 FOR UPDATE", env.subject)
    facts = sorted({domain.Fact(*f) for f in json.loads(row["scoped_facts"])} | {fact}, key=_order)
    derived = domain.derive(facts)
    await conn.execute(
        "UPDATE referral_facts SET"
        "   partner_id = COALESCE(partner_id, $2), employer_id = $3,"
        "   facts = $4, scoped_facts = $5, stages = $6, status = $7, anomalies = $8, attempt = $9, updated_at = now()"
        " WHERE referral_id = $1",
        env.subject,
        env.partnerid,
        derived.employer_id,
        sorted({f.name for f in facts}),
        json.dumps([[f.name, f.employer_id, f.attempt] for f in facts]),
        derived.stages,
        derived.status,
        derived.anomalies,
        derived.attempt,
    )


def _order(fact: domain.Fact) -> tuple[str, str, int]:
    return fact.name, fact.employer_id or "", fact.attempt or 0


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
