"""Training's contracts (issue 15): programs on talentloop.programs keyed by program id,
enrollments on talentloop.training keyed by enrollment id, and erasure naming enrollments."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from contracts import ContractError, Envelope, build, events, payload_of, registry, topics

pytestmark = pytest.mark.unit

PROGRAM = {
    "program_id": "prog_1", "partner_id": "forge", "name": "Web Development", "modality": "online",
    "length_weeks": 12, "cost_to_participant": {"amount": "0"},
}
ENROLLMENT = {"enrollment_id": "enr_1", "program_id": "prog_1", "partner_id": "forge", "candidate_id": "cand_1"}
CONSENT = {"aggregate_reports": True, "share_outcomes_with_provider": False, "given_at": datetime(2026, 9, 1, tzinfo=UTC)}


def test_programs_and_training_are_intake_s_and_keyed_by_their_own_ids():
    assert topics.PROGRAMS in topics.ALL and topics.TRAINING in topics.ALL
    program = build(events.ProgramRegisteredV1(**PROGRAM), source="/talentloop/intake", correlation_id="c")
    assert program.subject == "prog_1" and program.partnerid == "forge"
    enrolled = events.TrainingEnrolledV1(**ENROLLMENT, enrolled_on=date(2026, 9, 2), consent=CONSENT)
    env = build(enrolled, source="/talentloop/intake", correlation_id="c")
    assert env.subject == "enr_1" and env.partnerid == "forge"
    assert payload_of(Envelope.from_bytes(env.to_bytes())) == enrolled
    produced = {m.event_type for m in registry.emitted_by("intake")}
    assert {
        "program.registered.v1", "program.updated.v1", "training.enrolled.v1", "training.progressed.v1",
        "training.completed.v1", "training.exited.v1", "credential.earned.v1",
    } <= produced
    assert {m.topic for m in registry.emitted_by("intake") if m.event_type.startswith(("training.", "credential."))} == {
        topics.TRAINING
    }


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"length_weeks": 0}, "length_weeks"),
        ({"length_weeks": 521}, "length_weeks"),
        ({"hours": 0}, "hours"),
        ({"modality": "correspondence"}, "modality"),
        ({"funding_sources": ["lottery"]}, "funding_sources"),
        ({"onet_soc_codes": ["15-1252.00"] * 11}, "onet_soc_codes"),
        ({"onet_soc_codes": ["programmer"]}, "onet_soc_codes"),
        ({"cost_to_participant": {"amount": "-1"}}, "cost_to_participant"),
        ({"name": ""}, "name"),
    ],
)
def test_a_program_out_of_its_bounds_is_refused_at_the_field(over, field):
    with pytest.raises(ValidationError) as raised:
        events.ProgramUpdatedV1(**{**PROGRAM, **over})
    assert {str(e["loc"][0]) for e in raised.value.errors()} == {field}


def test_an_exit_for_another_reason_needs_a_detail_named_as_the_field():
    with pytest.raises(ValidationError) as raised:
        events.TrainingExitedV1(**ENROLLMENT, exited_on=date(2026, 10, 1), reason="other")
    [error] = raised.value.errors()
    assert error["loc"] == ("detail",) and error["type"] == events.INCONSISTENT
    assert events.TrainingExitedV1(**ENROLLMENT, exited_on=date(2026, 10, 1), reason="childcare").detail is None


@pytest.mark.parametrize("percent", [-1, 101])
def test_progress_is_a_percentage(percent):
    with pytest.raises(ValidationError, match="percent_complete"):
        events.TrainingProgressedV1(**ENROLLMENT, as_of=date(2026, 10, 1), milestone="exam_passed",
                                    percent_complete=percent)


def test_a_credential_earned_needs_its_name_and_date():
    with pytest.raises(ValidationError, match="awarded_on"):
        events.CredentialEarnedV1(**ENROLLMENT, credential={"name": "CompTIA A+"})
    with pytest.raises(ValidationError, match="credential.name"):
        events.CredentialEarnedV1(**ENROLLMENT, credential={"name": ""}, awarded_on=date(2027, 1, 1))


def test_an_erasure_before_1_3_reads_with_no_enrollments_and_1_3_names_them():
    old = {"candidate_id": "cand_1", "referral_ids": ["ref_1"], "requested_by": "operator",
           "erased_at": "2026-11-04T08:00:00Z"}
    assert events.CandidateErasedV1.model_validate(old).enrollment_ids == []
    erased = events.CandidateErasedV1.model_validate({**old, "referral_ids": [], "enrollment_ids": ["enr_1"]})
    env = build(erased, source="/talentloop/intake", correlation_id="c")
    assert env.dataschema.endswith("candidate.erased:1.3") and env.subject == "cand_1"
    assert payload_of(Envelope.from_bytes(env.to_bytes())).enrollment_ids == ["enr_1"]


def test_a_training_event_with_a_bad_field_is_a_contract_error_naming_it():
    env = build(events.TrainingCompletedV1(**ENROLLMENT, completed_on=date(2027, 1, 8)), source="/x", correlation_id="c")
    with pytest.raises(ContractError, match="completed_on"):
        payload_of(env.model_copy(update={"data": {**env.data, "completed_on": "2027-02-30"}}))
