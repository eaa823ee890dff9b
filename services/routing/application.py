"""Routing's use cases: what an incoming event, or the end of a fair-share hold, does, once.

Event handlers (`handlers.py`) and the hold sweeper (`sweeper.py`) only translate into these;
the HTTP API (`api.py`) only reads the catalogue. Each use case gets a `Context` of its
transaction (connection, settings, clock, the outbox emitter), loads what it needs (`store`),
lets the domain decide and build the events (`domain`, `catalogue`), stores the result and
puts the events in the outbox of the same transaction (`ctx.emit`).

A decision's time is the time of the event it answers (`Cause.time`), not the clock, so a
replay decides as the first run did; the sweeper's cause is the context's clock
(`ctx.now()`), since no event marks the end of a hold.

`decide_first_many` applies a run of submissions set-based and leaves the same decisions,
slots and events as `decide_first` applied to each in order
(tests/integration/test_routing_batches.py); it writes each decision once, in its final form.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import asyncpg

from contracts import Envelope, events
from plumbing import scrub
from plumbing.context import Context, Outgoing
from services.routing import domain, store
from services.routing.catalogue import decide_in


@dataclasses.dataclass(frozen=True)
class Cause:
    """What a decision answers: its time (fair share is judged then) and the event behind it."""

    time: datetime
    correlation_id: str
    causation_id: str | None = None

    @classmethod
    def of(cls, env: Envelope) -> Cause:
        return cls(env.time, env.correlationid, str(env.id))


@dataclasses.dataclass(frozen=True)
class Submission:
    """A referral's first decision to make: who it is and why now."""

    cause: Cause
    candidate: domain.Candidate
    candidate_id: str
    credentials: list[events.Credential]


