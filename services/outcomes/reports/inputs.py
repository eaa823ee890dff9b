"""What the reports read that store.py does not already give (kept here, not in the shared
store): the supportive-service requests of `service_requests` (outcomes migration 012)."""

from __future__ import annotations

import asyncpg

from services.outcomes.reports.supportive import Request


async def service_requests(conn: asyncpg.Connection | asyncpg.Pool, partner_id: str | None = None) -> list[Request]:
    """Every request (operators, None), or those a partner made or was asked for
    (`supportive.visible`'s rule, in SQL), in request id order."""
    rows = await conn.fetch(
        "SELECT request_id, requester_id, provider_id, person_key, service_type, status, partner_status,"
        " requested_at, delivered_on, value_delivered, amount_requested, currency FROM service_requests"
        " WHERE $1::text IS NULL OR requester_id = $1 OR provider_id = $1 ORDER BY request_id",
        partner_id,
    )
    return [Request(**dict(r)) for r in rows]
