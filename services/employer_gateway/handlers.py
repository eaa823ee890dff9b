"""The gateway consumes routing decisions into each employer's referral inbox, and intake's
withdrawals, updates and erasures of those referrals (which may arrive before the decision)."""

from __future__ import annotations

import asyncpg

from contracts import Envelope, events
from services.employer_gateway import domain, store


async def on_referral_routed(conn: asyncpg.Connection, env: Envelope, event: events.ReferralRoutedV1) -> None:
    await store.lock_referral(conn, event.referral_id)
    entry = domain.inbox_entry(event.model_dump(mode="json"), await store.notice(conn, event.referral_id))
    await store.insert_routed(conn, event, env.time, entry)


async def on_referral_withdrawn(conn: asyncpg.Connection, env: Envelope, event: events.ReferralWithdrawnV1) -> None:
    await store.lock_referral(conn, event.referral_id)
    found = await store.load(conn, event.referral_id, None)
    if found is None:  # not routed here (yet): remember it, so it enters the inbox withdrawn
        await store.note_withdrawal(conn, event.referral_id, event.withdrawn_at, event.reason.value)
        return
    referral, _ = found
    if referral.withdraw():
        await store.save(conn, referral)


async def on_referral_updated(conn: asyncpg.Connection, env: Envelope, event: events.ReferralUpdatedV1) -> None:
    """The inbox shows the newest profile: kept in the notices (for a decision still to come)
    and written into the stored routing decision when the referral is already here."""
    await store.lock_referral(conn, event.referral_id)
    profile = domain.profile_of(event)
    if not await store.note_profile(conn, event.referral_id, profile, env.time):
        return  # the candidate was erased, or a newer update was applied already
    stored = await store.stored_routing(conn, event.referral_id)
    if stored is not None and stored[0] != domain.ERASED:
        await store.set_routing(conn, event.referral_id, stored[0], {**stored[1], **profile})


async def on_candidate_erased(conn: asyncpg.Connection, env: Envelope, event: events.CandidateErasedV1) -> None:
    referral_ids = sorted(set(event.referral_ids) | set(await store.referrals_of_candidate(conn, event.candidate_id)))
    for referral_id in referral_ids:  # in one order, so two erasures cannot deadlock
        await store.lock_referral(conn, referral_id)
    await store.note_erasure(conn, referral_ids, event.erased_at)
    for referral_id in referral_ids:
        found = await store.load(conn, referral_id, None)
        if found is None:
            continue  # not routed here (yet): the notice makes it enter without personal data
        referral, _ = found
        if referral.close_on_erasure():
            await store.save(conn, referral)
        stored = await store.stored_routing(conn, referral_id)
        if stored is not None and stored[0] != domain.ERASED:
            await store.set_routing(conn, referral_id, domain.ERASED, domain.without_personal_data(stored[1]))


HANDLERS = {
    events.ReferralRoutedV1.event_type: on_referral_routed,
    events.ReferralWithdrawnV1.event_type: on_referral_withdrawn,
    events.ReferralUpdatedV1.event_type: on_referral_updated,
    events.CandidateErasedV1.event_type: on_candidate_erased,
}
