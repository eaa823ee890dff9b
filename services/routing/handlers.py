"""Routing's event handlers: thin glue between the consumer, the store and the domain."""

from __future__ import annotations

import dataclasses
import functools
from datetime import datetime

import asyncpg

from contracts import Envelope, build, events
from plumbing import outbox
from plumbing.consumer import BatchHandler
from plumbing.context import Context
from plumbing.settings import Settings
from services.routing import domain, store
from services.routing.catalogue import decide_in as catalogue_decide

SOURCE = "/talentloop/routing"


async def on_opening_posted(ctx: Context, env: Envelope, event: events.OpeningPostedV1) -> None:
    conn = ctx.conn
    await store.upsert_opening(conn, event, env.time)
    await reroute_waiting(conn, Cause.of(env), event.opening_id, event.capacity)


async def on_opening_updated(ctx: Context, env: Envelope, event: events.OpeningUpdatedV1) -> None:
    conn = ctx.conn
    await store.upsert_opening(conn, event, env.time)
    await reroute_waiting(conn, Cause.of(env), event.opening_id, event.capacity)


@dataclasses.dataclass(frozen=True)
class Cause:
    """What a decision answers: its time (fair share is judged then) and the event behind it."""

    time: datetime
    correlation_id: str
    causation_id: str | None = None

    @classmethod
    def of(cls, env: Envelope) -> Cause:
        return cls(env.time, env.correlationid, str(env.id))


async def reroute_waiting(conn: asyncpg.Connection, cause: Cause, opening_id: str, capacity: int) -> None:
    """A new (or bigger, or changed) opening: referrals waiting unmatched whose skills now fit
    are decided again, oldest first, each decision a new attempt (up to the configured
    maximum). A waiting referral may end up elsewhere if a better opening fits."""
    max_attempts = routing_settings().max_routing_attempts
    for candidate, row in await store.waiting_for(conn, opening_id, max_attempts, limit=capacity * 4):
        decision = await _decide(conn, candidate, cause.time)
        if not isinstance(decision, domain.Routed):
            continue  # still waiting: no new event, the attempt is not used up
        attempt = row["attempt"] + 1
        await store.record(conn, candidate.referral_id, decision, attempt=attempt)
        await _emit(conn, cause, candidate, decision, row["candidate_id"] or "erased", store.credential_list(row), attempt)


@functools.cache
def routing_settings() -> Settings:
    return Settings()


async def on_opening_closed(ctx: Context, env: Envelope, event: events.OpeningClosedV1) -> None:
    conn = ctx.conn
    await store.close_opening(conn, event)


def _candidate(
    event: events.ReferralSubmittedV2 | events.ReferralUpdatedV1,
    target_onet_soc_code: str | None,
    target_opening_id: str | None,
    excluded_employers: frozenset[str] = frozenset(),
) -> domain.Candidate:
    return domain.Candidate(
        referral_id=event.referral_id,
        skills=frozenset(event.skill_keys()),
        target_onet_soc_code=target_onet_soc_code,
        target_opening_id=target_opening_id,
        partner_id=event.partner_id,
        credentials=domain.held_credentials(event.credentials),
        degree=event.highest_degree,
        location=event.location,
        excluded_employers=excluded_employers,
    )


async def on_referral_submitted(ctx: Context, env: Envelope, event: events.ReferralSubmittedV2) -> None:
    conn = ctx.conn
    candidate = _candidate(event, event.target_onet_soc_code, event.target_opening_id)
    if not await store.claim(conn, candidate, event.candidate_id, event.credentials):
        return  # decided already (a producer retry under another event id), or withdrawn first
    decision = await _decide(conn, candidate, env.time)
    await store.record(conn, event.referral_id, decision, attempt=1)
    await _emit(conn, Cause.of(env), candidate, decision, event.candidate_id, event.credentials, attempt=1)


