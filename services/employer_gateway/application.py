"""The gateway's use cases: what an employer's request or an incoming event does, once.

HTTP routes (`api.py`) and event handlers (`handlers.py`) only translate into these and
back: a route parses, authorizes, calls a use case with a `Context` of its transaction and
turns the result or the domain's refusal into an answer; a handler passes the event on.
Each use case loads what it needs (`store`), lets the domain decide and build the events
(`domain`), stores the result and puts the events in the outbox of the same transaction
(`ctx.emit`) and the employer's webhook notifications beside them. The clock is the
context's (`ctx.now()`), so a test can fix it.

The set-based variants (`enter_inbox_many`, `keep_contacts`) apply a run of events of one
kind in a few statements and leave the same state, events and notifications as applying
them one by one in order (tests/integration/test_gateway_batches.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from contracts import Envelope, events
from plumbing import outbox, scrub, webhooks
from plumbing.context import Context, Outgoing
from services.employer_gateway import demand, domain, store
from services.employer_gateway.domain import Notice, Opening, OpeningState, Referral

# What employers' webhook endpoints are told about (docs/webhooks.md): the ids and the new
# state only; the details are behind the API, with its consent and tenancy rules.
EMPLOYER_NOTIFICATIONS = ["referral.routed", "referral.withdrawn", "referral.updated", "referral.stale"]


class NotFound(Exception):
    """The employer has no such opening or referral (another tenant's is not theirs either)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"no {what}")
        self.what = what


def notification(env: Envelope, event_type: str, employer_id: str, data: dict[str, Any]) -> webhooks.Notification:
    return webhooks.Notification(
        f"employer:{employer_id}", env.id, event_type, data["referral_id"], data, occurred_at=env.time
    )


async def notify_employer(ctx: Context, env: Envelope, event_type: str, employer_id: str, data: dict[str, Any]) -> None:
    await webhooks.enqueue_many(ctx.conn, [notification(env, event_type, employer_id, data)])


# --- an employer's openings ---------------------------------------------------------------


async def post_opening(ctx: Context, employer_id: str, posting: Mapping[str, Any], correlation_id: str) -> str:
    """Post a new opening; returns its id."""
    event = domain.post_opening(f"opn_{uuid.uuid4().hex}", employer_id, posting)
    await store.insert_opening(ctx.conn, event)
    await ctx.emit(event, correlation_id=correlation_id)
    return event.opening_id


async def declare_forecast(
    ctx: Context, employer_id: str, declared: Mapping[str, Any], correlation_id: str
) -> dict[str, Any]:
    """The employer's demand forecast, replacing its earlier one for the same occupation,
    employment type and horizon (issue 16 item 3)."""
    event = demand.forecast(f"fct_{uuid.uuid4().hex}", employer_id, declared)
    envelope = await ctx.emit(event, correlation_id=correlation_id)
    # Stored at the event's time, the latest kept, as outcomes keeps it: two requests racing end the same in both.
    replaced = await store.save_forecast(ctx.conn, event, envelope.time)
    return {"forecast_id": event.forecast_id, "replaced": replaced, "event": {"id": str(envelope.id), "type": envelope.type}}


async def update_opening(
    ctx: Context, employer_id: str, opening_id: str, changes: Mapping[str, Any], correlation_id: str
) -> dict[str, Any]:
    """Change an open opening's posting; raises NotFound, InvalidTransition, CapacityBelowRouted."""
    return await _change_opening(
        ctx, employer_id, opening_id, correlation_id, lambda o, routed: domain.update_opening(o, changes, routed)
    )


async def close_opening(
    ctx: Context, employer_id: str, opening_id: str, reason: events.OpeningCloseReason, correlation_id: str
) -> dict[str, Any]:
    """Close (or fill) an opening and decline the referrals still in progress there
    (`declined_referrals`), so routing can send them elsewhere."""
    now = ctx.now()
    return await _change_opening(
        ctx, employer_id, opening_id, correlation_id, lambda o, _: domain.close_opening(o, reason, now)
    )


async def _change_opening(
    ctx: Context,
    employer_id: str,
    opening_id: str,
    correlation_id: str,
    decide: Callable[[Opening, int], tuple[Opening, events.Payload]],
) -> dict[str, Any]:
    """Load the employer's opening, apply one domain change (given how many referrals are
    routed to it and still in play), store it and its event; the opening as the employer
    sees it, with the event's id and type."""
    opening = await store.load_opening(ctx.conn, opening_id, employer_id)
    if opening is None:
        raise NotFound("opening")
    opening, event = decide(opening, await store.routed_to(ctx.conn, opening_id))
    view = await store.save_opening(ctx.conn, opening)
    envelope = await ctx.emit(event, correlation_id=correlation_id)
    extra = {}
    if isinstance(event, events.OpeningClosedV1):
        extra["declined_referrals"] = await decline_for_closed_opening(
            ctx, opening_id, event.reason, envelope.correlationid, str(envelope.id)
        )
    return {**view, "event": {"id": str(envelope.id), "type": envelope.type}, **extra}


async def decline_for_closed_opening(
    ctx: Context,
    opening_id: str,
    closed_as: events.OpeningCloseReason,
    correlation_id: str,
    causation_id: str | None = None,
) -> list[str]:
    """Decline every referral still in progress at the closed opening; their events go out
    through the outbox of this transaction. Returns the declined referral ids."""
    declined = []
    for referral, partner_id in await store.in_progress_at(ctx.conn, opening_id):
        event = referral.decline_for_closed_opening(closed_as)
        if event is None:
            continue
        await store.save(ctx.conn, referral)
        await ctx.emit(event, correlation_id=correlation_id, causation_id=causation_id, partner_id=partner_id)
        declined.append(referral.referral_id)
    return declined


# --- an employer's action on a referral ------------------------------------------------------


@dataclass(frozen=True)
class Acted:
    referral: Referral
    state: domain.State  # the referral's state right after this action
    event: events.Payload
    envelope: Envelope


@dataclass(frozen=True)
class Action:
    """An employer's action on their referral: `decide` is a method of `Referral`, which
    raises InvalidTransition, UnknownInterview or UnknownOffer to refuse it."""

    employer_id: str
    referral_id: str
    decide: Callable[[Referral], events.Payload]
    correlation_id: str
    # The trace context its event's outbox row keeps (the HTTP request's, when the action is
    # applied in a group apart from its request); None: the one current at `act_many`.
    trace: outbox.Trace | None = None


REFUSALS = (NotFound, domain.InvalidTransition, domain.UnknownInterview, domain.UnknownOffer)


async def act(
    ctx: Context,
    employer_id: str,
    referral_id: str,
    decide: Callable[[Referral], events.Payload],
    correlation_id: str,
) -> Acted:
    """Load the employer's referral, apply one domain transition, store it and its event.
    Raises NotFound if the referral is not theirs, or the domain's refusal."""
    (done,) = await act_many(ctx, [Action(employer_id, referral_id, decide, correlation_id)])
    if isinstance(done, Exception):
        raise done
    return done


async def act_many(ctx: Context, actions: list[Action]) -> list[Acted | Exception]:
    """`act` for several actions in order, as if one after the other: the referrals loaded
    (and locked) in one statement and stored in one, their events in one outbox statement
    (in the actions' order, each row with its action's trace context).
    Each result is the action's Acted or its refusal (one of REFUSALS), which changed nothing."""
    found = await store.load_many(ctx.conn, [(a.referral_id, a.employer_id) for a in actions])
    results: list[tuple[Referral, domain.State, events.Payload] | Exception] = []
    outgoing: list[Outgoing] = []
    changed: dict[tuple[str, str], Referral] = {}
    for a in actions:
        got = found.get((a.referral_id, a.employer_id))
        if got is None:
            results.append(NotFound("referral"))
            continue
        referral, partner_id = got
        try:
            event = a.decide(referral)
        except REFUSALS as exc:
            results.append(exc)
            continue
        changed[(a.referral_id, a.employer_id)] = referral
        # Each its own moment, as when emitted one by one: a referral's events keep their order in time too.
        outgoing.append(Outgoing(event, a.correlation_id, partner_id=partner_id, time=ctx.now(), trace=a.trace))
        results.append((referral, referral.state, event))
    envelopes = iter(await ctx.emit_many(outgoing))
    await store.save_many(ctx.conn, list(changed.values()))
    return [r if isinstance(r, Exception) else Acted(*r, next(envelopes)) for r in results]


# --- routing's decisions: the employer's inbox ---------------------------------------------


def _routed_notice(event: events.ReferralRoutedV1, entry: domain.InboxEntry) -> dict[str, Any]:
    return {
        "referral_id": event.referral_id, "opening_id": event.opening_id, "state": entry.state.value,
        "attempt": event.attempt,
    }


async def enter_inbox(ctx: Context, env: Envelope, event: events.ReferralRoutedV1) -> None:
    """A routing decision enters the employer's inbox with what arrived about the referral
    before it (a withdrawal, an update, an erasure); a repeat changes nothing."""
    conn = ctx.conn
    await store.lock_referral(conn, event.referral_id)
    entry = domain.inbox_entry(event.model_dump(mode="json"), await store.notice(conn, event.referral_id))
    if not await store.insert_routed(conn, event, env.time, entry):
        return
    await notify_employer(ctx, env, "referral.routed", event.employer_id, _routed_notice(event, entry))
    state = await store.opening_state(conn, event.opening_id)
    if state not in (None, OpeningState.open):
        # Routing decided before it learnt the opening had closed: decline it as the close
        # would have, so routing sends it elsewhere.
        await decline_for_closed_opening(
            ctx, event.opening_id, events.OpeningCloseReason(state.value), env.correlationid, str(env.id)
        )


async def enter_inbox_many(ctx: Context, items: list[tuple[Envelope, events.ReferralRoutedV1]]) -> None:
    """`enter_inbox` for a run of decisions, in order: the referrals locked in one statement,
    their notices and openings read in one each, the rows inserted and their notifications
    queued in one each. A decision for an opening that is closed by now goes through
    `enter_inbox` at its place in the run (it declines what is in progress there)."""
    conn = ctx.conn
    await store.lock_referrals(conn, [e.referral_id for _, e in items])
    notices = await store.notices(conn, [e.referral_id for _, e in items])
    states = await store.opening_states(conn, [e.opening_id for _, e in items])
    together: list[tuple[Envelope, events.ReferralRoutedV1]] = []
    for env, event in items:
        if states.get(event.opening_id) in (None, OpeningState.open):
            together.append((env, event))
            continue
        await _enter_together(ctx, together, notices)
        together = []
        await enter_inbox(ctx, env, event)
    await _enter_together(ctx, together, notices)


async def _enter_together(
    ctx: Context, items: list[tuple[Envelope, events.ReferralRoutedV1]], notices: Mapping[str, Notice]
) -> None:
    if not items:
        return
    entries = [domain.inbox_entry(e.model_dump(mode="json"), notices.get(e.referral_id, Notice())) for _, e in items]
    inserted = await store.insert_routed_many(
        ctx.conn, [(event, env.time, entry) for (env, event), entry in zip(items, entries, strict=True)]
    )
    notify = []
    for (env, event), entry in zip(items, entries, strict=True):
        key = (event.referral_id, event.employer_id)
        if key in inserted:  # the first of repeats in the run is the one inserted
            inserted.discard(key)
            notify.append(notification(env, "referral.routed", event.employer_id, _routed_notice(event, entry)))
    await webhooks.enqueue_many(ctx.conn, notify)


# --- intake's events about referrals ----------------------------------------------------------


async def keep_contact(ctx: Context, env: Envelope, event: events.ReferralSubmittedV2) -> None:
    """The sealed contact details and whether the candidate lets employers see them."""
    await store.lock_referral(ctx.conn, event.referral_id)
    await store.keep_contact(ctx.conn, event.referral_id, event.consent.share_contact, event.contact_sealed, env.time)


async def keep_contacts(ctx: Context, items: list[tuple[Envelope, events.ReferralSubmittedV2]]) -> None:
    """`keep_contact` for a run of submissions: one lock statement, one upsert. Of several
    submissions of one referral, the one `keep_contact` in order would leave wins: the
    newest, and of equally new ones the last."""
    await store.lock_referrals(ctx.conn, [e.referral_id for _, e in items])
    newest: dict[str, tuple[bool, events.Sealed | None, Any]] = {}
    for env, event in items:
        kept = newest.get(event.referral_id)
        if kept is None or kept[2] <= env.time:
            newest[event.referral_id] = (event.consent.share_contact, event.contact_sealed, env.time)
    await store.keep_contacts(ctx.conn, [(referral_id, *kept) for referral_id, kept in newest.items()])


async def withdraw(ctx: Context, env: Envelope, event: events.ReferralWithdrawnV1) -> None:
    """The partner withdrew the referral: ended at every employer it is in progress with."""
    conn = ctx.conn
    await store.lock_referral(conn, event.referral_id)
    # Remembered whether it is routed here yet or not: a later routing (after a decline
    # elsewhere, or still to come) enters the inbox withdrawn.
    await store.note_withdrawal(conn, event.referral_id, event.withdrawn_at, event.reason.value)
    for referral, _ in await store.load_all(conn, event.referral_id):
        if referral.withdraw():
            await store.save(conn, referral)
            await notify_employer(ctx, env, "referral.withdrawn", referral.employer_id, {
                "referral_id": referral.referral_id, "opening_id": referral.opening_id, "state": referral.state.value,
            })


async def update_profile(ctx: Context, env: Envelope, event: events.ReferralUpdatedV1) -> None:
    """The inbox shows the newest profile: kept in the notices (for a decision still to come)
    and written into the stored routing decision when the referral is already here."""
    conn = ctx.conn
    await store.lock_referral(conn, event.referral_id)
    if event.contact_sealed is not None:
        await store.keep_contact(conn, event.referral_id, None, event.contact_sealed, env.time)
    profile = domain.profile_of(event)
    if not await store.note_profile(conn, event.referral_id, profile, env.time):
        return  # the candidate was erased, or a newer update was applied already
    for employer_id, candidate_id, routing in await store.stored_routings(conn, event.referral_id):
        if candidate_id != domain.ERASED:
            await store.set_routing(conn, event.referral_id, employer_id, candidate_id, {**routing, **profile})
            await notify_employer(ctx, env, "referral.updated", employer_id, {
                "referral_id": event.referral_id, "opening_id": routing["opening_id"], "changed": event.changed,
            })


async def erase_candidate(ctx: Context, env: Envelope, event: events.CandidateErasedV1) -> None:
    """The erased referrals in progress are withdrawn and their personal data forgotten, here
    (also in the outbox rows, stored answers and webhook deliveries: plumbing/scrub.py) and for
    any decision still to come. A partner's erasure of its own referrals (`partner_id`) names
    only those: the person's referrals from other partners stay as they are."""
    conn = ctx.conn
    everywhere = scrub.network_wide(event)
    named = set(event.referral_ids)
    if everywhere is not None:
        named |= set(await store.referrals_of_candidate(conn, everywhere))
    referral_ids = sorted(named)
    await store.lock_referrals(conn, referral_ids)  # in one order, so two erasures cannot deadlock
    await store.note_erasure(conn, referral_ids, event.erased_at)
    await store.forget_contacts(conn, referral_ids)
    for referral_id in referral_ids:  # not routed here (yet): the notice makes it enter without personal data
        for referral, _ in await store.load_all(conn, referral_id):
            if referral.close_on_erasure():
                await store.save(conn, referral)
        for employer_id, candidate_id, routing in await store.stored_routings(conn, referral_id):
            if candidate_id != domain.ERASED:
                await store.set_routing(
                    conn, referral_id, employer_id, domain.ERASED, domain.without_personal_data(routing)
                )
    await scrub.scrub(conn, referral_ids, everywhere)