def candidate_of(
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


def submission(env: Envelope, event: events.ReferralSubmittedV2) -> Submission:
    candidate = candidate_of(event, event.target_onet_soc_code, event.target_opening_id)
    return Submission(Cause.of(env), candidate, event.candidate_id, event.credentials)


# --- openings ------------------------------------------------------------------------------


async def post_opening(ctx: Context, cause: Cause, event: events.OpeningPostedV1 | events.OpeningUpdatedV1) -> None:
    await store.upsert_opening(ctx.conn, event, cause.time)
    await reroute_waiting(ctx, cause, event.opening_id, event.capacity)


async def close_opening(ctx: Context, event: events.OpeningClosedV1) -> None:
    await store.close_opening(ctx.conn, event)


async def reroute_waiting(ctx: Context, cause: Cause, opening_id: str, capacity: int) -> None:
    """A new (or bigger, or changed) opening: referrals waiting unmatched whose skills now fit
    are decided again, oldest first, each decision a new attempt (up to the configured
    maximum). A waiting referral may end up elsewhere if a better opening fits."""
    conn = ctx.conn
    for candidate, row in await store.waiting_for(conn, opening_id, ctx.settings.max_routing_attempts, capacity * 4):
        decision = await decide(conn, candidate, cause.time)
        if not isinstance(decision, domain.Routed):
            continue  # still waiting: no new event, the attempt is not used up
        attempt = row["attempt"] + 1
        await store.record(conn, candidate.referral_id, decision, attempt=attempt)
        await emit_decision(ctx, cause, candidate, decision, row["candidate_id"] or "erased", store.credential_list(row),
                            attempt)


async def release_ended_holds(ctx: Context, limit: int) -> int:
    """Re-route for every opening whose fair-share hold has ended by now and was not swept
    yet (at most `limit`); returns how many openings."""
    now = ctx.now()
    ended = await store.holds_ended(ctx.conn, now, domain.FAIR_SHARE_HOLD, limit)
    for row in ended:
        await reroute_waiting(ctx, Cause(now, f"fair-share-hold-ended:{row['opening_id']}"), row["opening_id"],
                              row["capacity"])
    return len(ended)


# --- referrals -----------------------------------------------------------------------------


async def decide_first(ctx: Context, s: Submission) -> None:
    if not await store.claim(ctx.conn, s.candidate, s.candidate_id, s.credentials):
        return  # decided already (a producer retry under another event id), or withdrawn first
    decision = await decide(ctx.conn, s.candidate, s.cause.time)
    await store.record(ctx.conn, s.candidate.referral_id, decision, attempt=1)
    await emit_decision(ctx, s.cause, s.candidate, decision, s.candidate_id, s.credentials, attempt=1)


class _Undecided(Exception):
    """The batch's decisions cannot stand as made (`decide_first_many`): undone to the savepoint."""


async def decide_first_many(ctx: Context, submissions: list[Submission], postings: store.Postings) -> None:
    """Many first decisions at once, decided as `decide_first` decides each one, in order:
    read the slots of every open opening once, decide against that snapshot (a slot taken is
    gone for the next), then, under a savepoint, write the decisions in their final form (one
    statement, `store.claim_decided`) and take the slots chosen. If a referral had a decision
    or a withdrawal already (a producer's retry under another event id, a withdrawal that
    came first), or another process took or freed a slot of a chosen opening meanwhile, the
    snapshot's decisions are undone and the batch is decided one by one against the tables,
    as `decide_first` does. Then the events."""
    conn = ctx.conn
    todo, first = [], set()
    for s in submissions:  # the first submission of a referral decides it (a retry under another id does not)
        if s.candidate.referral_id not in first:
            first.add(s.candidate.referral_id)
            todo.append(s)
    catalogue, seen = await postings.catalogue(conn, [s.candidate for s in todo], min(s.cause.time for s in todo))
    decided = [(s, decide_in(catalogue, s.candidate, s.cause.time)) for s in todo]
    try:
        async with conn.transaction():  # a savepoint: the batch's transaction is the caller's
            claimed = await store.claim_decided(
                conn, [(s.candidate, s.candidate_id, s.credentials, decision) for s, decision in decided])
            if len(claimed) != len(decided) or not await store.take_slots(conn, dict(catalogue.taken), seen):
                raise _Undecided
    except _Undecided:
        decided = await _decide_each(conn, todo)
    out = [
        Outgoing(payload, s.cause.correlation_id, s.cause.causation_id)
        for s, decision in decided
        for payload in domain.decision_events(s.candidate, decision, s.candidate_id, s.credentials, 1)
    ]
    await ctx.emit_many(out)


async def _decide_each(conn: asyncpg.Connection, todo: list[Submission]) -> list[tuple[Submission, domain.Routed | domain.Unmatched]]:
    """`decide_first` for each submission in order, without its events: claimed together (rows
    locked in referral order, as every writer does), each decided against the tables and
    stored before the next is decided (so its slot and the partner's share count for it)."""
    claimed = await store.claim_many(conn, [(s.candidate, s.candidate_id, s.credentials) for s in todo])
    decided = []
    for s in todo:
        if s.candidate.referral_id not in claimed:
            continue  # decided already, or withdrawn first
        decision = await decide(conn, s.candidate, s.cause.time)
        await store.record(conn, s.candidate.referral_id, decision, attempt=1)
        decided.append((s, decision))
    return decided


async def update_profile(ctx: Context, cause: Cause, event: events.ReferralUpdatedV1) -> None:
    """An unmatched referral is decided again with its new profile; any other stays as it is."""
    conn = ctx.conn
    row = await store.decision_for_update(conn, event.referral_id)
    if row is None or not domain.decides_again(row["outcome"], row["withdrawn_at"] is not None):
        return
    candidate = candidate_of(event, row["target_onet_soc_code"], row["target_opening_id"], frozenset(row["declined_by"]))
    await store.update_profile(conn, candidate, event.credentials)
    decision = await decide(conn, candidate, cause.time)
    await store.record(conn, event.referral_id, decision, attempt=row["attempt"] + 1)
    await emit_decision(ctx, cause, candidate, decision, event.candidate_id, event.credentials, row["attempt"] + 1)


async def decline(ctx: Context, cause: Cause, event: events.ReferralDeclinedV1) -> None:
    """The employer declined (or closed the opening): the slot is free and, with attempts
    left, the referral is decided again among other employers' openings, a new attempt
    whichever way it goes (routed, or unmatched and waiting)."""
    conn = ctx.conn
    row = await store.decision_for_update(conn, event.referral_id)
    if row is None:
        return  # routing has no decision on it: nothing was routed from here
    after = domain.after_decline(
        row["outcome"], row["withdrawn_at"] is not None, row["opening_id"], event.opening_id, row["attempt"],
        ctx.settings.max_routing_attempts,
    )
    if not after.applies:
        return
    await store.decline(conn, event.referral_id, event.employer_id, event.opening_id)
    if not after.decide_again:
        return
    row = await store.decision_for_update(conn, event.referral_id)
    candidate = store.candidate_of(row)
    decision = await decide(conn, candidate, cause.time)
    attempt = row["attempt"] + 1
    await store.record(conn, event.referral_id, decision, attempt=attempt)
    await emit_decision(ctx, cause, candidate, decision, row["candidate_id"] or "erased", store.credential_list(row),
                        attempt)


async def place(ctx: Context, event: events.PlacementReportedV2) -> None:
    """The employer hired the candidate: the slot stays taken for good, also if the partner
    withdraws the referral afterwards, or did so before routing learnt of the placement
    (`domain.after_placement`)."""
    row = await store.decision_for_update(ctx.conn, event.referral_id)
    if row is None:
        return  # routing has no decision on it: nothing was routed from here
    after = domain.after_placement(row["outcome"], row["withdrawn_at"] is not None, row["opening_id"], event.opening_id)
    if after.applies:
        await store.place(ctx.conn, event.referral_id, event.opening_id, retake_slot=after.retakes_slot)


async def offer_declined(ctx: Context, event: events.OfferDeclinedV1) -> None:
    """The candidate turned the offer down: the referral ends there and its slot is free
    (`domain.after_offer_declined`); it is not decided again."""
    row = await store.decision_for_update(ctx.conn, event.referral_id)
    if row is None:
        return
    after = domain.after_offer_declined(row["outcome"], row["withdrawn_at"] is not None, row["opening_id"],
                                        event.opening_id)
    if after.applies:
        await store.end_with_offer_declined(ctx.conn, event.referral_id, event.opening_id, free_slot=after.frees_slot)


async def withdraw(ctx: Context, referral_ids: list[str], at: datetime, reason: str) -> None:
    await store.withdraw(ctx.conn, referral_ids, at, reason)


async def erase(ctx: Context, event: events.CandidateErasedV1) -> None:
    """Every erased referral is withdrawn (whichever of this and their withdrawals comes
    first), and routing forgets their candidate's profile, also in its outbox rows and stored
    answers (plumbing/scrub.py). A partner's erasure of its own referrals (`partner_id`) names
    only those: the person's other referrals keep their candidate."""
    candidate_id = scrub.network_wide(event)
    await store.withdraw(ctx.conn, event.referral_ids, event.erased_at, events.WithdrawalReason.candidate_erased.value)
    await store.forget_candidate(ctx.conn, candidate_id, event.referral_ids)
    await scrub.scrub(ctx.conn, event.referral_ids, candidate_id)


# --- deciding ------------------------------------------------------------------------------


async def decide(conn: asyncpg.Connection, candidate: domain.Candidate, now: datetime) -> domain.Routed | domain.Unmatched:
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


async def emit_decision(
    ctx: Context,
    cause: Cause,
    candidate: domain.Candidate,
    decision: domain.Routed | domain.Unmatched,
    candidate_id: str,
    credentials: list[events.Credential],
    attempt: int,
) -> None:
    """Publish the decision through the outbox of this transaction."""
    for event in domain.decision_events(candidate, decision, candidate_id, credentials, attempt):
        await ctx.emit(event, correlation_id=cause.correlation_id, causation_id=cause.causation_id)
