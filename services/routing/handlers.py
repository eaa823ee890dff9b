"""Routing's event handlers: thin glue between the consumer, the store and the domain."""

from __future__ import annotations

import asyncpg

from contracts import Envelope, events
from plumbing import outbox
from services.routing import domain, store

SOURCE = "/talentloop/routing"


async def on_opening_posted(conn: asyncpg.Connection, env: Envelope, event: events.OpeningPostedV1) -> None:
    await store.upsert_opening(conn, event, env.time)


async def on_referral_submitted(conn: asyncpg.Connection, env: Envelope, event: events.ReferralSubmittedV2) -> None:
    if await store.already_decided(conn, event.referral_id):
        return  # the same referral under another event id (a producer retry), or withdrawn: decided once
    candidate = domain.Candidate(
        referral_id=event.referral_id,
        skills=frozenset(event.skill_keys()),
        target_onet_soc_code=event.target_onet_soc_code,
        target_opening_id=event.target_opening_id,
    )
    decision = domain.decide(candidate, await store.open_openings(conn))
    if not await store.record_decision(conn, candidate, event.partner_id, event.candidate_id, decision):
        return  # decided or withdrawn concurrently (the erasure arrives on another topic)
    await _emit(conn, env, candidate, decision, event.partner_id, event.candidate_id, event.credentials)


async def on_referral_updated(conn: asyncpg.Connection, env: Envelope, event: events.ReferralUpdatedV1) -> None:
    """An unmatched referral is decided again with its new skills; any other stays as it is."""
    row = await store.decision_for_update(conn, event.referral_id)
    if row is None or not domain.decides_again(row["outcome"], row["withdrawn_at"] is not None):
        return
    candidate = domain.Candidate(
        referral_id=event.referral_id,
        skills=frozenset(event.skill_keys()),
        target_onet_soc_code=row["target_onet_soc_code"],
        target_opening_id=row["target_opening_id"],
    )
    decision = domain.decide(candidate, await store.open_openings(conn))
    await store.record_redecision(conn, event.referral_id, decision)
    await _emit(conn, env, candidate, decision, event.partner_id, event.candidate_id, event.credentials)


async def on_referral_withdrawn(conn: asyncpg.Connection, env: Envelope, event: events.ReferralWithdrawnV1) -> None:
    await store.withdraw(conn, [event.referral_id], event.withdrawn_at, event.reason.value)


async def on_candidate_erased(conn: asyncpg.Connection, env: Envelope, event: events.CandidateErasedV1) -> None:
    """Every referral of the person is withdrawn (whichever of this and their withdrawals comes
    first), and routing forgets their pseudonymous id."""
    await store.withdraw(conn, event.referral_ids, event.erased_at, events.WithdrawalReason.candidate_erased.value)
    await store.forget_candidate(conn, event.candidate_id, event.referral_ids)


async def _emit(
    conn: asyncpg.Connection,
    env: Envelope,
    candidate: domain.Candidate,
    decision: domain.Routed | domain.Unmatched,
    partner_id: str,
    candidate_id: str,
    credentials: list[events.Credential],
) -> None:
    """Publish the decision (routed or unmatched) through the outbox of this transaction."""
    common = {"referral_id": candidate.referral_id, "partner_id": partner_id, "candidate_id": candidate_id}
    out: events.Payload
    if isinstance(decision, domain.Routed):
        out = events.ReferralRoutedV1(
            **common,
            opening_id=decision.opening.opening_id,
            employer_id=decision.opening.employer_id,
            score=decision.score,
            matched_skills=decision.matched,
            missing_skills=decision.missing_preferred,
            candidate_skills=sorted(candidate.skills),
            credentials=credentials,
            explanation=decision.explanation,
        )
    else:
        out = events.ReferralUnmatchedV1(
            **common,
            reason=decision.reason,
            missing_skills=decision.missing_skills,
            nearest=[
                events.NearestOpening(
                    opening_id=n.opening.opening_id, employer_id=n.opening.employer_id, missing_skills=n.missing_required
                )
                for n in decision.nearest
            ],
        )
    await outbox.emit(conn, out, source=SOURCE, correlation_id=env.correlationid, causation_id=str(env.id))


HANDLERS = {
    events.OpeningPostedV1.event_type: on_opening_posted,
    events.ReferralSubmittedV2.event_type: on_referral_submitted,
    events.ReferralUpdatedV1.event_type: on_referral_updated,
    events.ReferralWithdrawnV1.event_type: on_referral_withdrawn,
    events.CandidateErasedV1.event_type: on_candidate_erased,
}
