"""The pure rule of training records (services/intake/training.py): a record states an
enrollment's state, so sending it again changes nothing; an ending is never changed."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts import events
from services.intake import domain, training

pytestmark = pytest.mark.unit
WHO = training.Enrollment("enr_1", "prog_1", "forge", "cand_1")


def record(**over):
    doc = {
        "external_id": "stu-1",
        "program_id": "prog_1",
        "candidate": {"given_name": "Ana", "family_name": "Diaz", "email": "ana@example.org"},
        "enrolled_on": "2026-09-01",
        "consent": {"aggregate_reports": True, "given_at": datetime(2026, 8, 30, tzinfo=UTC).isoformat()},
        **over,
    }
    return training.validate_training(doc)


def types(out):
    return [e.event_type for e in out]


def test_a_new_enrollment_says_enrolled_then_what_the_record_adds_in_order():
    state, out = training.training_events(
        None,
        record(status="completed", completed_on="2026-12-18",
               progress={"as_of": "2026-10-01", "milestone": "exam_passed", "percent_complete": 50},
               credentials=[{"name": "CompTIA A+", "ctdl_id": "ce-1", "awarded_on": "2026-12-20"}]),
        WHO,
    )
    assert types(out) == ["training.enrolled.v1", "training.progressed.v1", "credential.earned.v1",
                          "training.completed.v1"]
    assert all(e.enrollment_id == "enr_1" and e.candidate_id == "cand_1" and e.partner_id == "forge" for e in out)
    assert state.status is training.TrainingStatus.completed and state.ended_on == date(2026, 12, 18)


def test_sending_the_same_record_again_changes_nothing():
    rec = record(status="completed", completed_on="2026-12-18",
                 credentials=[{"name": "CompTIA A+", "awarded_on": "2026-12-20"}])
    state, _ = training.training_events(None, rec, WHO)
    again, out = training.training_events(state, rec, WHO)
    assert out == [] and again == state
    assert training.TrainingState.from_json(state.to_json()) == state  # what the row keeps reads back the same


def test_a_completion_is_emitted_once_and_a_later_row_saying_enrolled_takes_nothing_back():
    state, _ = training.training_events(None, record(), WHO)
    state, out = training.training_events(state, record(status="completed", completed_on="2026-12-18"), WHO)
    assert types(out) == ["training.completed.v1"]
    state2, out = training.training_events(state, record(), WHO)
    assert out == [] and state2 == state
    # A corrected date does not complete it twice.
    assert training.training_events(state, record(status="completed", completed_on="2026-12-19"), WHO)[1] == []


@pytest.mark.parametrize(("first", "then"), [("completed", "exited"), ("exited", "completed")])
def test_an_ended_enrollment_cannot_end_otherwise(first, then):
    ends = {"completed": {"status": "completed", "completed_on": "2026-12-18"},
            "exited": {"status": "exited", "exited_on": "2026-10-02", "exit_reason": "childcare"}}
    state, _ = training.training_events(None, record(**ends[first]), WHO)
    with pytest.raises(training.TrainingRefused) as refused:
        training.training_events(state, record(**ends[then]), WHO)
    assert refused.value.code == "training-ended" and refused.value.loc == ("status",)


def test_a_credential_is_the_same_by_ctdl_id_or_by_its_compared_name():
    state, out = training.training_events(
        None, record(credentials=[{"name": "CompTIA A+", "ctdl_id": "ce-1", "awarded_on": "2026-12-20"},
                                  {"name": "OSHA 10", "awarded_on": "2026-10-20"}]), WHO)
    assert types(out).count("credential.earned.v1") == 2
    _, out = training.training_events(
        state, record(credentials=[{"name": "A+ (CompTIA)", "ctdl_id": "ce-1", "awarded_on": "2026-12-20"},
                                   {"name": "  osha   10 ", "awarded_on": "2026-10-20"},
                                   {"name": "Forklift", "awarded_on": "2026-11-02"}]), WHO)
    assert [e.credential.name for e in out] == ["Forklift"]


def test_demographics_only_with_consent_to_aggregate_reports():
    sealed = events.Sealed(kid="cand_1#1", nonce="AAAA", ciphertext="BBBB")
    _, [enrolled] = training.training_events(
        None, record(consent={"aggregate_reports": False, "given_at": "2026-08-30T00:00:00Z"}), WHO,
        contact_sealed=sealed, demographics_sealed=sealed)
    assert enrolled.demographics_sealed is None and enrolled.contact_sealed == sealed


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"status": "completed"}, "completed-on-required"),
        ({"status": "exited", "exited_on": "2026-10-02"}, "exit-required"),
        ({"completed_on": "2026-12-18"}, "status-mismatch"),
        ({"status": "exited", "exited_on": "2026-10-02", "exit_reason": "other"}, "detail-required"),
        ({"status": "completed", "completed_on": "2026-08-01"}, "date-order"),
        ({"candidate": {"given_name": "Ana", "family_name": "Diaz"}}, "contact-required"),
    ],
)
def test_a_record_that_contradicts_itself_is_refused_with_a_code(over, code):
    with pytest.raises(ValidationError) as refused:
        record(**over)
    assert code in {domain.error_code(e["type"]) for e in refused.value.errors()}


STATUSES = st.sampled_from([
    {},
    {"status": "completed", "completed_on": "2026-12-18"},
    {"status": "exited", "exited_on": "2026-10-02", "exit_reason": "financial"},
])
PROGRESS = st.one_of(st.none(), st.builds(
    lambda d, m, p: {"as_of": f"2026-10-{d:02d}", "milestone": m, "percent_complete": p},
    st.integers(1, 28), st.sampled_from(list(events.TrainingMilestone)), st.none() | st.integers(0, 100)))
CREDENTIALS = st.lists(st.sampled_from(["OSHA 10", "CompTIA A+", "Forklift"]), max_size=3).map(
    lambda names: [{"name": n, "awarded_on": "2026-12-01"} for n in names])


@given(st.lists(st.tuples(STATUSES, PROGRESS, CREDENTIALS), min_size=1, max_size=5))
def test_replaying_any_sequence_of_records_emits_nothing_new(rows):
    state, seen = None, []
    for ending, progress, credentials in rows:
        rec = record(**ending, progress=progress, credentials=credentials)
        try:
            state, out = training.training_events(state, rec, WHO)
        except training.TrainingRefused:
            continue
        seen += out
        again, repeat = training.training_events(state, rec, WHO)
        assert repeat == [] and again == state
    assert types(seen).count("training.enrolled.v1") == 1
    assert types(seen).count("training.completed.v1") + types(seen).count("training.exited.v1") <= 1


def test_a_program_is_registered_once_then_updated_only_when_it_changed():
    program = training.ProgramIn(program_id="prog_1", name="Welding", modality="in_person", length_weeks=20,
                                 cost_to_participant={"amount": "150"}, onet_soc_codes=["51-4121", "51-4121.00"],
                                 funding_sources=["wioa", "wioa"])
    assert program.onet_soc_codes == ["51-4121.00"] and program.funding_sources == ["wioa"]
    registered = training.program_event(None, program, "forge")
    assert registered.event_type == "program.registered.v1" and registered.partner_id == "forge"
    assert training.program_event(program, program, "forge") is None
    longer = program.model_copy(update={"length_weeks": 24})
    assert training.program_event(program, longer, "forge").event_type == "program.updated.v1"
