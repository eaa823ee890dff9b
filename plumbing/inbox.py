"""Idempotent inbox: the applied event ids of each consumer, written with the effect.

A consumer whose effects already keep every event it applies under the event's id, with a
unique key (outcomes' ledger), can say so (`keyed_by_effects`): its claim then reads which
ids its effects hold instead of writing an inbox row per event. Every other consumer is
unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import asyncpg

# The ids among those given that the consumer's effects hold already (in this transaction).
AppliedIds = Callable[[asyncpg.Connection, list[uuid.UUID]], Awaitable[set[uuid.UUID]]]

_KEYED_BY_EFFECTS: dict[str, AppliedIds] = {}


def keyed_by_effects(consumer: str, applied: AppliedIds) -> None:
    """Claims of `consumer` are answered by `applied` (a read), not by inbox rows.

    Only for a consumer whose effects store each event under its id with a unique key and
    change nothing for an id they hold: the read skips the repeats it sees (and counts them
    as duplicates), but two transactions applying the same new event at the same moment both
    pass it, so the effects themselves must make the second one change nothing."""
    _KEYED_BY_EFFECTS[consumer] = applied


async def claim(conn: asyncpg.Connection, consumer: str, event_id: uuid.UUID) -> bool:
    """Record that `consumer` applies `event_id` in this transaction.

    False means the event was applied before: the caller must change nothing. Because the
    row commits with the effect, a crash before commit leaves neither behind.
    """
    if consumer in _KEYED_BY_EFFECTS:
        return bool(await claim_many(conn, consumer, [event_id]))
    row = await conn.fetchrow(
        "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
        consumer,
        event_id,
    )
    return row is not None


async def claim_many(conn: asyncpg.Connection, consumer: str, event_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """`claim` for several events in one statement; returns those not applied before."""
    applied = _KEYED_BY_EFFECTS.get(consumer)
    if applied is not None:
        return set(event_ids) - await applied(conn, event_ids)
    rows = await conn.fetch(
        "INSERT INTO inbox (consumer, event_id) SELECT $1, e FROM unnest($2::uuid[]) AS e"
        " ON CONFLICT DO NOTHING RETURNING event_id",
        consumer,
        event_ids,
    )
    return {r["event_id"] for r in rows}
