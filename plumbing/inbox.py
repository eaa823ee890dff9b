"""Idempotent inbox: the applied event ids of each consumer, written with the effect."""

from __future__ import annotations

import uuid

import asyncpg


async def claim(conn: asyncpg.Connection, consumer: str, event_id: uuid.UUID) -> bool:
    """Record that `consumer` applies `event_id` in this transaction.

    False means the event was applied before: the caller must change nothing. Because the
    row commits with the effect, a crash before commit leaves neither behind.
    """
    row = await conn.fetchrow(
        "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
        consumer,
        event_id,
    )
    return row is not None
