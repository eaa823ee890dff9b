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
        return  # the same referral under another event id (a producer retry): decided once
    candidate = domain.Candidate(
        referral_id=event.referral_id,
        skills=frozenset(event.skill_keys()),
        target_onet_soc_code=event.target_onet_soc_code,
        target_opening_id=event.target_opening_id,
    )
    decision = domain.decide(candidate, await store.open_openings(conn))
    common = {"referral_id": event.referral_id, "partner_id": event.partner_id, "candidate_id": event.candidate_id}
    out: events.Payload
    if isinstance(decision, domain.Routed):
        await store.record_routed(conn, event.referral_id, event.partner_id, decision.opening.opening_id, decision.score)
        out = events.ReferralRoutedV1(
            **common,
            opening_id=decision.opening.opening_id,
            employer_id=decision.opening.employer_id,
            score=decision.score,
            matched_skills=decision.matched,
            missing_skills=decision.missing_preferred,
            candidate_skills=sorted(candidate.skills),
            credentials=event.credentials,
            explanation=decision.explanation,
        )
    else:
        await store.record_unmatched(conn, event.referral_id, event.partner_id)
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
}