async def on_referral_updated(ctx: Context, env: Envelope, event: events.ReferralUpdatedV1) -> None:
    """An unmatched referral is decided again with its new profile; any other stays as it is."""
    conn = ctx.conn
    row = await store.decision_for_update(conn, event.referral_id)
    if row is None or not domain.decides_again(row["outcome"], row["withdrawn_at"] is not None):
        return
    candidate = _candidate(event, row["target_onet_soc_code"], row["target_opening_id"], frozenset(row["declined_by"]))
    await store.update_profile(conn, candidate, event.credentials)
    decision = await _decide(conn, candidate, env.time)
    await store.record(conn, event.referral_id, decision, attempt=row["attempt"] + 1)
    await _emit(conn, Cause.of(env), candidate, decision, event.candidate_id, event.credentials, attempt=row["attempt"] + 1)


async def on_referral_declined(ctx: Context, env: Envelope, event: events.ReferralDeclinedV1) -> None:
    """The employer declined (or closed the opening): the slot is free and, with attempts
    left, the referral is decided again among other employers' openings, a new attempt
    whichever way it goes (routed, or unmatched and waiting)."""
    conn = ctx.conn
    row = await store.decision_for_update(conn, event.referral_id)
    if row is None:
        return  # routing has no decision on it: nothing was routed from here
    after = domain.after_decline(
        row["outcome"], row["withdrawn_at"] is not None, row["opening_id"], event.opening_id, row["attempt"],
        routing_settings().max_routing_attempts,
    )
    if not after.applies:
        return
    await store.decline(conn, event.referral_id, event.employer_id, event.opening_id)
    if not after.decide_again:
        return
    row = await store.decision_for_update(conn, event.referral_id)
    candidate = store.candidate_of(row)
    decision = await _decide(conn, candidate, env.time)
    attempt = row["attempt"] + 1
    await store.record(conn, event.referral_id, decision, attempt=attempt)
    await _emit(conn, Cause.of(env), candidate, decision, row["candidate_id"] or "erased", store.credential_list(row), attempt)


async def on_referral_withdrawn(ctx: Context, env: Envelope, event: events.ReferralWithdrawnV1) -> None:
    conn = ctx.conn
    await store.withdraw(conn, [event.referral_id], event.withdrawn_at, event.reason.value)


async def on_candidate_erased(ctx: Context, env: Envelope, event: events.CandidateErasedV1) -> None:
    """Every referral of the person is withdrawn (whichever of this and their withdrawals comes
    first), and routing forgets their pseudonymous id."""
    conn = ctx.conn
    await store.withdraw(conn, event.referral_ids, event.erased_at, events.WithdrawalReason.candidate_erased.value)
    await store.forget_candidate(conn, event.candidate_id, event.referral_ids)


async def _decide(conn: asyncpg.Connection, candidate: domain.Candidate, now: datetime) -> domain.Routed | domain.Unmatched:
    """Decide and take the slot. The openings are read without locks, so the chosen one may
    have filled (or reached this partner's fair share) meanwhile: then read again, which
    shows why; an opening lost repeatedly is left out, so this always ends. `now` is the
    event's time, so a replay decides as the first run did."""
    lost: dict[str, int] = {}
    while True:
        covering = await store.openings_for(conn, candidate)
        decision = domain.decide(candidate, covering, now)
        if not isinstance(decision, domain.Routed):
            # Nothing to route to: look wider for the nearest openings; the reason stays the
            # one the covering openings gave (full, held for others, requirements), if any.
            wider = domain.decide(candidate, await store.openings_for(conn, candidate, nearest=True), now)
            return dataclasses.replace(wider, reason=decision.reason) if covering else wider
        chosen = decision.opening.opening_id
        if await store.take_slot(conn, candidate, chosen, now):
            return decision
        lost[chosen] = lost.get(chosen, 0) + 1
        if lost[chosen] >= 3:
            candidate = dataclasses.replace(candidate, excluded=candidate.excluded | {chosen})


