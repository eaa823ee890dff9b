"""How an employer hires, per occupation or per opening (issue 16 item 4; docs/transparency.md,
"Hiring standards"): the use case and the table it keeps (gateway migrations 007 and 009).
Public: the demand board and the annual release show them under the employer's name."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import asyncpg

from contracts import events
from plumbing import problems
from plumbing.context import Context
from services.employer_gateway import demand, store
from services.employer_gateway.application import NotFound


async def publish(ctx: Context, employer_id: str, published: Mapping[str, Any], correlation_id: str) -> dict[str, Any]:
    """Publish the employer's standards for an occupation, or for one of its openings (then the
    occupation is the opening's), replacing what it published before for the same one.
    NotFound when the opening is not the employer's; a 422 problem when the occupation given is
    not the opening's, or neither is given."""
    published = dict(published)
    opening_id = published.get("opening_id")
    if opening_id is not None:
        opening = await store.load_opening(ctx.conn, opening_id, employer_id)
        if opening is None:
            raise NotFound("opening")
        occupation = opening.posting.onet_soc_code
        if published.get("onet_soc_code") not in (None, occupation):
            raise problems.Problem(
                422, "validation", "Request is not valid", f"onet_soc_code: the opening's occupation is {occupation}"
            )
        published["onet_soc_code"] = occupation
    elif published.get("onet_soc_code") is None:
        raise problems.Problem(
            422, "validation", "Request is not valid", "onet_soc_code: give the occupation, or an opening_id"
        )
    event = demand.standards(employer_id, published)
    envelope = await ctx.emit(event, correlation_id=correlation_id)
    replaced = await save(ctx.conn, event, envelope.time)
    return {
        "onet_soc_code": event.onet_soc_code,
        "opening_id": event.opening_id,
        "replaced": replaced,
        "event": {"id": str(envelope.id), "type": envelope.type},
    }


async def save(conn: asyncpg.Connection, event: events.HiringStandardsPublishedV1, at: Any) -> bool:
    """The employer's current standards for the occupation or opening; True when they replaced earlier ones."""
    return bool(
        await conn.fetchval(
            "WITH old AS (SELECT 1 FROM hiring_standards WHERE employer_id = $1 AND onet_soc_code = $2"
            " AND opening_id = $5)"
            " INSERT INTO hiring_standards (employer_id, onet_soc_code, opening_id, standards, published_at)"
            " VALUES ($1, $2, $5, $3, $4)"
            " ON CONFLICT (employer_id, onet_soc_code, opening_id) DO UPDATE SET standards = $3, published_at = $4"
            " WHERE hiring_standards.published_at <= $4"
            " RETURNING EXISTS (SELECT 1 FROM old)",
            event.employer_id,
            event.onet_soc_code,
            event.model_dump_json(),
            at,
            event.opening_id or "",
        )
    )


async def listed(pool: asyncpg.Pool, employer_id: str) -> list[dict[str, Any]]:
    """The employer's current standards: per occupation, its occupation's first, then its openings'."""
    rows = await pool.fetch(
        "SELECT standards, published_at FROM hiring_standards WHERE employer_id = $1 ORDER BY onet_soc_code, opening_id",
        employer_id,
    )
    return [{**json.loads(r["standards"]), "published_at": r["published_at"].isoformat()} for r in rows]
