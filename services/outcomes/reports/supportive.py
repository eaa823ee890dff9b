"""Supportive services in the reports (issue 15 item 3; docs/reports.md, "Supportive services").

Over the requests of `service_requests` (outcomes migration 012) the report may see: an
operator every request; a partner those it made (requester) and those addressed to it (service
provider). In total and by service type, provider and requester:

- `requests`, and each exclusive `status` (requested, accepted, declined, delivered, cancelled:
  they add up to requests); `stale_open`: requests still open whose requester was told they are
  stale (not answered, or not delivered, within the business-day limit: `partner_status` stale).
- `settled` = requests that ended (delivered, declined or cancelled) + open requests flagged
  stale; **fulfilment rate** = delivered / settled (a request still inside its limit is not
  counted either way: it may still be delivered).
- **Days to fulfilment**: calendar days from the day it was requested (`requested_at`'s date in
  the business time zone, TALENTLOOP_BUSINESS_TIMEZONE, the zone support checks `delivered_on`
  in) to `delivered_on`; the median over delivered requests (`delivered_with_days` of them).
- **Value delivered** and amount requested: summed per currency (money: cents, as strings).

Request counts are the partner's own operations (its requests, or those it was asked for), so
they are not suppressed. The **outcome comparison** is about people and is: over the people the
report covers (with a referral or an enrollment in it), those who received at least one
delivered service (of a request the report sees) against those who did not: how many
completed training (of those enrolled) and were placed (of all). It compares; it does not show
that a service caused anything (who gets a service, and when, is not random). In a report a
non-operator reads (`threshold`), when either side counts 1 to `threshold` people both sides
are suppressed (the other would be the total less it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from services.outcomes import pipeline
from services.outcomes.records import ReferralRecord
from services.outcomes.reports.stats import cents, label, median_days, money, rate

STATUSES = ("requested", "accepted", "declined", "delivered", "cancelled")
ENDED = ("declined", "delivered", "cancelled")
OPEN = ("requested", "accepted")
DIMENSIONS = ("service_type", "provider", "requester")
SIDES = ("received", "not_received")
DEFINITIONS = "docs/reports.md#supportive-services"


@dataclass(frozen=True)
class Request:
    """One supportive-service request as the reports count it (a `service_requests` row)."""

    request_id: str
    requester_id: str
    provider_id: str
    person_key: str
    service_type: str | None  # None until the request itself has arrived
    status: str  # STATUSES
    partner_status: str  # what the requester was told: the status, or "stale"
    requested_at: datetime | None = None
    delivered_on: date | None = None
    value_delivered: Decimal | None = None
    amount_requested: Decimal | None = None
    currency: str | None = None  # of amount_requested
    value_currency: str | None = None  # of value_delivered


def visible(request: Request, partner: str | None) -> bool:
    """An operator (None) sees every request; a partner those it made or was asked for."""
    return partner is None or partner in (request.requester_id, request.provider_id)


def settled(r: Request) -> bool:
    """Counted in the fulfilment rate's denominator: ended, or open and flagged stale."""
    return r.status in ENDED or (r.status in OPEN and r.partner_status == "stale")


def days_to_fulfilment(r: Request, tz: tzinfo = UTC) -> int | None:
    """Calendar days from the request's day to its delivery's, both in the business time zone
    `tz`: a provider dates `delivered_on` by that calendar (support refuses one before the
    request's day there), so a delivery the evening a request was made is 0 days, not -1."""
    if r.status != "delivered" or r.delivered_on is None or r.requested_at is None:
        return None
    return (r.delivered_on - r.requested_at.astimezone(tz).date()).days


def _sums(pairs: Iterable[tuple[Decimal | None, str | None]]) -> list[dict[str, str]]:
    """Amounts summed per currency (USD when none is named), as money strings."""
    out: dict[str, Decimal] = {}
    for amount, currency in pairs:
        if amount is not None:
            out[currency or "USD"] = out.get(currency or "USD", Decimal(0)) + amount
    return [{"currency": c, "amount": money(cents(v))} for c, v in sorted(out.items())]


