"""The support service's use cases, called by the HTTP routes (api.py) and the event handlers
(handlers.py) with the same `Context`: each loads what it needs, lets the domain decide, saves
the new state and emits the event in the same transaction (outbox).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from contracts import Envelope, events
from plumbing import scrub, webhooks
from plumbing.context import Context
from services.support import domain, store
from services.support.domain import Person, ServiceRequest


class NotFound(Exception):
    """Unknown, or another tenant's: the API answers both alike (404), so nothing leaks."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class OtherParty(Exception):
    """The request is the caller's, but the action is the other side's (a provider cancelling)."""

    def __init__(self, role: str) -> None:
        super().__init__(f"only the request's {role} may do this")
        self.role = role


def _event_answer(envelope: Envelope) -> dict[str, str]:
    return {"id": str(envelope.id), "type": envelope.type}


async def tell_providers(ctx: Context, told: Sequence[tuple[Envelope, events.Payload]]) -> None:
    """Queue the webhook each event makes to its request's provider (`domain.provider_notice`),
    in the transaction that recorded it: sent if and only if the change committed. The event's
    id is the notification's, so a provider deduplicates on it."""
    notifications = []
    for envelope, event in told:
        notice = domain.provider_notice(event)
        if notice is not None:
            owner = f"partner:{notice.provider_id}"
            subject = notice.data["request_id"]
            notifications.append(
                webhooks.Notification(owner, envelope.id, notice.event_type, subject, notice.data, envelope.time)
            )
    await webhooks.enqueue_many(ctx.conn, notifications)


# --- the directory ---------------------------------------------------------------------


async def enter_directory(
    ctx: Context, partner_id: str, name: str, service_types: list[events.ServiceType], correlation_id: str
) -> tuple[int, dict[str, Any]]:
    """Register the partner as a service provider (201), or change its entry (200; no event when
    nothing changed)."""
    current = await store.load_provider(ctx.conn, partner_id, lock=True)
    entry, event = domain.enter_directory(current, partner_id, name, service_types)
    answer: dict[str, Any] = {"provider_id": partner_id, "service_types": list(entry.service_types), "event": None}
    if event is not None:
        await store.save_provider(ctx.conn, entry, ctx.now())
        envelope = await ctx.emit(event, correlation_id=correlation_id, partner_id=partner_id)
        answer["event"] = _event_answer(envelope)
    return (201 if current is None else 200), answer


# --- requests --------------------------------------------------------------------------


def new_request_id() -> str:
    return f"srq_{uuid.uuid4().hex}"


async def request_service(
    ctx: Context,
    requester_id: str,
    provider_id: str,
    kind: str,
    ref_id: str,
    service_type: events.ServiceType,
    reason: str,
    amount_requested: events.Money | None,
    correlation_id: str,
) -> dict[str, Any]:
    """A request for a person the requester referred or enrolled (`kind` referral or
    enrollment, `ref_id` its id). Another partner's referral or enrollment is as unknown as a
    missing one."""
    provider = await store.load_provider(ctx.conn, provider_id)
    if provider is None:
        raise NotFound("service provider")
    person = await store.person(ctx.conn, kind, ref_id, requester_id)
    if person is None:
        raise NotFound(kind)
    request_id = new_request_id()
    event = domain.new_request(request_id, requester_id, provider, person, service_type, reason, amount_requested)
    now = ctx.now()
    await store.insert_request(ctx.conn, event, now)
    envelope = await ctx.emit(event, correlation_id=correlation_id, partner_id=requester_id)
    await tell_providers(ctx, [(envelope, event)])
    return {"request_id": request_id, "state": domain.State.requested.value, "event": _event_answer(envelope)}


Decide = Callable[[ServiceRequest], tuple[ServiceRequest, events.Payload]]


async def act(
    ctx: Context, party: str, role: str, request_id: str, decide: Decide, correlation_id: str
) -> dict[str, Any]:
    """One transition of a request by its `role` ("requester" or "provider"). A caller that is
    neither party gets NotFound; the other party, OtherParty; an ended request, the domain's
    InvalidTransition."""
    request = await store.load_request(ctx.conn, request_id)
    if request is None or party not in (request.requester_id, request.provider_id):
        raise NotFound("service request")
    if party != (request.requester_id if role == "requester" else request.provider_id):
        raise OtherParty(role)
    changed, event = decide(request)
    await store.save_transition(ctx.conn, changed, event)
    envelope = await ctx.emit(event, correlation_id=correlation_id, partner_id=request.requester_id)
    await tell_providers(ctx, [(envelope, event)])
    return {"request_id": request_id, "state": changed.state.value, "event": _event_answer(envelope)}


# --- what other services publish ---------------------------------------------------------


def person_of(payload: events.Payload) -> Person:
    """Whose referral (referral.submitted) or enrollment (training.enrolled) it is."""
    if isinstance(payload, events.TrainingEnrolledV1):
        return Person(payload.enrollment_id, "enrollment", payload.partner_id, payload.candidate_id)
    assert isinstance(payload, events.ReferralSubmittedV2)
    return Person(payload.referral_id, "referral", payload.partner_id, payload.candidate_id)


async def remember(ctx: Context, env: Envelope, payload: events.Payload) -> None:
    await store.remember_people(ctx.conn, [person_of(payload)])


async def remember_many(ctx: Context, items: Sequence[tuple[Envelope, events.Payload]]) -> None:
    await store.remember_people(ctx.conn, [person_of(p) for _, p in items])


async def erase_candidate(ctx: Context, env: Envelope, event: events.CandidateErasedV1) -> None:
    """No new request may name the erased referrals and enrollments; the requests about them (or
    about the person, when erased network-wide) keep their states for the counts, lose the words
    written about the person and are re-keyed to 'erased', here and in the outbox's published
    rows, idempotent answers and webhook deliveries (plumbing/scrub.py)."""
    conn = ctx.conn
    everywhere = scrub.network_wide(event)
    ids = scrub.ids_of(event)
    await store.erase_people(conn, event.referral_ids, event.enrollment_ids, everywhere, event.erased_at)
    request_ids = await store.erase_requests(conn, ids, everywhere, event.erased_at)
    await scrub.scrub(conn, ids, everywhere)
    await store.strip_outbox_words(conn, request_ids)


# --- waiting too long --------------------------------------------------------------------


async def flag_stale(ctx: Context, rule: domain.StaleRule, now: datetime, limit: int) -> int:
    """Flag (service.stale) up to `limit` requests of each waiting state that are due by `now`,
    and remind their providers; returns how many. Each is flagged once in each state it waits in."""
    flagged = 0
    for state in (domain.State.requested, domain.State.accepted):
        waiting = await store.waiting(ctx.conn, state, rule.earliest_since(state, now), limit)
        due = [r for r in waiting if rule.is_due(r.state, r.state_since, now)]
        told = []
        for r in due:
            event = r.stale(rule)
            told.append(
                (await ctx.emit(event, correlation_id=f"stale:{r.request_id}", partner_id=r.requester_id), event)
            )
        await tell_providers(ctx, told)
        await store.mark_stale(ctx.conn, state, [r.request_id for r in due], now)
        flagged += len(due)
    return flagged
