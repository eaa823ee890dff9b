"""Outcomes' use cases: what an event does to the ledger, the projections and the partners.

Event handlers (`handlers.py`) only pass their events on; the HTTP API (`api.py`,
`reports_api.py`) only reads, so no use case is shared with it. Each use case gets the
`Context` of its transaction (connection, clock, the service's source), takes the locks it
needs and runs the statements of `store`, with the pure parts in `projection` and `domain`
(which also decides and builds the status change a partner is told, emitted by `notify`).

`record_about_referrals` is one path for one event and for many: read what is known of the
referrals (erasure, status, compact events: those this process wrote are held in memory under
the version their row still has, `store.InputsCache`) in one statement, append every event in one
statement, derive each touched referral's projection once from its compact events and the new
ones (`store.project_appended`; from its ledger rows where that would not be exact), store
them in one statement, and (live) tell every status change together. Openings and erasures
are few and go one by one (`record_opening`, `erase`), as do programs (`record_program`) and
service providers' directory entries (`record_service_provider`); training events lock their
enrollments and project them from their ledger rows (`record_training`; live, a provider told
of its consenting participant's referrals once), and service requests' events theirs
(`record_services`; live, the requester told of each status), both in the referrals' walk.

A referral's events come on several topics, fetched by the service's one consume loop; a
process applies a fetch of any of them in one transaction (`across_topics`), but other instances
apply at the same time, so two transactions may want the same referral. Referrals are locked in
one order by every transaction (`store.lock_order`), so none can deadlock. A batch takes, in
that order, every lock nobody holds up to the first referral another transaction holds
(`store.lock_free_prefix`, never waiting), applies the events of those it locked, and only
then waits for that one; and so on. Each referral's events are applied together, in order.

A repeat changes nothing, whichever use case it reaches: each appends its event to the ledger
first (unique event id, `ON CONFLICT DO NOTHING`) and goes on only with what was new, so it is
neither projected nor told to anyone again. That makes the ledger outcomes' inbox
(`app.py`: the consumer's claim reads which ids the ledger holds, `store.in_ledger`, instead
of writing an inbox row per event); a repeat that read misses (another instance applying it at
the same moment) is stopped here.

With `live=False` (the rebuild, `rebuild.py`) the same ledger and projections are made, but
no partner is told again.
"""

from __future__ import annotations

import asyncpg

from contracts import Envelope, events
from contracts.events import Payload
from plumbing import scrub
from plumbing.context import Context
from services.outcomes import domain, notify, projection, store


def referral_events(items: list[tuple[Envelope, Payload]]) -> list[tuple[Envelope, str, str]]:
    """(envelope, topic, referral id) of events about referrals. Routing's skills-gap
    observations are keyed by occupation but belong to a referral."""
    return [(env, type(p).topic.name, getattr(p, "referral_id", None) or env.subject) for env, p in items]


# Fewer referrals than this locked and not yet applied are not worth a step of their own
# (its five statements) before waiting for the next one.
STEP_MIN_REFERRALS = 50


def _enrollment_key(env: Envelope, payload: Payload) -> str:
    return store.ENROLLMENT_LOCK + (getattr(payload, "enrollment_id", None) or env.subject)


def _request_keys(env: Envelope, payload: Payload) -> list[str]:
    """A service event's locks: its request's, and for the request itself the referral's or the
    enrollment's it names, which an erasure of the person locks: so the request is stored either
    before the erasure (which then finds and redacts it) or after (and finds its reference erased)."""
    keys = [store.REQUEST_LOCK + payload.request_id]  # type: ignore[attr-defined]
    if type(payload) is events.ServiceRequestedV1:
        keys.append(payload.referral_id or store.ENROLLMENT_LOCK + payload.enrollment_id)  # type: ignore[operator]
    return keys


async def record_about_referrals(
    ctx: Context,
    items: list[tuple[Envelope, Payload]],
    live: bool,
    training: list[tuple[Envelope, Payload]] | None = None,
    services: list[tuple[Envelope, Payload]] | None = None,
) -> None:
    """Events about referrals (lifecycle events, skills-gap observations) into the ledger and
    the projections; live, their partners told of every status change. `training`: training
    events of the same batch, whose enrollments are locked in the same walk (one key space,
    `store.enrollment_keys`, one order) and applied by `_apply_training`; `services`: service
    requests' events, locked in the same walk too (`_request_keys`), applied by `_apply_services`."""
    about = referral_events(items)
    training = training or []
    services = services or []
    order = store.lock_order([rid for _, _, rid in about] + [_enrollment_key(*t) for t in training]
                             + [k for s in services for k in _request_keys(*s)])
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
            await _apply_step(ctx, locked, about, training, services, live)
            locked.clear()
        await store.lock_referrals(ctx.conn, [order[done]])
        locked.add(order[done])
        done += 1
    await _apply_step(ctx, locked, about, training, services, live)


