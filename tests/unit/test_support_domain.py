"""The support service's domain, pure: the directory, every transition of a request and every
refusal, the stale rule's business days, and the request body's own checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from contracts import events
from plumbing.business_days import BusinessDays
from plumbing.settings import Settings
from services.employer_gateway.stale import BusinessCalendar
from services.support.api import DeclineIn, ProviderIn, RequestIn
from services.support.domain import (
    PROVIDER_NOTIFICATIONS,
    InvalidTransition,
    Person,
    Provider,
    RequestErased,
    ServiceRequest,
    StaleRule,
    State,
    enter_directory,
    new_request,
    provider_notice,
)

pytestmark = pytest.mark.unit

T = events.ServiceType
MON = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # a Monday
RIDES = Provider("rides", "Eastside Rides", (T.transportation,))
ENROLLED = Person("enr_1", "enrollment", "forge", "cand_1")
RULE = StaleRule(BusinessDays(ZoneInfo("UTC")), answer_days=2, delivery_days=10)


def request(state: State = State.requested, since: datetime = MON) -> ServiceRequest:
    return ServiceRequest("srq_1", "forge", "rides", state, since, MON)


def test_a_partner_registers_once_then_updates_and_an_unchanged_entry_says_nothing():
    entry, event = enter_directory(None, "rides", "Eastside Rides", [T.technology, T.transportation, T.technology])
    assert isinstance(event, events.ServiceProviderRegisteredV1)
    assert entry.service_types == (T.transportation, T.technology)  # each once, in the contract's order
    assert enter_directory(entry, "rides", "Eastside Rides", [T.transportation, T.technology])[1] is None
    _, changed = enter_directory(entry, "rides", "Eastside Rides Co-op", [T.transportation])
    assert isinstance(changed, events.ServiceProviderUpdatedV1) and changed.service_types == [T.transportation]


def test_a_request_names_the_person_through_the_requester_s_own_reference():
    event = new_request("srq_1", "forge", RIDES, ENROLLED, T.transportation, "Bus pass", events.Money(amount="40"))
    assert (event.enrollment_id, event.referral_id, event.candidate_id) == ("enr_1", None, "cand_1")
    by_referral = new_request(
        "srq_2", "forge", RIDES, Person("ref_1", "referral", "forge", "cand_1"), T.transportation, "Bus pass", None
    )
    assert (by_referral.referral_id, by_referral.enrollment_id) == ("ref_1", None)


def test_a_service_the_provider_does_not_offer_is_refused_at_service_type():
    with pytest.raises(ValidationError) as raised:
        new_request("srq_1", "forge", RIDES, ENROLLED, T.housing, "Rent", None)
    assert [e["loc"] for e in raised.value.errors()] == [("service_type",)]


def test_requested_accepted_delivered():
    later = MON + timedelta(days=1)
    accepted, event = request().accept(later)
    assert accepted.state is State.accepted and accepted.state_since == later
    assert isinstance(event, events.ServiceAcceptedV1) and event.requester_id == "forge"
    delivered, event = accepted.deliver(later, date(2026, 12, 1), events.Money(amount="40"), UTC)
    assert delivered.state is State.delivered and str(event.value.amount) == "40"


@pytest.mark.parametrize("state", [State.requested, State.accepted])
def test_an_open_request_may_be_declined_or_cancelled(state):
    declined, event = request(state).decline(MON, events.ServiceDeclineReason.no_capacity, None)
    assert declined.state is State.declined and event.reason_code is events.ServiceDeclineReason.no_capacity
    cancelled, event = request(state).cancel(MON, "Found a carpool")
    assert cancelled.state is State.cancelled and event.reason == "Found a carpool"


@pytest.mark.parametrize("state", [State.declined, State.delivered, State.cancelled])
def test_an_ended_request_refuses_every_transition(state):
    r = request(state)
    for act in (
        lambda: r.accept(MON),
        lambda: r.decline(MON, events.ServiceDeclineReason.other, "x"),
        lambda: r.deliver(MON, MON.date(), None, UTC),
        lambda: r.cancel(MON, "x"),
        lambda: r.stale(RULE),
    ):
        with pytest.raises(InvalidTransition) as raised:
            act()
        assert raised.value.current is state


@pytest.mark.parametrize("state", list(State))
def test_a_request_whose_person_was_erased_refuses_every_action_whatever_its_state(state):
    r = replace(request(state), erased=True)
    for action, act in (
        ("accept", lambda: r.accept(MON)),
        ("decline", lambda: r.decline(MON, events.ServiceDeclineReason.other, "x")),
        ("deliver", lambda: r.deliver(MON, MON.date(), None, UTC)),
        ("cancel", lambda: r.cancel(MON, "x")),
        ("flag as stale", lambda: r.stale(RULE)),
    ):
        with pytest.raises(RequestErased) as raised:
            act()
        assert raised.value.action == action


def test_only_a_requested_request_is_accepted_and_only_an_accepted_one_delivered():
    with pytest.raises(InvalidTransition):
        request(State.accepted).accept(MON)
    with pytest.raises(InvalidTransition):
        request(State.requested).deliver(MON, MON.date(), None, UTC)


@pytest.mark.parametrize(
    ("delivered_on", "message"), [(date(2026, 12, 2), "in the future"), (date(2026, 11, 29), "before the request")]
)
def test_a_delivery_day_is_from_the_request_to_today(delivered_on, message):
    with pytest.raises(ValidationError) as raised:
        request(State.accepted).deliver(MON + timedelta(days=1), delivered_on, None, UTC)
    (error,) = raised.value.errors()
    assert error["loc"] == ("delivered_on",) and message in error["msg"]


def test_delivery_days_are_the_business_time_zone_s():
    """A request made at 20:00 in New York on 30 November is 1 December in UTC: delivered that
    evening it is dated 30 November by the provider, which is neither before the request nor,
    on 1 December local time, in the future; 1 December is still in the future that evening."""
    new_york = ZoneInfo("America/New_York")
    evening = datetime(2026, 11, 30, 20, 0, tzinfo=new_york).astimezone(UTC)  # as the database gives it
    r = ServiceRequest("srq_1", "forge", "rides", State.accepted, evening, evening)
    later = evening + timedelta(hours=2)
    delivered, event = r.deliver(later, date(2026, 11, 30), None, new_york)
    assert delivered.state is State.delivered and event.delivered_on == date(2026, 11, 30)
    with pytest.raises(ValidationError) as raised:
        r.deliver(later, date(2026, 12, 1), None, new_york)
    assert "in the future" in raised.value.errors()[0]["msg"]


def test_business_days_skip_weekends_and_holidays_and_a_weekend_counts_from_monday_morning():
    calendar = BusinessDays.of("UTC", "2026-12-25")
    friday = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    assert calendar.after(friday, 2) == datetime(2026, 12, 8, 15, 0, tzinfo=UTC)  # Tuesday 15:00
    saturday = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    assert calendar.after(saturday, 1) == datetime(2026, 12, 8, 0, 0, tzinfo=UTC)  # Monday, then one more day
    christmas_eve = datetime(2026, 12, 24, 9, 0, tzinfo=UTC)
    assert calendar.after(christmas_eve, 1) == datetime(2026, 12, 28, 9, 0, tzinfo=UTC)  # past the holiday and weekend
    assert BusinessDays.of("America/New_York", "").after(friday, 1).tzinfo is UTC


def test_the_rule_reads_the_settings_and_counts_on_the_calendar_the_referrals_go_stale_by():
    settings = Settings(
        TALENTLOOP_STALE_BUSINESS_DAYS=3,
        TALENTLOOP_SERVICE_DELIVERY_BUSINESS_DAYS=5,
        TALENTLOOP_BUSINESS_TIMEZONE="America/New_York",
        TALENTLOOP_HOLIDAYS="2026-12-25",
    )
    rule = StaleRule.from_settings(settings)
    assert (rule.answer_days, rule.delivery_days) == (3, 5)
    referrals = BusinessCalendar.from_settings(settings)
    christmas_eve = datetime(2026, 12, 24, 20, 0, tzinfo=UTC)
    assert rule.due_at(State.requested, christmas_eve) == referrals.stale_at(christmas_eve)
    assert Settings().service_delivery_business_days == 10


def test_a_request_waits_the_referrals_limit_to_be_answered_and_its_own_to_be_delivered():
    assert RULE.due_at(State.requested, MON) == MON + timedelta(days=2)
    assert not RULE.is_due(State.requested, MON, MON + timedelta(days=2) - timedelta(seconds=1))
    assert RULE.is_due(State.requested, MON, MON + timedelta(days=2))
    assert RULE.due_at(State.accepted, MON) == MON + timedelta(days=14)  # ten business days: two weekends
    assert not RULE.is_due(State.delivered, MON, MON + timedelta(days=100))
    assert RULE.earliest_since(State.accepted, MON) == MON - timedelta(days=10)


@pytest.mark.parametrize("state", [State.requested, State.accepted])
def test_the_stale_flag_says_where_and_since_when_it_waits(state):
    flag = request(state).stale(RULE)
    assert flag.waiting_in.value == state.value and flag.waiting_since == MON
    assert flag.business_days == RULE.limit(state)


BODY = {"provider_id": "rides", "service_type": "transportation", "reason": "Bus pass"}


@pytest.mark.parametrize("people", [{}, {"referral_id": "r", "enrollment_id": "e"}])
def test_a_request_body_names_exactly_one_referral_or_enrollment(people):
    with pytest.raises(ValidationError) as raised:
        RequestIn(**BODY, **people)
    assert [e["loc"] for e in raised.value.errors()] == [("enrollment_id",)]
    assert RequestIn(**BODY, referral_id="r").person() == ("referral", "r")


def test_a_decline_for_another_reason_needs_a_detail():
    with pytest.raises(ValidationError) as raised:
        DeclineIn(reason_code="other")
    assert [e["loc"] for e in raised.value.errors()] == [("detail",)]


def test_the_example_bodies_are_what_the_routes_accept():
    examples = Path(__file__).parents[2] / "examples"
    provider = ProviderIn.model_validate_json((examples / "service_provider.json").read_text())
    assert provider.service_types == [T.transportation, T.technology]
    ask = RequestIn.model_validate_json((examples / "service_request.json").read_text())
    assert ask.person()[0] == "enrollment" and ask.amount_requested is not None


def test_the_provider_hears_of_requests_cancellations_and_flags_not_of_its_own_answers():
    r = request(State.accepted)
    told = [
        provider_notice(event)
        for event in (
            new_request("srq_1", "forge", RIDES, ENROLLED, T.transportation, "Bus pass", None),
            request().cancel(MON, "Found a ride")[1],
            r.stale(RULE),
            request().accept(MON)[1],
            r.decline(MON, events.ServiceDeclineReason.no_capacity, None)[1],
            r.deliver(MON, MON.date(), None, UTC)[1],
        )
    ]
    assert [(n.provider_id, n.event_type, n.data["state"]) if n else None for n in told] == [
        ("rides", "service.requested", "requested"),
        ("rides", "service.cancelled", "cancelled"),
        ("rides", "service.stale", "accepted"),
        None,
        None,
        None,
    ]
    assert {n.event_type for n in told if n} == set(PROVIDER_NOTIFICATIONS)
    assert all("reason" not in n.data and "candidate_id" not in n.data for n in told if n)
