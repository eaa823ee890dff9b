"""Who hears what in the closed loops (services/outcomes/domain.py): a training provider of
another partner's referral's person, only with consent and never the referrer itself; a service
request's requester; an erased request keeps no words."""

from __future__ import annotations

from contracts import events
from services.outcomes import domain

SHARED = [
    domain.Shared("enr_1", "trainer", "prog_1", "cand_a"),
    domain.Shared("enr_2", "p1", "prog_2", "cand_a"),  # the referring partner is a provider too
    domain.Shared("enr_3", "trainer", "prog_1", "cand_b"),
]


def test_a_referrals_person_is_told_to_each_consenting_provider_but_the_referrer() -> None:
    assert [s.enrollment_id for s in domain.participants_to_tell(SHARED, "cand_a", "p1")] == ["enr_1"]
    assert [s.enrollment_id for s in domain.participants_to_tell(SHARED, "cand_a", "p9")] == ["enr_1", "enr_2"]
    assert domain.participants_to_tell(SHARED, "cand_z", "p1") == []


def test_the_provider_gets_the_referrers_detail_and_nothing_when_the_status_stays() -> None:
    detail = {"job_title": "Dev", "wage_band": "$30-40/hour", "employment_type": "internship"}
    event = domain.participant_status_changed(SHARED[0], "ref_a", "hired", detail, "offered")
    assert isinstance(event, events.ParticipantStatusChangedV1)
    assert (event.partner_id, event.enrollment_id, event.program_id, event.referral_id) == (
        "trainer", "enr_1", "prog_1", "ref_a")
    assert (event.status, event.previous_status, event.detail.wage_band) == ("hired", "offered", "$30-40/hour")
    assert event.subject() == "enr_1"
    assert domain.participant_status_changed(SHARED[0], "ref_a", "hired", detail, "hired") is None


def test_a_requester_hears_a_change_of_its_request() -> None:
    event = domain.service_status_changed("req_1", "p1", "stale", {"service_type": "food"}, "accepted")
    assert event is not None and (event.partner_id, event.status, event.previous_status) == ("p1", "stale", "accepted")
    assert domain.service_status_changed("req_1", "p1", "accepted", {}, "accepted") is None


def test_an_erased_service_event_keeps_codes_types_and_amounts_not_words() -> None:
    data = {"request_id": "req_1", "candidate_id": "cand_a", "reason": "Eviction notice", "reason_code": "other",
            "detail": "Lives with her aunt", "service_type": "housing", "amount_requested": {"amount": "300"}}
    assert domain.redact_service(data) == {"request_id": "req_1", "candidate_id": "erased", "reason_code": "other",
                                           "service_type": "housing", "amount_requested": {"amount": "300"}}
    assert domain.redact_service(domain.redact_service(data)) == domain.redact_service(data)
