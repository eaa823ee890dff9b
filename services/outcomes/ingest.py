"""Set-based ingestion: a batch of events into the ledger and the projections at once.

The same effect as applying the per-event handlers one by one (`handlers.py`), in a few
statements per batch instead of about ten per event: lock the batch's referrals, append
every event in one statement, derive each touched referral's projection once from all its
ledger rows, store them together, and (live) notify each status change. A batch holding an
erasure is applied event by event, in order, because an erasure changes how the events
after it are stored. The live consumer and the rebuild both use it.
"""

from __future__ import annotations

import asyncpg

from contracts import Envelope, events, latest_type
from contracts.events import Payload
from services.outcomes import notify, store
from services.outcomes.handlers import handlers


def batch_handler(*, live: bool):  # type: ignore[no-untyped-def]
    one_by_one = handlers(live=live)

    async def ingest(conn: asyncpg.Connection, items: list[tuple[Envelope, Payload]]) -> None:
        if any(isinstance(p, events.CandidateErasedV1) for _, p in items):
            for env, payload in items:
                await one_by_one[latest_type(env.type)](conn, env, payload)
            return
        about: list[tuple[Envelope, str, str]] = []
        for env, payload in items:
            if isinstance(payload, events.OpeningPostedV1 | events.OpeningUpdatedV1 | events.OpeningClosedV1):
                await one_by_one[latest_type(env.type)](conn, env, payload)
            else:
                about.append((env, type(payload).topic.name, getattr(payload, "referral_id", None) or env.subject))
        if not about:
            return
        referral_ids = sorted({rid for _, _, rid in about})
        await store.lock_referrals(conn, referral_ids)
        appended = await store.append_many(conn, about, await store.erased_among(conn, referral_ids))
        touched = sorted({rid for env, _, rid in about if env.id in appended})
        if not touched:
            return
        projected = await store.reproject_many(conn, touched)
        if not live:
            return
        latest = {rid: env for env, _, rid in sorted(about, key=lambda a: a[0].time)}  # the newest event causes it
        for rid, (before, p) in projected.items():
            if p.partner_status.status != before:
                await notify.status_changed(conn, latest[rid], p, before)

    return ingest
