"""The closed loop: a referral's partner-facing status changed, so its referring partner
hears of it, as `referral.status_changed` on `talentloop.partner-status` (through the outbox)
and as a signed webhook to each of its endpoints, both in the transaction that recorded the
change."""

from __future__ import annotations

import asyncpg

from contracts import Envelope, events
from plumbing import outbox, webhooks
from services.outcomes.projection import Projection

SOURCE = "/talentloop/outcomes"


def status_event(projected: Projection, before: str | None) -> events.ReferralStatusChangedV1:
    record = projected.record
    return events.ReferralStatusChangedV1(
        referral_id=record.referral_id,
        partner_id=record.partner_id,
        status=events.PartnerStatus(projected.partner_status.status),
        previous_status=events.PartnerStatus(before) if before else None,
        detail=events.StatusDetail.model_validate(projected.partner_status.detail),
    )


async def status_changed(conn: asyncpg.Connection, cause: Envelope, projected: Projection, before: str | None) -> None:
    if not projected.record.partner_id:
        return  # no event that names the partner has arrived yet: they hear once one has
    event = status_event(projected, before)
    envelope = await outbox.emit(conn, event, source=SOURCE, correlation_id=cause.correlationid,
                                 causation_id=str(cause.id))
    await webhooks.enqueue(
        conn,
        f"partner:{event.partner_id}",
        event_id=envelope.id,
        event_type=envelope.type,
        subject=event.referral_id,
        occurred_at=envelope.time,
        data=event.model_dump(mode="json"),
    )
