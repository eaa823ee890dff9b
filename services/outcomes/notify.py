"""The closed loop: a referral's partner-facing status changed, so its referring partner
hears of it, as `referral.status_changed` on `talentloop.partner-status` (through the outbox)
and as a signed webhook to each of its endpoints, both in the transaction that recorded the
change (the handler's `Context`: its connection, its clock and the service's source)."""

from __future__ import annotations

import json

from contracts import Envelope, build
from plumbing import outbox
from plumbing.context import Context
from services.outcomes import domain
from services.outcomes.projection import Projection

# webhooks.enqueue for many notifications in one statement: the same rows (one per active
# endpoint of the owner whose filter takes the type, once per endpoint and event).
ENQUEUE_WEBHOOKS = """
INSERT INTO webhook_deliveries (delivery_id, endpoint_id, owner, event_id, event_type, body)
SELECT 'whd_' || replace(gen_random_uuid()::text, '-', ''), w.endpoint_id, w.owner, n.event_id, n.event_type,
    n.body::jsonb
FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[]) WITH ORDINALITY AS n(owner, event_id, event_type, body, i)
JOIN webhook_endpoints w ON w.owner = n.owner AND w.active
    AND (cardinality(w.event_types) = 0 OR n.event_type = ANY(w.event_types))
ORDER BY n.i, w.endpoint_id
ON CONFLICT (endpoint_id, event_id) DO NOTHING
"""


async def status_changed_many(ctx: Context, changes: list[tuple[Envelope, Projection, str | None]]) -> None:
    """What each projected referral's partner is told ((cause, projection, status before);
    `domain.status_changed` decides), emitted as `ctx.emit` would, but all in two
    statements: the outbox rows (in the order given) and the webhook deliveries."""
    told = []
    now = ctx.now()
    for cause, projected, before in changes:
        status = projected.partner_status
        event = domain.status_changed(projected.record.referral_id, projected.record.partner_id, status.status,
                                      status.detail, before)
        if event is None:
            continue
        envelope = build(event, source=ctx.deps.source, correlation_id=cause.correlationid,
                         causation_id=str(cause.id), time=now)
        told.append((envelope, event))
    if not told:
        return
    await outbox.enqueue_many(ctx.conn, [(envelope, type(event)) for envelope, event in told])
    # The body `webhooks.enqueue` sends: ids and states only, the details stay behind the API.
    await ctx.conn.execute(
        ENQUEUE_WEBHOOKS,
        [f"partner:{event.partner_id}" for _, event in told],
        [envelope.id for envelope, _ in told],
        [envelope.type for envelope, _ in told],
        [json.dumps({"id": str(envelope.id), "type": envelope.type, "occurred_at": envelope.time.isoformat(),
                     "subject": event.referral_id, "data": envelope.data}) for envelope, event in told],
    )
