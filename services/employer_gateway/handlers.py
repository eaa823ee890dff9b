"""The gateway consumes routing decisions into each employer's referral inbox, and intake's
withdrawals, updates and erasures of those referrals (which may arrive before the decision)."""

from __future__ import annotations

import asyncpg

from contracts import Envelope, events
from plumbing import outbox, webhooks
from plumbing.context import Context
from services.employer_gateway import domain, store
from services.employer_gateway.domain import OpeningState

SOURCE = "/talentloop/employer-gateway"
# What employers' webhook endpoints are told about (docs/webhooks.md): the ids and the new
# state only; the details are behind the API, with its consent and tenancy rules.
EMPLOYER_NOTIFICATIONS = ["referral.routed", "referral.withdrawn", "referral.updated", "referral.stale"]


async def notify_employer(
    conn: asyncpg.Connection, env: Envelope, event_type: str, employer_id: str, data: dict
) -> None:
    await webhooks.enqueue(
        conn, f"employer:{employer_id}", event_id=env.id, event_type=event_type,
        subject=data["referral_id"], occurred_at=env.time, data=data,
    )


async def on_referral_routed(ctx: Context, env: Envelope, event: events.ReferralRoutedV1) -> None:
    conn = ctx.conn
    await store.lock_referral(conn, event.referral_id)
    entry = domain.inbox_entry(event.model_dump(mode="json"), await store.notice(conn, event.referral_id))
    if not await store.insert_routed(conn, event, env.time, entry):
        return
    await notify_employer(conn, env, "referral.routed", event.employer_id, {
        "referral_id": event.referral_id, "opening_id": event.opening_id, "state": entry.state.value,
        "attempt": event.attempt,
    })
    state = await store.opening_state(conn, event.opening_id)
    if state not in (None, OpeningState.open):
        # Routing decided before it learnt the opening had closed: decline it as the close
        # would have, so routing sends it elsewhere.
        await decline_for_closed_opening(
            conn, event.opening_id, events.OpeningCloseReason(state.value), env.correlationid, str(env.id)
        )


async def decline_for_closed_opening(
    conn: asyncpg.Connection,
    opening_id: str,
    closed_as: events.OpeningCloseReason,
    correlation_id: str,
    causation_id: str | None = None,
) -> list[str]:
    """Decline every referral still in progress at the closed opening; their events go out
    through the outbox of this transaction. Returns the declined referral ids."""
    declined = []
    for referral, partner_id in await store.in_progress_at(conn, opening_id):
        event = referral.decline_for_closed_opening(closed_as)
        if event is None:
            continue
        await store.save(conn, referral)
        await outbox.emit(
            conn,
            event,
            source=SOURCE,
            correlation_id=correlation_id,
            causation_id=causation_id,
            partner_id=partner_id,
        )
        declined.append(referral.referral_id)
    return declined


async def on_referral_withdrawn(ctx: Context, env: Envelope, event: events.ReferralWithdrawnV1) -> None:
    conn = ctx.conn
    await store.lock_referral(conn, event.referral_id)
    # Remembered whether it is routed here yet or not: a later routing (after a decline
    # elsewhere, or still to come) enters the inbox withdrawn.
    await store.note_withdrawal(conn, event.referral_id, event.withdrawn_at, event.reason.value)
    for referral, _ in await store.load_all(conn, event.referral_id):
        if referral.withdraw():
            await store.save(conn, referral)
            await notify_employer(conn, env, "referral.withdrawn", referral.employer_id, {
                "referral_id": referral.referral_id, "opening_id": referral.opening_id, "state": referral.state.value,
            })


async def on_referral_submitted(ctx: Context, env: Envelope, event: events.ReferralSubmittedV2) -> None:
    """The sealed contact details and whether the candidate lets employers see them."""
    conn = ctx.conn
    await store.lock_referral(conn, event.referral_id)
    await store.keep_contact(conn, event.referral_id, event.consent.share_contact, event.contact_sealed, env.time)


async def on_referral_updated(ctx: Context, env: Envelope, event: events.ReferralUpdatedV1) -> None:
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
            await notify_employer(conn, env, "referral.updated", employer_id, {
                "referral_id": event.referral_id, "opening_id": routing["opening_id"], "changed": event.changed,
            })


async def on_candidate_erased(ctx: Context, env: Envelope, event: events.CandidateErasedV1) -> None:
    conn = ctx.conn
    referral_ids = sorted(set(event.referral_ids) | set(await store.referrals_of_candidate(conn, event.candidate_id)))
    for referral_id in referral_ids:  # in one order, so two erasures cannot deadlock
        await store.lock_referral(conn, referral_id)
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


HANDLERS = {
    events.ReferralRoutedV1.event_type: on_referral_routed,
    events.ReferralWithdrawnV1.event_type: on_referral_withdrawn,
    events.ReferralSubmittedV2.event_type: on_referral_submitted,
    events.ReferralUpdatedV1.event_type: on_referral_updated,
    events.CandidateErasedV1.event_type: on_candidate_erased,
}
