"""Outcomes consumes every lifecycle event into the ledger and the referral projection."""

from __future__ import annotations

import asyncpg

from contracts import PAYLOADS, Envelope
from contracts.events import Payload
from services.outcomes import domain, store


async def on_lifecycle_event(conn: asyncpg.Connection, env: Envelope, payload: Payload) -> None:
    if not await store.append(conn, env, type(payload).topic.name):
        return
    fact = domain.fact_of(env.type)
    if fact is not None:
        await store.record_fact(conn, env, fact)


HANDLERS = {event_type: on_lifecycle_event for event_type in PAYLOADS if event_type != "opening.posted.v1"}
