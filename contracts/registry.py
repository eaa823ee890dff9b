"""Event type name -> payload model, and the one way to build and read events."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import ValidationError

from contracts import events
from contracts.envelope import SCHEMA_BASE, ContractError, Envelope, now, summarize_validation_error

PAYLOADS: dict[str, type[events.Payload]] = {
    cls.event_type: cls
    for cls in (
        events.OpeningPostedV1,
        events.ReferralSubmittedV1,
        events.ReferralRoutedV1,
        events.ReferralUnmatchedV1,
        events.ReferralAcknowledgedV1,
        events.ReferralDeclinedV1,
        events.InterviewScheduledV1,
        events.InterviewCompletedV1,
        events.PlacementReportedV1,
    )
}


def build(
    payload: events.Payload,
    *,
    source: str,
    correlation_id: str,
    causation_id: str | None = None,
    partner_id: str | None = None,
    employer_id: str | None = None,
    time: datetime | None = None,
) -> Envelope:
    return Envelope(
        id=uuid.uuid4(),
        source=source,
        type=payload.event_type,
        time=time or now(),
        subject=payload.subject(),
        dataschema=f"{SCHEMA_BASE}:{payload.event_type}",
        correlationid=correlation_id,
        causationid=causation_id,
        partnerid=partner_id if partner_id is not None else getattr(payload, "partner_id", None),
        employerid=employer_id if employer_id is not None else getattr(payload, "employer_id", None),
        data=payload.model_dump(mode="json"),
    )


def payload_of(envelope: Envelope) -> events.Payload:
    """The typed payload; a ContractError (not worth retrying) if it does not fit."""
    model = PAYLOADS.get(envelope.type)
    if model is None:
        raise ContractError(f"unknown event type {envelope.type!r}")
    try:
        return model.model_validate(envelope.data)
    except ValidationError as exc:
        raise ContractError(f"invalid {envelope.type} data: {summarize_validation_error(exc)}") from None
