"""Supportive services, pure: the providers' directory, a request's states, and when a request
has waited too long. No I/O: each decision takes the state and returns the event to emit, or
refuses.

A request: requested -> accepted -> delivered; requested | accepted -> declined (the provider)
or cancelled (the requester). Delivered, declined and cancelled end it: any further transition
is refused (`InvalidTransition`, a 409 at the API).

Stale: a request not answered within the business days the referrals use
(TALENTLOOP_STALE_BUSINESS_DAYS), or accepted and not delivered within its own limit
(TALENTLOOP_SERVICE_DELIVERY_BUSINESS_DAYS), is flagged once in that state. Business days are
the network's, by which the gateway's referrals go stale too (plumbing/business_days.py):
Monday to Friday in the business time zone, holidays excluded; a request made at a moment of a
business day is due N business days later at the same time of day, one made on a weekend or
holiday counts from the start of the next business day.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, tzinfo
from enum import StrEnum
from typing import Any

from pydantic_core import InitErrorDetails

from contracts import events
from plumbing import business_days
from plumbing.business_days import BusinessDays
from plumbing.settings import Settings

ERASED = "erased"  # a request's candidate id once the person is erased (as every service re-keys)


class State(StrEnum):
    requested = "requested"
    accepted = "accepted"
    declined = "declined"
    delivered = "delivered"
    cancelled = "cancelled"


OPEN = frozenset({State.requested, State.accepted})


class RequestErased(Exception):
    """The person the request is about was erased: no one acts on it any more (a 409 at the
    API), so nothing new is written about them (a cancellation's reason, a decline's detail) nor
    the request moved on; it keeps the state it had for the counts."""

    def __init__(self, action: str) -> None:
        super().__init__(f"cannot {action} a service request about a person who was erased")
        self.action = action


class InvalidTransition(Exception):
    def __init__(self, current: State, action: str) -> None:
        super().__init__(f"cannot {action} a service request that is {current.value}")
        self.current = current
        self.action = action


# --- the directory ---------------------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    provider_id: str
    name: str
    service_types: tuple[events.ServiceType, ...]

    def offers(self, service_type: events.ServiceType) -> bool:
        return service_type in self.service_types


def listed(service_types: list[events.ServiceType]) -> tuple[events.ServiceType, ...]:
    """The types as the directory keeps them: each once, in the contract's order."""
    return tuple(t for t in events.ServiceType if t in set(service_types))


def enter_directory(
    current: Provider | None, provider_id: str, name: str, service_types: list[events.ServiceType]
) -> tuple[Provider, events.Payload | None]:
    """A partner's entry as it now is, and the event saying so: registered the first time,
    updated when something changed, none when nothing did."""
    entry = Provider(provider_id, name, listed(service_types))
    if entry == current:
        return entry, None
    model = events.ServiceProviderRegisteredV1 if current is None else events.ServiceProviderUpdatedV1
    return entry, model(provider_id=provider_id, name=name, service_types=list(entry.service_types))


# --- requests --------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """A referral or an enrollment a partner made, as the support service learned it."""

    ref_id: str
    kind: str  # "referral" | "enrollment"
    owner_id: str
    candidate_id: str


def new_request(
    request_id: str,
    requester_id: str,
    provider: Provider,
    person: Person,
    service_type: events.ServiceType,
    reason: str,
    amount_requested: events.Money | None,
) -> events.ServiceRequestedV1:
    """The request's first event; refused at `service_type` when the provider does not offer it."""
    if not provider.offers(service_type):
        offered = ", ".join(provider.service_types)
        events.refuse(
            provider,
            [events.inconsistent("service_type", f"service_type: this provider offers {offered}", service_type.value)],
        )
    return events.ServiceRequestedV1(
        request_id=request_id,
        requester_id=requester_id,
        provider_id=provider.provider_id,
        candidate_id=person.candidate_id,
        referral_id=person.ref_id if person.kind == "referral" else None,
        enrollment_id=person.ref_id if person.kind == "enrollment" else None,
        service_type=service_type,
        reason=reason,
        amount_requested=amount_requested,
    )


