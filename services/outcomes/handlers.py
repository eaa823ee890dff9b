"""Outcomes consumes every lifecycle event into the ledger and the referral projection."""

from __future__ import annotations

import asyncpg

from contracts import Envelope
from contracts.events import Payload
from contracts.registry import latest_types
from services.outcomes import domain, store


async def on_lifecycle_event(conn: asyncpg.Connection, env: Envelope, payload: Payload) -> None:
    # The ledger keeps the envelope as received (an old version stays an old version).
    if not await store.append(conn, env, type(payload).topic.name):
        return
    fact = domain.fact_of(env.type)
    if fact is not None:
        await store.record_fact(conn, env, fact)


HANDLERS = {event_type: on_lifecycle_event for event_type in latest_types() if domain.fact_of(event_type)}
