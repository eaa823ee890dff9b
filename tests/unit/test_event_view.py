"""What `talentloop tail` shows of an event (plumbing.operations.event_view): a training event's
ids (its enrollment and program) and a candidate.erased's enrollments, never what the person
earned or their sealed contact."""

from __future__ import annotations

from contracts import build, events
from plumbing.operations import event_view


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
