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
other instances), so two transactions often want the same referral. Referrals are locked in
one order by every transaction (`store.lock_order`), so none can deadlock. A batch takes, in
that order, every lock nobody holds up to the first referral another transaction holds
(`store.lock_free_prefix`, never waiting), applies the events of those it locked, and only
then waits for that one; and so on. Each referral's events are applied together, in order.

Handlers get a `plumbing.context.Context`: the transaction's connection, the clock (the time
of the status changes they emit) and the service's source. A rebuild
(`services/outcomes/rebuild.py`) runs the same code with `live=False`: the same ledger and
projections, but no notification is sent again.
"""

from __future__ import annotations

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


# Fewer referrals than this locked and not yet applied are not worth a step of their own
# (its five statements) before waiting for the next one.
STEP_MIN_REFERRALS = 50


async def _about_referrals(ctx: Context, items: list[tuple[Envelope, Payload]], live: bool) -> None:
    about = _about(items)
    order = store.lock_order([rid for _, _, rid in about])
    locked: set[str] = set()  # and not applied yet
    done = 0
    while done < len(order):
        got = await store.lock_free_prefix(ctx.conn, order[done:])
        locked.update(order[done:done + got])
        done += got
        if done == len(order):
            break
        # order[done] is another transaction's until it ends. Apply what is locked first (the
        # holder has often committed by then), then wait for it in PostgreSQL: every lock this
        # one holds comes before it in the order, so the wait cannot be part of a cycle.
        if len(locked) >= STEP_MIN_REFERRALS:
            await _apply_locked(ctx, [a for a in about if a[2] in locked], live)
            locked.clear()
        await store.lock_referrals(ctx.conn, [order[done]])
        locked.add(order[done])
        done += 1
    await _apply_locked(ctx, [a for a in about if a[2] in locked], live)


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