@dataclass(frozen=True)
class ServiceRequest:
    request_id: str
    requester_id: str
    provider_id: str
    state: State
    state_since: datetime  # when it entered its state: the stale rule counts from here
    requested_at: datetime
    erased: bool = False  # its person was erased: every action is refused (RequestErased)

    def _ids(self) -> dict[str, str]:
        return {"request_id": self.request_id, "requester_id": self.requester_id, "provider_id": self.provider_id}

    def _not_erased(self, action: str) -> None:
        if self.erased:
            raise RequestErased(action)

    def _from_open(self, action: str) -> None:
        self._not_erased(action)
        if self.state not in OPEN:
            raise InvalidTransition(self.state, action)

    def accept(self, now: datetime) -> tuple[ServiceRequest, events.ServiceAcceptedV1]:
        self._not_erased("accept")
        if self.state is not State.requested:
            raise InvalidTransition(self.state, "accept")
        return replace(self, state=State.accepted, state_since=now), events.ServiceAcceptedV1(**self._ids())

    def decline(
        self, now: datetime, reason_code: events.ServiceDeclineReason, detail: str | None
    ) -> tuple[ServiceRequest, events.ServiceDeclinedV1]:
        self._from_open("decline")
        event = events.ServiceDeclinedV1(**self._ids(), reason_code=reason_code, detail=detail)
        return replace(self, state=State.declined, state_since=now), event

    def deliver(
        self, now: datetime, delivered_on: date, value: events.Money | None, tz: tzinfo
    ) -> tuple[ServiceRequest, events.ServiceDeliveredV1]:
        """Delivered once accepted (a provider that delivers at once accepts first), on a day
        from the request's to today, both days in the business time zone `tz` (a provider
        dates a delivery by its own calendar: a request made at 20:00 in Miami is on that
        day's date there, the next day's in UTC)."""
        self._not_erased("deliver")
        if self.state is not State.accepted:
            raise InvalidTransition(self.state, "deliver")
        requested_on, today = self.requested_at.astimezone(tz).date(), now.astimezone(tz).date()
        events.refuse(self, delivery_refusals(delivered_on, requested_on, today))
        event = events.ServiceDeliveredV1(**self._ids(), delivered_on=delivered_on, value=value)
        return replace(self, state=State.delivered, state_since=now), event

    def cancel(self, now: datetime, reason: str) -> tuple[ServiceRequest, events.ServiceCancelledV1]:
        self._from_open("cancel")
        return replace(self, state=State.cancelled, state_since=now), events.ServiceCancelledV1(
            **self._ids(), reason=reason
        )

    def stale(self, rule: StaleRule) -> events.ServiceStaleV1:
        """The flag for the state it waits in (the sweeper calls this once the rule says it is due)."""
        self._from_open("flag as stale")
        return events.ServiceStaleV1(
            **self._ids(),
            waiting_in=events.ServiceWaitingIn(self.state.value),
            waiting_since=self.state_since,
            business_days=rule.limit(self.state),
        )


def delivery_refusals(delivered_on: date, requested_on: date, today: date) -> list[InitErrorDetails]:
    if delivered_on > today:
        return [events.inconsistent("delivered_on", "delivered_on is in the future", delivered_on.isoformat())]
    if delivered_on < requested_on:
        return [events.inconsistent("delivered_on", "delivered_on is before the request", delivered_on.isoformat())]
    return []


# --- what the provider hears ---------------------------------------------------------------

# The webhooks a provider's endpoints receive (docs/webhooks.md): a request addressed to it, one
# its requester withdrew, one waiting on it too long. Its own answers it knows already.
PROVIDER_NOTIFICATIONS = ["service.requested", "service.cancelled", "service.stale"]


@dataclass(frozen=True)
class ProviderNotice:
    provider_id: str
    event_type: str  # one of PROVIDER_NOTIFICATIONS
    data: dict[str, Any]


def provider_notice(event: events.Payload) -> ProviderNotice | None:
    """What the request's provider is told of `event`, or None: ids, the service type and the
    state only. The requester's words, the amount and the rest are behind the API
    (GET /v1/service-requests/{id}), as the gateway's webhooks tell employers."""
    if isinstance(event, events.ServiceRequestedV1):
        data = {**_ids(event), "service_type": event.service_type.value, "state": State.requested.value}
        return ProviderNotice(event.provider_id, "service.requested", data)
    if isinstance(event, events.ServiceCancelledV1):
        return ProviderNotice(event.provider_id, "service.cancelled", {**_ids(event), "state": State.cancelled.value})
    if isinstance(event, events.ServiceStaleV1):
        data = {
            **_ids(event),
            "state": event.waiting_in.value,
            "waiting_since": event.waiting_since.isoformat(),
            "business_days": event.business_days,
        }
        return ProviderNotice(event.provider_id, "service.stale", data)
    return None


def _ids(event: events.ServiceRequestedV1 | events.ServiceCancelledV1 | events.ServiceStaleV1) -> dict[str, Any]:
    return {"request_id": event.request_id, "requester_id": event.requester_id}


# --- waiting too long --------------------------------------------------------------------


@dataclass(frozen=True)
class StaleRule:
    calendar: BusinessDays
    answer_days: int  # requested, not answered: the referrals' limit
    delivery_days: int  # accepted, not delivered

    @classmethod
    def from_settings(cls, settings: Settings) -> StaleRule:
        return cls(
            BusinessDays.from_settings(settings),
            answer_days=settings.stale_business_days,
            delivery_days=settings.service_delivery_business_days,
        )

    def limit(self, state: State) -> int:
        return self.answer_days if state is State.requested else self.delivery_days

    def due_at(self, state: State, since: datetime) -> datetime:
        return self.calendar.after(since, self.limit(state))

    def is_due(self, state: State, since: datetime, now: datetime) -> bool:
        return state in OPEN and self.due_at(state, since) <= now

    def earliest_since(self, state: State, now: datetime) -> datetime:
        """No request in `state` since after this is due at `now`."""
        return business_days.earliest_since(now, self.limit(state))
