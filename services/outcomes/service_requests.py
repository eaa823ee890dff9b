"""A supportive-service request as its events tell it (issue 15 item 3), pure: derived from all
the request's ledger events (talentloop.services, as stored, maybe redacted), in any order, as
a referral's and an enrollment's are (`projection`), so a rebuild from offset 0 gives the same
row however its events arrived.

A request's states: requested -> accepted -> delivered; requested|accepted -> declined or
cancelled. The support service refuses a second ending, so a request has at most one; should
two be recorded anyway, the earliest is the one that ended it. `partner_status` is what its
requester is told (`events.ServiceStatus`): the state, or `stale` once the request was flagged
while waiting in the state it is still in (a stale flag for a state it has left says nothing
any more). `detail` is what the requester sees with it (`events.ServiceStatusDetail`): the
service type, the provider's reason code of a decline, the requester's own words of a
cancellation, the day and value of a delivery; never the provider's free-text detail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from services.outcomes.projection import LedgerEvent, in_order

ENDINGS = {"service.declined": "declined", "service.delivered": "delivered", "service.cancelled": "cancelled"}
STALE = "stale"


@dataclass(frozen=True)
class ServiceRequest:
    """One row of `service_requests` (migration 012), without `person_key`, which the store
    sets from the erasure of the referral or enrollment the request names, if any."""

    request_id: str
    requester_id: str
    provider_id: str
    candidate_id: str | None  # None: no service.requested seen yet; "erased" once redacted
    referral_id: str | None
    enrollment_id: str | None
    service_type: str | None
    requested_at: datetime | None
    amount_requested: Decimal | None
    currency: str | None
    status: str  # requested | accepted | declined | delivered | cancelled
    accepted_at: datetime | None
    ended_at: datetime | None
    decline_reason: str | None
    delivered_on: date | None
    value_delivered: Decimal | None
    stale_at: datetime | None  # the first time it was flagged
    partner_status: str  # what the requester is told: status, or "stale"
    detail: dict[str, Any]  # events.ServiceStatusDetail's fields, those that are set
    changed_at: datetime  # its latest event's time


def project_request(request_id: str, events: Iterable[LedgerEvent]) -> ServiceRequest:
    """The request from its events (at least one)."""
    ordered = in_order(events)
    first = ordered[0].data
    requested = next((e for e in ordered if e.family == "service.requested"), None)
    accepted = next((e for e in ordered if e.family == "service.accepted"), None)
    ending = next((e for e in ordered if e.family in ENDINGS), None)
    stale = [e for e in ordered if e.family == "service.stale"]
    status = ENDINGS[ending.family] if ending else "accepted" if accepted else "requested"
    # The latest flag is stale news once the request has left the state it waited in.
    told = STALE if stale and ending is None and stale[-1].data.get("waiting_in") == status else status
    r = requested.data if requested else {}
    amount = r.get("amount_requested") or {}
    d = ending.data if ending else {}
    value = (d.get("value") or {}) if status == "delivered" else {}
    detail: dict[str, Any] = {"service_type": r.get("service_type")}
    if status == "declined":
        detail["reason"] = d.get("reason_code")
    elif status == "cancelled":
        detail["reason"] = d.get("reason")  # the requester's own words (gone after an erasure)
    elif status == "delivered":
        detail["delivered_on"] = d.get("delivered_on")
        detail["value"] = d.get("value")
    return ServiceRequest(
        request_id=request_id,
        requester_id=first["requester_id"],
        provider_id=first["provider_id"],
        candidate_id=r.get("candidate_id"),
        referral_id=r.get("referral_id"),
        enrollment_id=r.get("enrollment_id"),
        service_type=r.get("service_type"),
        requested_at=requested.occurred_at if requested else None,
        amount_requested=Decimal(str(amount["amount"])) if amount.get("amount") is not None else None,
        currency=amount.get("currency") if amount else None,
        status=status,
        accepted_at=accepted.occurred_at if accepted else None,
        ended_at=ending.occurred_at if ending else None,
        decline_reason=d.get("reason_code") if status == "declined" else None,
        delivered_on=date.fromisoformat(d["delivered_on"]) if status == "delivered" else None,
        value_delivered=Decimal(str(value["amount"])) if value.get("amount") is not None else None,
        stale_at=stale[0].occurred_at if stale else None,
        partner_status=told,
        detail={k: v for k, v in detail.items() if v is not None},
        changed_at=ordered[-1].occurred_at,
    )