async def _emit(
    conn: asyncpg.Connection,
    cause: Cause,
    candidate: domain.Candidate,
    decision: domain.Routed | domain.Unmatched,
    candidate_id: str,
    credentials: list[events.Credential],
    attempt: int,
) -> None:
    """Publish the decision through the outbox of this transaction."""
    for event in domain.decision_events(candidate, decision, candidate_id, credentials, attempt):
        await outbox.emit(conn, event, source=SOURCE, correlation_id=cause.correlation_id, causation_id=cause.causation_id)


async def on_referrals_submitted(
    conn: asyncpg.Connection, items: list[tuple[Envelope, events.ReferralSubmittedV2]], postings: store.Postings
) -> None:
    """Many first decisions at once, decided as `on_referral_submitted` decides each one, in
    order: claim them in one statement, read the slots of every opening they could touch
    once, decide against that snapshot (a slot taken is gone for the next), take the slots
    chosen if nobody else did meanwhile, then store the decisions and the events."""
    candidates = {env.id: _candidate(e, e.target_onet_soc_code, e.target_opening_id) for env, e in items}
    claimed = await store.claim_many(conn, [(candidates[env.id], e.candidate_id, e.credentials) for env, e in items])
    todo = []
    for env, e in items:  # the first submission of a referral decides it (a retry under another id does not)
        if e.referral_id in claimed:
            claimed.discard(e.referral_id)
            todo.append((env, e))
    if not todo:
        return
    catalogue, seen = await postings.catalogue(conn, [candidates[env.id] for env, _ in todo], min(env.time for env, _ in todo))
    decided = [(env, e, catalogue_decide(catalogue, candidates[env.id], env.time)) for env, e in todo]
    if not await store.take_slots(conn, dict(catalogue.taken), seen):
        # Another process took or freed a slot of a chosen opening meanwhile: decide again,
        # one by one against the tables, as `on_referral_submitted` does.
        decided = [(env, e, await _decide(conn, candidates[env.id], env.time)) for env, e, _ in decided]
    out = []
    for env, event, decision in decided:
        cause = Cause.of(env)
        for payload in domain.decision_events(candidates[env.id], decision, event.candidate_id, event.credentials, 1):
            envelope = build(payload, source=SOURCE, correlation_id=cause.correlation_id, causation_id=cause.causation_id)
            out.append((envelope, type(payload)))
    await store.record_many(conn, [(e.referral_id, decision, 1) for _, e, decision in decided])
    await outbox.enqueue_many(conn, out)


def batch_handler_for(postings: store.Postings) -> BatchHandler:
    """A batch in record order: each run of consecutive submissions set-based, anything else
    through its own handler, so the order of facts is kept. `postings` caches the openings'
    postings of one database schema."""

    async def batch_handler(ctx: Context, items: list[tuple[Envelope, events.Payload]]) -> None:
        conn = ctx.conn
        run: list[tuple[Envelope, events.ReferralSubmittedV2]] = []
        for env, payload in items:
            if isinstance(payload, events.ReferralSubmittedV2):
                run.append((env, payload))
                continue
            if run:
                await on_referrals_submitted(conn, run, postings)
                run = []
            await HANDLERS[type(payload).event_type](ctx, env, payload)
        if run:
            await on_referrals_submitted(conn, run, postings)

    return batch_handler


HANDLERS = {
    events.OpeningPostedV1.event_type: on_opening_posted,
    events.OpeningUpdatedV1.event_type: on_opening_updated,
    events.OpeningClosedV1.event_type: on_opening_closed,
    events.ReferralSubmittedV2.event_type: on_referral_submitted,
    events.ReferralUpdatedV1.event_type: on_referral_updated,
    events.ReferralWithdrawnV1.event_type: on_referral_withdrawn,
    events.ReferralDeclinedV1.event_type: on_referral_declined,
    events.CandidateErasedV1.event_type: on_candidate_erased,
}
