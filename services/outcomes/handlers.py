"""Outcomes consumes every lifecycle event into the ledger and the referral projection, and
redacts the ledger when a candidate is erased."""

from __future__ import annotations

import asyncpg

from contracts import Envelope, events
from contracts.events import Payload
from contracts.registry import latest_types
from services.outcomes import domain, store


async def on_lifecycle_event(conn: asyncpg.Connection, env: Envelope, payload: Payload) -> None:
    await store.lock_referral(conn, env.subject)
    # The ledger keeps the envelope as received (an old version stays an old version),
    # redacted if the candidate was erased before it arrived.
    erased = await store.is_erased(conn, env.subject)
    if not await store.append(conn, env, type(payload).topic.name, redacted=erased):
        return
    fact = domain.fact_of(env.type)
    if fact is not None:
        await store.record_fact(conn, env, domain.scoped(fact, env.employerid, getattr(payload, "attempt", None)))


async def on_candidate_erased(conn: asyncpg.Connection, env: Envelope, payload: events.CandidateErasedV1) -> None:
    """Record the erasure and redact the person's referrals in the ledger. The facts (and so
    the funnel's counts) stay as they are."""
    referral_ids = sorted(set(payload.referral_ids))
    for referral_id in referral_ids:  # in one order, so two erasures cannot deadlock
        await store.lock_referral(conn, referral_id)
    # The erasure is recorded without the person's id (subject and data): what remains says
    # that one candidate's referrals were erased, when, and at whose request.
    recorded = env.model_copy(update={"subject": domain.ERASED})
    if not await store.append(conn, recorded, type(payload).topic.name, redacted=True, about_referral=False):
        return
    await store.mark_erased(conn, referral_ids, payload.erased_at)
    await store.redact(conn, referral_ids)


HANDLERS = {
    **{event_type: on_lifecycle_event for event_type in latest_types() if domain.fact_of(event_type)},
    events.CandidateErasedV1.event_type: on_candidate_erased,
}
