"""The closed loops: whoever may hear of a change hears of it, as an event on
`talentloop.partner-status` (through the outbox) and as a signed webhook to each of its
endpoints, both in the transaction that recorded the change (the handler's `Context`: its
connection, its clock and the service's source).

- A referral's partner-facing status changed: its referring partner is told
  (`referral.status_changed`), and so is every training provider of an enrollment of the same
  person whose participant agreed that it may hear what came of them (`participant.status_changed`;
  not the referring partner itself, which hears as the referrer).
- Such an enrollment is projected with that consent for the first time: its provider is told
  the current status of each of the person's referrals by others, once (`participants_joined`).
- A service request's status changed: its requester is told (`service.status_changed`).
"""

from __future__ import annotations

import json

from contracts import Envelope
from plumbing import webhooks
from plumbing.context import Context, Outgoing
from plumbing.webhooks import Notification
from services.outcomes import domain, pipeline, store
from services.outcomes.projection import Projection
from services.outcomes.service_requests import ServiceRequest


async def status_changed_many(ctx: Context, changes: list[tuple[Envelope, Projection, str | None]]) -> None:
    """What each projected referral's partner, and the training providers of its person, are told
    ((cause, projection, status before); `domain.status_changed` decides), emitted as `ctx.emit`
    would, but all in a few statements: which enrollments of the people share outcomes (only when
    a status moved), the outbox rows (in the order given), which of the partners have an active
    webhook endpoint, and those partners' deliveries."""
    told: list[tuple[Outgoing, str]] = []
    moved: list[tuple[Envelope, Projection, str | None]] = []
    now = ctx.now()
    for cause, projected, before in changes:
        status, record = projected.partner_status, projected.record
        event = domain.status_changed(record.referral_id, record.partner_id, status.status, status.detail, before)
        if event is None:
            continue
        told.append((Outgoing(event, cause.correlationid, str(cause.id), time=now), record.referral_id))
        if projected.candidate_id and projected.candidate_id != domain.ERASED:
            moved.append((cause, projected, before))
    if moved:
        shared = await store.shared_enrollments(ctx.conn, sorted({p.candidate_id for _, p, _ in moved}))  # type: ignore[misc]
        for cause, projected, before in moved:
            status, record = projected.partner_status, projected.record
            for s in domain.participants_to_tell(shared, projected.candidate_id, record.partner_id):  # type: ignore[arg-type]
                event = domain.participant_status_changed(s, record.referral_id, status.status, status.detail, before)
                if event is not None:
                    told.append((Outgoing(event, cause.correlationid, str(cause.id), time=now), s.enrollment_id))
    await tell(ctx, told)


async def participants_joined(ctx: Context, joined: list[tuple[Envelope, domain.Shared]]) -> None:
    """Enrollments ((cause, enrollment)) projected with consent to share outcomes for the first
    time: each provider is told the current status of every referral of the person by another
    partner, once, as a first status (no previous one); nothing about an erased person.

    The referrals' rows are read FOR SHARE: a transaction changing one of them at this moment
    either committed first (its status is read here) or waits for this one, and then finds this
    enrollment when it looks for whom to tell."""
    # An erased person's enrollments and referrals share the erasure's key: never joined up.
    joined = [(cause, s) for cause, s in joined if not s.person_key.startswith(pipeline.ERASED_PREFIX)]
    if not joined:
        return
    rows = await store.referrals_of_people(ctx.conn, sorted({s.person_key for _, s in joined}))
    now = ctx.now()
    told = []
    for cause, s in joined:
        for r in rows:
            if r["person_key"] != s.person_key or r["partner_id"] in (None, s.provider):
                continue
            event = domain.participant_status_changed(s, r["referral_id"], r["status"],
                                                      json.loads(r["partner_detail"]), None)
            if event is not None:
                told.append((Outgoing(event, cause.correlationid, str(cause.id), time=now), s.enrollment_id))
    await tell(ctx, told)


async def services_changed(ctx: Context, changes: list[tuple[Envelope, ServiceRequest, str | None]]) -> None:
    """Each service request's requester told of its new status ((cause, request, status before))."""
    now = ctx.now()
    told = []
    for cause, r, before in changes:
        event = domain.service_status_changed(r.request_id, r.requester_id, r.partner_status, r.detail, before)
        if event is not None:
            told.append((Outgoing(event, cause.correlationid, str(cause.id), time=now), r.request_id))
    await tell(ctx, told)


async def tell(ctx: Context, told: list[tuple[Outgoing, str]]) -> None:
    """Emit the events ((outgoing, the id its webhook names as subject); each payload names the
    partner told, `partner_id`) in one statement, and enqueue their webhooks to the partners with
    an active endpoint."""
    if not told:
        return
    envelopes = await ctx.emit_many([o for o, _ in told])
    # Only partners with an active endpoint get a delivery (`webhooks.enqueue_many` joins on
    # them): for the others neither the envelope nor the body is made, nor the statement run.
    owners = [f"partner:{o.payload.partner_id}" for o, _ in told]  # type: ignore[attr-defined]
    listening = await store.webhook_owners(ctx.conn, sorted(set(owners)))
    if not listening:
        return
    # The body a webhook carries: the whole event as emitted on talentloop.partner-status (ids,
    # states and their `detail`: docs/webhooks.md), the same the partner may read at the API.
    await webhooks.enqueue_many(ctx.conn, [
        Notification(owner, env.id, env.type, subject, env.data, env.time)
        for i, ((_, subject), owner) in enumerate(zip(told, owners, strict=True)) if owner in listening
        for env in (envelopes[i],)
    ])
