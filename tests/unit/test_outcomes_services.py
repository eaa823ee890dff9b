"""A service request's projection (services/outcomes/service_requests.py): pure, the same in any
arrival order; what its requester is told (`partner_status`, `detail`)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from services.outcomes.projection import LedgerEvent
from services.outcomes.service_requests import project_request

T0 = datetime(2026, 9, 1, tzinfo=UTC)
IDS = {"request_id": "req_1", "requester_id": "p1", "provider_id": "sp"}


def ev(family: str, hours: float, **data: object) -> LedgerEvent:
    return LedgerEvent(f"{family}.v1", T0 + timedelta(hours=hours), None, {**IDS, **data}, "p1")


REQUESTED = ev("service.requested", 0, candidate_id="cand_1", referral_id="ref_1", service_type="childcare",
               reason="Daycare while in class", amount_requested={"amount": "120.50", "currency": "USD"})
ACCEPTED = ev("service.accepted", 1)
STALE_ACCEPTED = ev("service.stale", 2, waiting_in="accepted", waiting_since=str(T0), business_days=5)
DELIVERED = ev("service.delivered", 3, delivered_on="2026-09-04", value={"amount": "100", "currency": "USD"})


def test_a_delivered_request_whatever_the_order() -> None:
    found = [project_request("req_1", order)
             for order in itertools.permutations([REQUESTED, ACCEPTED, STALE_ACCEPTED, DELIVERED])]
    assert all(f == found[0] for f in found) and len(found) == 24
    r = found[0]
    assert (r.status, r.partner_status, r.candidate_id, r.referral_id, r.enrollment_id) == (
        "delivered", "delivered", "cand_1", "ref_1", None)
    assert (r.amount_requested, r.currency, r.value_delivered, r.delivered_on) == (
        Decimal("120.50"), "USD", Decimal("100"), date(2026, 9, 4))
    assert (r.requested_at, r.accepted_at, r.stale_at, r.ended_at, r.changed_at) == (
        T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2), T0 + timedelta(hours=3), T0 + timedelta(hours=3))
    assert r.detail == {"service_type": "childcare", "delivered_on": "2026-09-04",
                        "value": {"amount": "100", "currency": "USD"}}


def test_stale_is_told_only_while_the_request_waits_in_the_state_it_was_flagged_in() -> None:
    stale_requested = ev("service.stale", 0.5, waiting_in="requested", waiting_since=str(T0), business_days=3)
    assert project_request("req_1", [REQUESTED, stale_requested]).partner_status == "stale"
    moved_on = project_request("req_1", [REQUESTED, stale_requested, ACCEPTED])
    assert (moved_on.status, moved_on.partner_status, moved_on.stale_at) == ("accepted", "accepted",
                                                                             T0 + timedelta(hours=0.5))
    assert project_request("req_1", [REQUESTED, ACCEPTED, STALE_ACCEPTED]).partner_status == "stale"


def test_a_decline_tells_its_code_never_the_providers_words_and_a_cancellation_the_requesters() -> None:
    declined = project_request("req_1", [REQUESTED, ev("service.declined", 1, reason_code="other",
                                                        detail="Their landlord is my cousin")])
    assert (declined.status, declined.decline_reason, declined.detail) == (
        "declined", "other", {"service_type": "childcare", "reason": "other"})
    cancelled = project_request("req_1", [REQUESTED, ACCEPTED, ev("service.cancelled", 2, reason="Found daycare")])
    assert (cancelled.status, cancelled.detail["reason"], cancelled.accepted_at) == (
        "cancelled", "Found daycare", T0 + timedelta(hours=1))


def test_the_earliest_ending_ends_it_and_an_event_before_the_request_still_projects() -> None:
    both = [REQUESTED, ev("service.cancelled", 2, reason="Not needed"), ev("service.declined", 1, reason_code="no_capacity")]
    assert project_request("req_1", both).status == "declined"
    early = project_request("req_1", [ACCEPTED])  # its request not arrived yet
    assert (early.status, early.candidate_id, early.service_type, early.requested_at) == ("accepted", None, None, None)
