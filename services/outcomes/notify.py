"""The closed loop: a referral's partner-facing status changed, so its referring partner
hears of it, as `referral.status_changed` on `talentloop.partner-status` (through the outbox)
and as a signed webhook to each of its endpoints, both in the transaction that recorded the
change (the handler's `Context`: its connection, its clock and the service's source)."""

from __future__ import annotations

from contracts import Envelope
from plumbing import webhooks
from plumbing.context import Context, Outgoing
from plumbing.webhooks import Notification
from services.outcomes import domain, store
from services.outcomes.projection import Projection


async def status_changed_many(ctx: Context, changes: list[tuple[Envelope, Projection, str | None]]) -> None:
    """What each projected referral's partner is told ((cause, projection, status before);
    `domain.status_changed` decides), emitted as `ctx.emit` would, but all in three
    statements: the outbox rows (in the order given), which of the partners have an active
    webhook endpoint, and those partners' deliveries."""
    told = []
    now = ctx.now()
    for cause, projected, before in changes:
        status = projected.partner_status
        event = domain.status_changed(projected.record.referral_id, projected.record.partner_id, status.status,
                                      status.detail, before)
        if event is None:
            continue
        told.append(Outgoing(event, cause.correlationid, str(cause.id), time=now))
    if not told:
        return
    envelopes = await ctx.emit_many(told)
    # Only partners with an active endpoint get a delivery (`webhooks.enqueue_many` joins on
    # them): for the others neither the envelope nor the body is made, nor the statement run.
    owners = [f"partner:{o.payload.partner_id}" for o in told]
    listening = await store.webhook_owners(ctx.conn, sorted(set(owners)))
    if not listening:
        return
    # The body a webhook carries: ids and states only, the details stay behind the API.
    await webhooks.enqueue_many(ctx.conn, [
        Notification(owner, env.id, env.type, o.payload.referral_id, env.data, env.time)
        for i, (o, owner) in enumerate(zip(told, owners, strict=True)) if owner in listening
        for env in (envelopes[i],)
    ])