def summarize(requests: Iterable[Request], tz: tzinfo = UTC) -> dict[str, Any]:
    requests = list(requests)
    statuses = {s: sum(1 for r in requests if r.status == s) for s in STATUSES}
    days = [d for r in requests if (d := days_to_fulfilment(r, tz)) is not None]
    n_settled = sum(1 for r in requests if settled(r))
    return {
        "requests": len(requests),
        "status": statuses,
        "stale_open": sum(1 for r in requests if r.status in OPEN and r.partner_status == "stale"),
        "settled": n_settled,
        "fulfilment_rate": rate(statuses["delivered"], n_settled),
        "delivered_with_days": len(days),
        "median_days_to_fulfilment": median_days(days),
        "value_delivered": _sums((r.value_delivered, r.value_currency) for r in requests if r.status == "delivered"),
        "amount_requested": _sums((r.amount_requested, r.currency) for r in requests),
    }


KEYS: dict[str, Callable[[Request], object]] = {
    "service_type": lambda r: r.service_type,
    "provider": lambda r: r.provider_id,
    "requester": lambda r: r.requester_id,
}


def grouped(requests: list[Request], dimension: str, tz: tzinfo = UTC) -> list[dict[str, Any]]:
    key = KEYS[dimension]
    groups: dict[str, list[Request]] = {}
    for r in requests:
        groups.setdefault(label(key(r)), []).append(r)
    return [{"group": g, **summarize(groups[g], tz)} for g in sorted(groups)]


# --- outcomes of the people who received services (a comparison) ------------------------------


@dataclass(frozen=True)
class Participant:
    """A person the report covers, as the outcome comparison counts them."""

    person_key: str
    enrolled: bool
    completed_training: bool  # an enrollment completed, or a credential earned (pipeline's cumulative rule)
    placed: bool  # one of their referrals reached placed


def participants(records: Iterable[ReferralRecord], enrolled: Iterable[pipeline.Enrolled],
                 hires: Iterable[pipeline.Hire]) -> list[Participant]:
    """The people with a referral (`records`) or an enrollment (`enrolled`) in the report, joined
    by person_key; placed when any referral of theirs the report counts (`records`, and the
    coalition funnel's `hires` of enrolled people) reached placed."""
    placed_at = pipeline.STAGES.index("placed")
    seen: dict[str, dict[str, bool]] = {}

    def person(key: str) -> dict[str, bool]:
        return seen.setdefault(key, {"enrolled": False, "completed_training": False, "placed": False})

    for r in records:
        entry = pipeline.of_record(r)
        person(entry.person_key)["placed"] |= pipeline.furthest(entry.evidence) >= placed_at
    for e in enrolled:
        p = person(e.trainee.person_key)
        p["enrolled"] = True
        p["completed_training"] |= e.trainee.status == "completed" or e.trainee.credential
    for h in hires:
        if h.person_key in seen:
            seen[h.person_key]["placed"] |= pipeline.furthest(h.evidence) >= placed_at
    return [Participant(k, **v) for k, v in sorted(seen.items())]


def _side(people: list[Participant]) -> dict[str, Any]:
    enrolled = [p for p in people if p.enrolled]
    completed = sum(1 for p in enrolled if p.completed_training)
    placed = sum(1 for p in people if p.placed)
    return {"people": len(people), "enrolled": len(enrolled), "completed_training": completed,
            "completion_rate": rate(completed, len(enrolled)), "placed": placed,
            "placement_rate": rate(placed, len(people))}


def outcome_comparison(requests: Iterable[Request], people: Iterable[Participant],
                       threshold: int | None = None) -> dict[str, Any]:
    """People who received a delivered service against those who did not (a comparison, not a
    causal claim); with a `threshold`, both sides suppressed when either is 1 to `threshold` people."""
    served = {r.person_key for r in requests if r.status == "delivered"}
    people = list(people)
    sides = {"received": _side([p for p in people if p.person_key in served]),
             "not_received": _side([p for p in people if p.person_key not in served])}
    hidden = threshold is not None and any(1 <= s["people"] <= threshold for s in sides.values())
    if hidden:
        sides = {name: dict.fromkeys(side) for name, side in sides.items()}
    return {"suppressed": hidden, "suppression_threshold": threshold, **sides,
            "note": "A comparison of outcomes, not a causal effect: who receives a service, and when, is not random."}


def services_report(requests: Iterable[Request], people: Iterable[Participant] = (),
                    threshold: int | None = None, tz: tzinfo = UTC) -> dict[str, Any]:
    """The requests (already the report's: `visible`) in total and by every dimension (days to
    fulfilment on the calendar of the business time zone `tz`), and the outcome comparison over
    `people`."""
    requests = list(requests)
    return {
        "total": summarize(requests, tz),
        "by": {d: grouped(requests, d, tz) for d in DIMENSIONS},
        "outcomes": outcome_comparison(requests, people, threshold),
        "definitions": DEFINITIONS,
    }