async def _apply_step(ctx: Context, locked: set[str], about: list[tuple[Envelope, str, str]],
                      training: list[tuple[Envelope, Payload]], services: list[tuple[Envelope, Payload]],
                      live: bool) -> None:
    """The events of a batch whose locks are all held and that were not applied yet."""
    await _apply_locked(ctx, [a for a in about if a[2] in locked], live)
    await _apply_training(ctx, [t for t in training if _enrollment_key(*t) in locked], live)
    # A service event may have two locks, taken in order, perhaps in two steps: it is applied in
    # the step that took the later one (every lock before it is held already).
    await _apply_services(ctx, [s for s in services if max(_request_keys(*s)) in locked], live)


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
    # The newest new event causes it (a repeat is neither projected nor a cause: it is one
    # when another instance appended it meanwhile, as the ledger is outcomes' inbox).
    latest = {rid: env for env, rid in sorted(appended, key=lambda a: a[0].time)}
    await notify.status_changed_many(ctx, [(latest[rid], p, was) for rid, (was, p) in projected.items()])


async def record_opening(ctx: Context, env: Envelope, payload: Payload) -> None:
    """An opening as last posted, updated or closed (for the skills-gap report)."""
    conn = ctx.conn
    if not await store.append(conn, env, type(payload).topic.name, referral_id=None, opening_id=env.subject):
        return
    await store.upsert_opening(
        conn, payload.model_dump(mode="json"), env.time, closed=isinstance(payload, events.OpeningClosedV1)
    )


async def record_demand(ctx: Context, env: Envelope, payload: Payload) -> None:
    """An employer's demand forecast, hiring standards or publication choice (issue 16): in the
    ledger and as its current declaration. No personal data: an erasure has nothing to do here."""
    conn = ctx.conn
    if not await store.append(conn, env, type(payload).topic.name, referral_id=None):
        return
    if isinstance(payload, events.DemandForecastV1):
        await store.upsert_forecast(conn, payload.model_dump(mode="json"), env.time)
    elif isinstance(payload, events.HiringPublicationChosenV1):
        await store.upsert_publication_choice(conn, payload.model_dump(mode="json"), env.time)
    else:
        await store.upsert_standards(conn, payload.model_dump(mode="json"), env.time)


async def record_program(ctx: Context, env: Envelope, payload: Payload) -> None:
    """A training program as last registered or updated (issue 15 slice 6)."""
    conn = ctx.conn
    if not await store.append(conn, env, type(payload).topic.name, referral_id=None, program_id=env.subject):
        return
    await store.upsert_program(conn, payload.model_dump(mode="json"), env.time)


async def record_training(ctx: Context, items: list[tuple[Envelope, Payload]], live: bool) -> None:
    """Training events (enrolled, progressed, completed, exited, credential earned) into the
    ledger, and each enrollment they touch projected again from its ledger rows; live, a provider
    whose participant now shares outcomes with it hears of the person's referrals once.

    Under the enrollments' locks (the referrals' key space and walk, `record_about_referrals`),
    so an erasure of the person is either before (the event is stored redacted, as a rebuild
    that applies the erasure first stores it) or after (it redacts the event)."""
    await record_about_referrals(ctx, [], live, training=items)


async def _apply_training(ctx: Context, items: list[tuple[Envelope, Payload]], live: bool) -> None:
    """Training events whose enrollments' locks this transaction holds."""
    if not items:
        return
    conn = ctx.conn
    ids = sorted({getattr(p, "enrollment_id", None) or env.subject for env, p in items})
    erased = await store.enrollments_erased(conn, ids)
    shared_before = {s.enrollment_id for s in await store.shared_enrollments(conn, enrollment_ids=ids)} if live else set()
    touched: dict[str, Envelope] = {}
    for env, payload in items:
        eid = getattr(payload, "enrollment_id", None) or env.subject
        if await store.append(conn, env, type(payload).topic.name, referral_id=None, enrollment_id=eid,
                              program_id=env.data.get("program_id"), redacted=eid in erased):
            _keep_latest(touched, eid, env)
    await store.project_enrollments(conn, sorted(touched))
    if live and touched:
        # Told once: when the enrollment is first stored with the participant's consent.
        joined = [s for s in await store.shared_enrollments(conn, enrollment_ids=sorted(touched))
                  if s.enrollment_id not in shared_before]
        await notify.participants_joined(ctx, [(touched[s.enrollment_id], s) for s in joined])


def _keep_latest(latest: dict[str, Envelope], key: str, env: Envelope) -> None:
    """`env` as what `key` was touched by, if it happened last (the cause of what it is told)."""
    if key not in latest or env.time >= latest[key].time:
        latest[key] = env


async def record_service_provider(ctx: Context, env: Envelope, payload: Payload) -> None:
    """A service provider's directory entry: kept in the ledger (nothing is derived from it)."""
    await store.append(ctx.conn, env, type(payload).topic.name, referral_id=None)


