"""Outcomes consumes every lifecycle event into the ledger and derives the projections from
it; it redacts the ledger when a candidate is erased and, live, tells the referring partner
whenever a referral's status changes (the closed loop).

A rebuild (`services/outcomes/rebuild.py`) runs the same handlers with `live=False`: the
same ledger and projections, but no notification is sent again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from contracts import Envelope, events
from contracts.events import Payload
from contracts.registry import latest_types
from services.outcomes import domain, notify, store

Handler = Callable[[asyncpg.Connection, Envelope, Payload], Awaitable[None]]


def handlers(*, live: bool) -> dict[str, Handler]:
    async def on_lifecycle_event(conn: asyncpg.Connection, env: Envelope, payload: Payload) -> None:
        # Routing's skills-gap observations are keyed by occupation but belong to a referral.
        referral_id = getattr(payload, "referral_id", None) or env.subject
        await store.lock_referral(conn, referral_id)
        # The ledger keeps the envelope as received (an old version stays an old version),
        # redacted if the candidate was erased before it arrived.
        erased = await store.is_erased(conn, referral_id)
        if not await store.append(conn, env, type(payload).topic.name, referral_id=referral_id, redacted=erased):
            return
        before, projected = await store.reproject(conn, referral_id)
        if live and projected is not None and projected.partner_status.status != before:
            await notify.status_changed(conn, env, projected, before)

    async def on_opening_event(conn: asyncpg.Connection, env: Envelope, payload: Payload) -> None:
        if not await store.append(conn, env, type(payload).topic.name, referral_id=None, opening_id=env.subject):
            return
        await store.upsert_opening(
            conn, payload.model_dump(mode="json"), env.time, closed=isinstance(payload, events.OpeningClosedV1)
        )

    async def on_candidate_erased(conn: asyncpg.Connection, env: Envelope, payload: events.CandidateErasedV1) -> None:
        """Record the erasure and redact the person's referrals in the ledger and projections.
        The facts (and so the funnel's counts) stay as they are."""
        referral_ids = sorted(set(payload.referral_ids))
        for referral_id in referral_ids:  # in one order, so two erasures cannot deadlock
            await store.lock_referral(conn, referral_id)
        # The erasure is recorded without the person's id (subject and data): what remains says
        # that one candidate's referrals were erased, when, and at whose request.
        recorded = env.model_copy(update={"subject": domain.ERASED})
        if not await store.append(conn, recorded, type(payload).topic.name, referral_id=None, redacted=True):
            return
        await store.mark_erased(conn, referral_ids, payload.erased_at)
        await store.redact(conn, referral_ids)
        for referral_id in referral_ids:
            await store.reproject(conn, referral_id)

    lifecycle = {t: on_lifecycle_event for t in latest_types() if domain.fact_of(t) or t.startswith("skills.")}
    openings = {t: on_opening_event for t in latest_types() if t.startswith("opening.")}
    return {**lifecycle, **openings, events.CandidateErasedV1.event_type: on_candidate_erased}  # type: ignore[dict-item]


HANDLERS = handlers(live=True)
