"""Supportive services' contracts (issue 15 item 3): requests and the providers' directory on
talentloop.services, written by support; the two closed loops on talentloop.partner-status,
written by outcomes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from contracts import ContractError, Envelope, build, events, payload_of, registry, topics

pytestmark = pytest.mark.unit

REQUEST = {"request_id": "srq_1", "requester_id": "forge", "provider_id": "rides"}
REQUESTED = {
    **REQUEST,
    "candidate_id": "cand_1",
    "enrollment_id": "enr_1",
    "service_type": "transportation",
    "reason": "Bus pass for evening classes.",
}


def _fields(raised: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {str(e["loc"][0]) for e in raised.value.errors()}


def test_support_writes_talentloop_services_and_outcomes_the_two_closed_loops():
    assert topics.SERVICES in topics.ALL and topics.SERVICES.producer == "support"
    assert {m.event_type for m in registry.emitted_by("support")} == {
        "service_provider.registered.v1",
        "service_provider.updated.v1",
        "service.requested.v1",
        "service.accepted.v1",
        "service.declined.v1",
        "service.delivered.v1",
        "service.cancelled.v1",
        "service.stale.v1",
    }
    assert {"service.status_changed.v1", "participant.status_changed.v1"} <= {
        m.event_type for m in registry.emitted_by("outcomes")
    }
    assert events.ServiceStatusChangedV1.topic is events.ParticipantStatusChangedV1.topic is topics.PARTNER_STATUS


def test_requests_are_keyed_by_request_id_and_the_directory_by_provider_id():
    requested = events.ServiceRequestedV1(**REQUESTED)
    env = build(requested, source="/talentloop/support", correlation_id="c", partner_id="forge")
    assert env.subject == "srq_1" and env.partnerid == "forge"
    assert payload_of(Envelope.from_bytes(env.to_bytes())) == requested
    provider = events.ServiceProviderRegisteredV1(provider_id="rides", name="Rides", service_types=["transportation"])
    assert build(provider, source="/talentloop/support", correlation_id="c").subject == "rides"
    told = events.ServiceStatusChangedV1(
        request_id="srq_1", partner_id="forge", status="accepted", previous_status="requested"
    )
    assert told.subject() == "srq_1"
    participant = events.ParticipantStatusChangedV1(
        partner_id="forge",
        enrollment_id="enr_1",
        program_id="prog_1",
        referral_id="ref_9",
        status="hired",
        previous_status="offered",
    )
    assert participant.subject() == "enr_1"


@pytest.mark.parametrize("people", [{}, {"referral_id": "ref_1", "enrollment_id": "enr_1"}], ids=["neither", "both"])
def test_a_request_names_exactly_one_referral_or_enrollment(people):
    data = {k: v for k, v in REQUESTED.items() if k != "enrollment_id"} | people
    with pytest.raises(ValidationError) as raised:
        events.ServiceRequestedV1(**data)
    assert _fields(raised) == {"enrollment_id"}
    assert events.ServiceRequestedV1(**{**data, "enrollment_id": None, "referral_id": "ref_1"}).referral_id == "ref_1"


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"service_type": "spa_day"}, "service_type"),
        ({"reason": ""}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"amount_requested": {"amount": "-5"}}, "amount_requested"),
        ({"candidate_id": "c" * 101}, "candidate_id"),
    ],
)
def test_a_request_out_of_its_bounds_is_refused_at_the_field(over, field):
    with pytest.raises(ValidationError) as raised:
        events.ServiceRequestedV1(**{**REQUESTED, **over})
    assert _fields(raised) == {field}


def test_a_decline_for_another_reason_needs_a_detail_and_codes_are_a_closed_list():
    with pytest.raises(ValidationError) as raised:
        events.ServiceDeclinedV1(**REQUEST, reason_code="other")
    assert _fields(raised) == {"detail"}
    with pytest.raises(ValidationError):
        events.ServiceDeclinedV1(**REQUEST, reason_code="busy")
    assert events.ServiceDeclinedV1(**REQUEST, reason_code="no_capacity").detail is None


def test_delivery_value_is_money_and_stale_says_where_it_waits():
    delivered = events.ServiceDeliveredV1(**REQUEST, delivered_on=date(2026, 10, 9), value={"amount": 120.5})
    assert str(delivered.value.amount) == "120.5" and delivered.value.currency == "USD"
    with pytest.raises(ValidationError) as raised:
        events.ServiceStaleV1(
            **REQUEST, waiting_in="declined", waiting_since=datetime(2026, 10, 1, tzinfo=UTC), business_days=3
        )
    assert _fields(raised) == {"waiting_in"}
    with pytest.raises(ValidationError) as raised:
        events.ServiceStaleV1(
            **REQUEST, waiting_in="accepted", waiting_since=datetime(2026, 10, 1, tzinfo=UTC), business_days=0
        )
    assert _fields(raised) == {"business_days"}


def test_a_provider_offers_at_least_one_known_service():
    with pytest.raises(ValidationError) as raised:
        events.ServiceProviderUpdatedV1(provider_id="rides", name="Rides", service_types=[])
    assert _fields(raised) == {"service_types"}
    with pytest.raises(ValidationError):
        events.ServiceProviderUpdatedV1(provider_id="rides", name="Rides", service_types=["teleportation"])


def test_a_cancellation_needs_the_requester_s_words():
    with pytest.raises(ValidationError) as raised:
        events.ServiceCancelledV1(**REQUEST, reason="")
    assert _fields(raised) == {"reason"}


def test_a_service_event_with_a_bad_field_is_a_contract_error_naming_it():
    env = build(events.ServiceAcceptedV1(**REQUEST), source="/talentloop/support", correlation_id="c")
    bad = env.model_copy(update={"type": "service.requested.v1", "data": {**REQUESTED, "service_type": "x"}})
    with pytest.raises(ContractError, match="service_type"):
        payload_of(bad)


def test_a_stale_flag_s_business_days_are_described_as_the_configured_limit_support_sends():
    """Support sends the limit the request waited past (`StaleRule.limit`: a setting), not how
    long it has waited: the contract's description says so and names both settings."""
    from plumbing.settings import Settings
    from services.support.domain import ServiceRequest, StaleRule, State

    rule = StaleRule.from_settings(Settings())
    since = datetime(2026, 11, 2, 9, tzinfo=UTC)
    for state in (State.requested, State.accepted):
        flag = ServiceRequest("srq_1", "forge", "rides", state, since, since).stale(rule)
        assert flag.business_days == rule.limit(state)
    described = events.ServiceStaleV1.model_json_schema()["properties"]["business_days"]["description"]
    assert "waited so far" not in described
    assert "TALENTLOOP_STALE_BUSINESS_DAYS" in described and "TALENTLOOP_SERVICE_DELIVERY_BUSINESS_DAYS" in described
