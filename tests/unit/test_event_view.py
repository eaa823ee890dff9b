"""What `talentloop tail` shows of an event (plumbing.operations.event_view): a training event's
ids (its enrollment and program) and a candidate.erased's enrollments, never what the person
earned or their sealed contact."""

from __future__ import annotations

from contracts import build, events
from plumbing.operations import TailFilter, event_view


def test_a_training_event_shows_its_ids_and_not_the_credential() -> None:
    earned = events.CredentialEarnedV1(enrollment_id="enr_1", program_id="prog_1", partner_id="trainer",
                                       candidate_id="cand_1", awarded_on="2026-12-20",
                                       credential=events.EarnedCredential(name="Canary A+"))
    view = event_view(build(earned, source="/t", correlation_id="t"), "talentloop.training", 0, 7)
    assert view["data"] == {"enrollment_id": "enr_1", "program_id": "prog_1", "partner_id": "trainer",
                            "candidate_id": "cand_1"}


def test_an_erasure_shows_the_enrollments_it_erased() -> None:
    erased = events.CandidateErasedV1(candidate_id="cand_1", referral_ids=[], enrollment_ids=["enr_1"],
                                      requested_by="operator", erased_at="2026-12-01T00:00:00Z")
    view = event_view(build(erased, source="/t", correlation_id="t"), "talentloop.candidates", 0, 8)
    assert view["data"]["enrollment_ids"] == ["enr_1"]


def test_a_service_request_shows_its_ids_and_codes_never_the_requesters_words() -> None:
    asked = events.ServiceRequestedV1(request_id="srq_1", requester_id="forge", provider_id="rides",
                                      candidate_id="cand_1", enrollment_id="enr_1", service_type="transportation",
                                      reason="Her car broke down on Route 9")
    envelope = build(asked, source="/t", correlation_id="t", partner_id="forge")
    view = event_view(envelope, "talentloop.services", 0, 9)
    assert view["data"] == {"request_id": "srq_1", "requester_id": "forge", "provider_id": "rides",
                            "candidate_id": "cand_1", "enrollment_id": "enr_1", "service_type": "transportation"}
    cancelled = events.ServiceCancelledV1(request_id="srq_1", requester_id="forge", provider_id="rides",
                                          reason="She found a ride with her sister")
    assert "reason" not in event_view(build(cancelled, source="/t", correlation_id="t"), "s", 0, 10)["data"]
    unmatched_reason = "no open opening fits"  # a code-like reason of routing's stays shown
    unmatched = events.ReferralUnmatchedV1(referral_id="ref_1", partner_id="forge", candidate_id="cand_1",
                                           reason=unmatched_reason, missing_skills=[])
    assert event_view(build(unmatched, source="/t", correlation_id="t"), "r", 0, 1)["data"]["reason"] == (
        unmatched_reason
    )
    # Filtered by partner, the request is shown to the provider's operator view as to the requester's.
    assert TailFilter(partner="rides").matches(envelope) and TailFilter(partner="forge").matches(envelope)
    assert not TailFilter(partner="other").matches(envelope)
