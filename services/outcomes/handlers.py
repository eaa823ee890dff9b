"""Outcomes consumes every lifecycle event into the ledger and derives the projections from
it; it redacts the ledger when a candidate is erased and, live, tells the referring partner
whenever a referral's status changes (the closed loop).

One path for one event and for many: the live consumer hands over batches of records
(`batch_handler`), a redelivered or failed record comes alone (`handlers`), and both end in
`_about_referrals`: lock the referrals, read what is known of them (erasure, status, compact
events) in one statement, append every event in one statement, derive each touched
referral's projection once from its compact events and the new ones (`store.project_appended`;
from its ledger rows where that would not be exact), store them in one statement, and (live)
notify every status change of the batch together. Openings and erasures are few and go one by one; a batch holding
an erasure is applied event by event, in order, because an erasure changes how the events
after it are stored.

A referral's events come on three topics, each applied by its own consume loop (and maybe by
other instances), so two transactions often want the same referral. A batch never waits for
one at the start: it locks the referrals nobody holds (`store.try_lock_referrals`), applies
their events, and only then comes back for the others (each referral's events together, in
their order), by which time their holder has usually committed.

Handlers get a `plumbing.context.Context`: the transaction's connection, the clock (the time
of the status changes they emit) and the service's source. A rebuild
(`services/outcomes/rebuild.py`) runs the same code with `live=False`: the same ledger and
projections, but no notification is sent again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from contracts import Envelope, events, latest_type
from contracts.events import Payload
from contracts.registry import latest_types
from plumbing.consumer import BatchHandler, Handler
from plumbing.context import Context
from services.outcomes import domain, notify, store

OPENING_EVENTS = (events.OpeningPostedV1, events.OpeningUpdatedV1, events.OpeningClosedV1)


def _about(items: list[tuple[Envelope, Payload]]) -> list[tuple[Envelope, str, str]]:
    """(envelope, topic, referral id) of events about referrals. Routing's skills-gap
    observations are keyed by occupation but belong to a referral."""
    return [(env, type(p).topic.name, getattr(p, "referral_id", None) or env.subject) for env, p in items]


# How long a batch comes back for the referrals another transaction holds before it waits for
# them in PostgreSQL (far below the connections' lock timeout).
LOCK_PATIENCE_S = 2.0


async def _about_referrals(ctx: Context, items: list[tuple[Envelope, Payload]], live: bool) -> None:
    about = _about(items)
    waiting = await store.try_lock_referrals(ctx.conn, [rid for _, _, rid in about])
    await _apply_locked(ctx, [a for a in about if a[2] not in waiting], live)
    delay, patience_ends = 0.005, time.monotonic() + LOCK_PATIENCE_S
    while waiting:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)
        if time.monotonic() < patience_ends:
            still = await store.try_lock_referrals(ctx.conn, sorted(waiting))
        else:
            # Held that long: wait in PostgreSQL. Should the holder be waiting for one of ours
            # just as long, PostgreSQL fails one of the two with a deadlock, a fault: that
            # batch is rolled back and applied again.
            await store.lock_referrals(ctx.conn, sorted(waiting))
            still = set()
        await _apply_locked(ctx, [a for a in about if a[2] in waiting and a[2] not in still], live)
        waiting = still


async def _apply_locked(ctx: Context, about: list[tuple[Envelope, str, str]], live: bool) -> None:
    """Events about referrals whose locks this transaction holds."""
    if not about:
        return
    conn = ctx.conn
    before = await store.known(conn, sorted({rid for _, _, rid in about}))
    # The ledger keeps each envelope as received (an old version stays an old version),
    # redacted if the candidate was erased before it arrived.
    appended = await store.append_many(conn, about, before.erased)
    if not appended:
        return
    projected = await store.project_appended(conn, appended, before)
    if not live:
        return
    latest = {rid: env for env, _, rid in sorted(about, key=lambda a: a[0].time)}  # the newest event causes it
    await notify.status_changed_many(ctx, [(latest[rid], p, was) for rid, (was, p) in projected.items()])


async def _on_opening_event(ctx: Context, env: Envelope, payload: Payload) -> None:
    conn = ctx.conn
    if not await store.append(conn, env, type(payload).topic.name, referral_id=None, opening_id=env.subject):
        return
    await store.upsert_opening(
        conn, payload.model_dump(mode="json"), env.time, closed=isinstance(payload, events.OpeningClosedV1)
    )


async def _on_candidate_erased(ctx: Context, env: Envelope, payload: events.CandidateErasedV1) -> None:
    """Record the erasure and redact the person's referrals in the ledger and projections.
    The facts (and so the funnel's counts) stay as they are."""
    conn = ctx.conn
    referral_ids = sorted(set(payload.referral_ids))
    await store.lock_referrals(conn, referral_ids)
    # The erasure is recorded without the person's id (subject and data): what remains says
    # that one candidate's referrals were erased, when, and at whose request.
    recorded = env.model_copy(update={"subject": domain.ERASED})
    if not await store.append(conn, recorded, type(payload).topic.name, referral_id=None, redacted=True):
        return
    await store.mark_erased(conn, referral_ids, payload.erased_at)
    await store.redact(conn, referral_ids)
    await store.reproject_many(conn, referral_ids)


def handlers(*, live: bool) -> dict[str, Handler]:
    """One event at a time (a record the batch could not apply comes this way)."""

    async def on_lifecycle_event(ctx: Context, env: Envelope, payload: Payload) -> None:
        await _about_referrals(ctx, [(env, payload)], live)

    lifecycle = {t: on_lifecycle_event for t in latest_types() if domain.fact_of(t) or t.startswith("skills.")}
    openings = {t: _on_opening_event for t in latest_types() if t.startswith("opening.")}
    return {**lifecycle, **openings, events.CandidateErasedV1.event_type: _on_candidate_erased}  # type: ignore[dict-item]


def batch_handler(*, live: bool, project: bool = True) -> BatchHandler:
    """Several events in the caller's transaction, as one by one would give.

    `project=False` is the rebuild's first pass (services/outcomes/rebuild.py): events about
    referrals are only appended to the ledger, by COPY (a fresh ledger without its indexes,
    nor the unique one on event ids: the rebuild removes repeated events), never redacted nor
    projected; the rebuild applies openings and erasures afterwards through this handler and
    derives every projection from the ledger once at the end, as `store.reproject_many` would."""
    one_by_one: dict[str, Callable[..., Awaitable[None]]] = handlers(live=live)

    async def load(ctx: Context, items: list[tuple[Envelope, Payload]]) -> None:
        later = [env.type for env, p in items if isinstance(p, (events.CandidateErasedV1, *OPENING_EVENTS))]
        if later:
            raise ValueError(f"the rebuild applies {sorted(set(later))} after its first pass, not in it")
        await store.copy_events(ctx.conn, _about(items))

    async def ingest(ctx: Context, items: list[tuple[Envelope, Payload]]) -> None:
        if any(isinstance(p, events.CandidateErasedV1) for _, p in items):
            for env, payload in items:
                await one_by_one[latest_type(env.type)](ctx, env, payload)
            return
        for env, payload in items:
            if isinstance(payload, OPENING_EVENTS):
                await _on_opening_event(ctx, env, payload)
        about = [(env, p) for env, p in items if not isinstance(p, OPENING_EVENTS)]
        if about:
            await _about_referrals(ctx, about, live)

    return ingest if project else load


HANDLERS = handlers(live=True)
