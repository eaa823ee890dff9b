"""An employer's choice whether the coalition may publish its hiring for a year (issue 16 item 5;
docs/transparency.md, "Hiring by employer"): the use case and the table it keeps (gateway
migration 008). The annual release counts only employers whose last choice for its year is in."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from contracts import events
from plumbing.context import Context
from services.employer_gateway import demand


async def choose(ctx: Context, employer_id: str, chosen: Mapping[str, Any], correlation_id: str) -> dict[str, Any]:
    """Record the employer's choice for the year (replacing its earlier one) and emit it."""
    event = demand.publication(employer_id, chosen)
    replaced = await save(ctx.conn, event, ctx.now())
    envelope = await ctx.emit(event, correlation_id=correlation_id)
    return {
        "year": event.year,
        "opted_in": event.opted_in,
        "replaced": replaced,
        "event": {"id": str(envelope.id), "type": envelope.type},
    }


async def save(conn: asyncpg.Connection, event: events.HiringPublicationChosenV1, at: datetime) -> bool:
    """The employer's current choice for the year; True when it replaced an earlier one."""
    return bool(
        await conn.fetchval(
            "WITH old AS (SELECT 1 FROM hiring_publication WHERE employer_id = $1 AND year = $2)"
            " INSERT INTO hiring_publication (employer_id, year, choice, chosen_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (employer_id, year) DO UPDATE SET choice = $3, chosen_at = $4"
            " RETURNING EXISTS (SELECT 1 FROM old)",
            event.employer_id,
            event.year,
            event.model_dump_json(),
            at,
        )
    )


async def choices(pool: asyncpg.Pool, employer_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT choice, chosen_at FROM hiring_publication WHERE employer_id = $1 ORDER BY year", employer_id
    )
    return [{**json.loads(r["choice"]), "chosen_at": r["chosen_at"].isoformat()} for r in rows]