async def record_services(ctx: Context, items: list[tuple[Envelope, Payload]], live: bool) -> None:
    """Service requests' events into the ledger and each request they touch projected again
    (`service_requests`); live, each requester told of its request's new status."""
    await record_about_referrals(ctx, [], live, services=items)


async def _apply_services(ctx: Context, items: list[tuple[Envelope, Payload]], live: bool) -> None:
    """Service events whose locks this transaction holds. One erased (the referral or enrollment
    its request names was erased) is stored redacted, its free text too (`domain.redact_service`)."""
    if not items:
        return
    conn = ctx.conn
    # What each request names: stored with it, or in its service.requested of this batch.
    named = await store.request_references(conn, sorted({p.request_id for _, p in items}))  # type: ignore[attr-defined]
    named.update({p.request_id: (p.referral_id, p.enrollment_id) for _, p in items  # type: ignore[attr-defined]
                  if type(p) is events.ServiceRequestedV1})
    erased = await store.references_erased(conn, [named.get(p.request_id, (None, None)) for _, p in items])  # type: ignore[attr-defined]
    touched: dict[str, Envelope] = {}
    for (env, payload), gone in zip(items, erased, strict=True):
        rid = payload.request_id  # type: ignore[attr-defined]
        stored = env.model_copy(update={"data": domain.redact_service(env.data)}) if gone else env
        if await store.append(conn, stored, type(payload).topic.name, referral_id=None, request_id=rid, redacted=gone):
            _keep_latest(touched, rid, env)
    projected = await store.project_service_requests(conn, sorted(touched))
    if live:
        await notify.services_changed(ctx, [(touched[rid], q, was) for rid, (was, q) in projected.items()])


async def erase(ctx: Context, env: Envelope, payload: events.CandidateErasedV1) -> None:
    """Record the erasure and redact the person's referrals in the ledger and projections.
    The facts (and so the funnel's counts) stay as they are."""
    conn = ctx.conn
    referral_ids = sorted(set(payload.referral_ids))
    enrollment_ids = sorted(set(payload.enrollment_ids))
    # One sort over both kinds: the order every transaction locks in.
    await store.lock_referrals(conn, [*referral_ids, *store.enrollment_keys(enrollment_ids)])
    # The erasure is recorded without the person's id (subject and data): what remains says
    # that one candidate's referrals were erased, when, and at whose request.
    recorded = env.model_copy(update={"subject": domain.ERASED})
    if not await store.append(conn, recorded, type(payload).topic.name, referral_id=None, redacted=True):
        return
    await store.mark_erased(conn, referral_ids, payload.erased_at, env.id)
    await store.redact(conn, referral_ids)
    await store.reproject_many(conn, referral_ids)
    # The person's enrollments (1.3) as their referrals: redacted, projected again under the
    # erasure's person key, without their sealed demographics.
    await store.mark_enrollments_erased(conn, enrollment_ids, payload.erased_at, env.id)
    await store.redact_enrollments(conn, enrollment_ids)
    await store.project_enrollments(conn, enrollment_ids)
    # The service requests made through them: redacted (their free text too) and projected again
    # under the erasure's person key. Found once the references are locked: a request stored
    # before then is found, one stored after finds its reference erased (`_request_keys`).
    request_ids = await store.requests_naming(conn, referral_ids, enrollment_ids)
    # Still one order: "service:" keys sort after intake's "ref_" ids and "enrollment:" keys.
    await store.lock_referrals(conn, [store.REQUEST_LOCK + r for r in request_ids])
    await store.redact_requests(conn, request_ids)
    await store.project_service_requests(conn, request_ids)
    await store.scrub_request_notices(conn, request_ids)
    # Its outbox rows and webhook deliveries too (ids and states only today: kept stripped
    # whatever they carry tomorrow). A partner's erasure (`partner_id`) names only its referrals
    # and enrollments.
    await scrub.scrub(conn, scrub.ids_of(payload), scrub.network_wide(payload))


# Referrals per transaction of `reproject_outdated`: each waits for the locks of its batch only.
REPROJECT_BATCH = 500


async def reproject_outdated(pool: asyncpg.Pool, batch: int = REPROJECT_BATCH) -> int:
    """Project again, from their ledger events, the referrals projected under an older
    `projection.VERSION` (rows stored before a change of what is derived), a batch per
    transaction under the referrals' locks, as `erase` does; returns how many. A rebuild derives
    every referral with the current version, so afterwards live and rebuilt rows are equal.

    No partner is told anything: a new version adds what the funnel counts (issue 15: outcome,
    flags, people), never another partner status."""
    done, after = 0, ""
    while True:
        async with pool.acquire() as conn, conn.transaction():
            ids = await store.outdated(conn, projection.VERSION, after, batch)
            if not ids:
                return done
            await store.lock_referrals(conn, ids)
            await store.reproject_many(conn, ids)
        done += len(ids)
        after = ids[-1]
