from datetime import UTC, date, datetime

import pytest

from contracts import events
from services.employer_gateway.domain import InvalidTransition, Referral, State, UnknownInterview

pytestmark = pytest.mark.unit
WHEN = datetime(2026, 12, 1, 15, tzinfo=UTC)


def placement(r: Referral):
    return r.report_placement(
        job_title="Dev", onet_soc_code="15-1252.00", wage=events.Wage(amount="30", unit="hour"), hours_per_week=40,
        employment_type=events.EmploymentType.full_time, benefits=events.Benefits(health=True), start_date=date(2027, 1, 4),
    )


def test_happy_path_emits_each_event_in_order():
    r = Referral("ref", "emp", "opn")
    out = [r.acknowledge(), r.schedule_interview("i1", WHEN, events.InterviewMode.video)]
    out.append(r.record_interview_outcome("i1", events.InterviewOutcome.advanced))
    out.append(placement(r))
    assert [e.event_type for e in out] == [
        "referral.acknowledged.v1", "interview.scheduled.v1", "interview.completed.v1", "placement.reported.v1"
    ]
    assert r.state is State.placed


def test_placement_before_acknowledgement_is_refused_naming_the_state():
    r = Referral("ref", "emp", "opn")
    with pytest.raises(InvalidTransition) as err:
        placement(r)
    assert err.value.current is State.routed and r.state is State.routed


@pytest.mark.parametrize("state", [State.declined, State.placed])
def test_nothing_follows_a_final_state(state):
    r = Referral("ref", "emp", "opn", state)
    for action in (r.acknowledge, lambda: r.decline(events.DeclineReason.no_capacity, None), lambda: placement(r)):
        with pytest.raises(InvalidTransition):
            action()


def test_interview_outcome_for_unknown_interview():
    r = Referral("ref", "emp", "opn", State.interviewing)
    with pytest.raises(UnknownInterview):
        r.record_interview_outcome("nope", events.InterviewOutcome.advanced)


def test_interview_outcome_recorded_once():
    r = Referral("ref", "emp", "opn", State.acknowledged)
    r.schedule_interview("i1", WHEN, events.InterviewMode.phone)
    r.record_interview_outcome("i1", events.InterviewOutcome.no_show)
    with pytest.raises(InvalidTransition, match="already has an outcome"):
        r.record_interview_outcome("i1", events.InterviewOutcome.advanced)


def test_decline_after_interview_is_allowed():
    r = Referral("ref", "emp", "opn", State.interviewing)
    e = r.decline(events.DeclineReason.not_selected_after_interview, None)
    assert e.reason == "not_selected_after_interview" and r.state is State.declined
