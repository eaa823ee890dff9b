from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from contracts import events
from services.employer_gateway.domain import (
    ALLOWED,
    Employment,
    Interview,
    InvalidTransition,
    Offer,
    Referral,
    State,
    Terms,
    UnknownInterview,
    UnknownOffer,
)

pytestmark = pytest.mark.unit
WHEN = datetime(2026, 12, 1, 15, tzinfo=UTC)
START = date(2027, 1, 4)
TERMS = Terms("Dev", "15-1252.00", events.Wage(amount="30", unit="hour"), 40, events.EmploymentKind.full_time,
              events.Benefits(health=True), START, events.PayBasis.hourly)


INTERN = replace(TERMS, job_title="Dev intern", employment_type=events.EmploymentKind.internship, hours_per_week=20,
                 wage=events.Wage(amount="18", unit="hour"), end_date=START + timedelta(days=90))
HIRED = replace(TERMS, start_date=START + timedelta(days=60))  # a conversion's start date is the placement's


def placement(r: Referral):
    return r.report_placement(TERMS)


def placed() -> Referral:
    r = Referral("ref", "emp", "opn", State.acknowledged)
    placement(r)
    return r


def test_happy_path_emits_each_event_in_order():
    r = Referral("ref", "emp", "opn")
    out = [r.acknowledge(), r.schedule_interview("i1", WHEN, events.InterviewMode.video)]
    out.append(r.record_interview_outcome("i1", events.InterviewOutcome.advanced))
    out.append(placement(r))
    assert [e.event_type for e in out] == [
        "referral.acknowledged.v1", "interview.scheduled.v1", "interview.completed.v1", "placement.reported.v2"
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


def test_the_whole_path_with_offer_retention_and_separation():
    r = Referral("ref", "emp", "opn")
    out = [r.acknowledge(), r.schedule_interview("i1", WHEN, events.InterviewMode.video)]
    out.append(r.reschedule_interview("i1", WHEN + timedelta(days=1), None))
    out.append(r.record_interview_outcome("i1", events.InterviewOutcome.advanced))
    out.append(r.extend_offer("o1", TERMS, date(2026, 12, 20)))
    assert r.state is State.offered
    out.append(placement(r))
    out += [r.check_retention(30, True, START + timedelta(days=30)), r.check_retention(90, True, START + timedelta(days=95))]
    out.append(r.report_separation(START + timedelta(days=120), events.SeparationReason.resigned, None))
    assert [e.event_type.rsplit(".", 1)[0] for e in out] == [
        "referral.acknowledged", "interview.scheduled", "interview.rescheduled", "interview.completed", "offer.extended",
        "placement.reported", "retention.checked", "retention.checked", "separation.reported",
    ]
    assert out[2].mode is events.InterviewMode.video and r.interviews["i1"].scheduled_for == WHEN + timedelta(days=1)
    assert r.state is State.separated and r.employment.checked == {30: True, 90: True}
    with pytest.raises(InvalidTransition) as err:
        r.check_retention(180, True, START + timedelta(days=200))
    assert err.value.current is State.separated


def test_a_retention_check_in_comes_once_and_not_before_its_milestone():
    r = placed()
    with pytest.raises(InvalidTransition, match="due on 2027-04-04"):
        r.check_retention(90, True, START + timedelta(days=89))
    r.check_retention(90, True, START + timedelta(days=90))
    with pytest.raises(InvalidTransition, match="reported already"):
        r.check_retention(90, True, START + timedelta(days=91))
    r.check_retention(30, True, START + timedelta(days=91))  # a late 30-day check-in is still welcome


def test_a_check_in_saying_not_employed_any_more_ends_the_employment():
    r = placed()
    e = r.check_retention(30, False, START + timedelta(days=30))
    assert e.still_employed is False and r.state is State.separated


def test_an_unpaid_micro_internship_is_offered_and_placed_on_its_own_terms():
    micro = replace(TERMS, employment_type=events.EmploymentKind.micro_internship, pay_basis=events.PayBasis.unpaid,
                    wage=None, hours_per_week=None, engagement_hours=40, end_date=START + timedelta(days=20),
                    schedule=events.Schedule(predictable=False, variable_hours=True))
    r = Referral("ref", "emp", "opn", State.acknowledged)
    offer = r.extend_offer("o1", micro, None)
    placed_event = r.report_placement(micro)
    for event in (offer, placed_event):
        assert event.event_type.endswith(".v2") and event.wage is None and event.pay_basis is events.PayBasis.unpaid
        assert (event.engagement_hours, event.end_date, event.schedule) == (40, micro.end_date, micro.schedule)
    assert r.offers["o1"].terms == micro and r.employment.start_date == START


def test_terms_the_contract_refuses_leave_the_referral_as_it_was():
    # The API refuses these first (422 at the field); the domain never publishes them either.
    r = Referral("ref", "emp", "opn", State.interviewing)
    registered = replace(TERMS, apprenticeship_registered=True)  # a full-time job is no apprenticeship
    with pytest.raises(ValidationError, match="apprenticeship_registered"):
        r.extend_offer("o1", registered, None)
    with pytest.raises(ValidationError, match="end_date"):
        r.report_placement(replace(TERMS, end_date=START - timedelta(days=1)))
    assert r.state is State.interviewing and r.offers == {} and r.employment is None


def test_a_check_in_carries_what_the_job_is_by_then():
    r = placed()
    e = r.check_retention(
        90, True, START + timedelta(days=90), events.Wage(amount="34", unit="hour"), 40, job_title="Senior Dev",
        promoted=True, pay_basis=events.PayBasis.hourly, benefits=events.Benefits(health=True, dental=True),
        schedule=events.Schedule(predictable=True, advance_notice_days=14),
    )
    assert (e.job_title, e.promoted, e.pay_basis, e.benefits.dental, e.schedule.advance_notice_days) == (
        "Senior Dev", True, "hourly", True, 14)
    bare = placed().check_retention(30, True, START + timedelta(days=30))
    assert (bare.job_title, bare.promoted, bare.pay_basis, bare.benefits, bare.schedule) == (None,) * 5


def test_a_separation_before_the_start_date_is_refused():
    r = placed()
    with pytest.raises(InvalidTransition, match="before the start date"):
        r.report_separation(START - timedelta(days=1), events.SeparationReason.other, "x")
    assert r.state is State.placed


def test_a_cancelled_interview_takes_no_outcome_and_cannot_move():
    r = Referral("ref", "emp", "opn", State.acknowledged)
    r.schedule_interview("i1", WHEN, events.InterviewMode.phone)
    e = r.cancel_interview("i1", events.CancelledBy.candidate, "sick")
    assert e.cancelled_by is events.CancelledBy.candidate and r.state is State.interviewing
    for action in (lambda: r.record_interview_outcome("i1", events.InterviewOutcome.advanced),
                   lambda: r.reschedule_interview("i1", WHEN, None),
                   lambda: r.cancel_interview("i1", events.CancelledBy.employer, None)):
        with pytest.raises(InvalidTransition, match="was cancelled"):
            action()
    with pytest.raises(UnknownInterview):
        r.reschedule_interview("nope", WHEN, None)


def test_the_candidate_turning_the_offer_down_ends_the_referral():
    r = Referral("ref", "emp", "opn", State.interviewing)
    r.extend_offer("o1", TERMS, None)
    with pytest.raises(UnknownOffer):
        r.record_offer_declined("o2", events.OfferDeclineReason.compensation, None)
    e = r.record_offer_declined("o1", events.OfferDeclineReason.compensation, None)
    assert e.offer_id == "o1" and r.state is State.offer_declined
    with pytest.raises(InvalidTransition):
        placement(r)


def test_an_offer_needs_an_acknowledgement_first_and_may_be_rescinded_by_declining():
    r = Referral("ref", "emp", "opn")
    with pytest.raises(InvalidTransition) as err:
        r.extend_offer("o1", TERMS, None)
    assert err.value.current is State.routed and "cannot extend offer" in str(err.value)
    r.acknowledge()
    r.extend_offer("o1", TERMS, None)
    assert r.decline(events.DeclineReason.position_filled, None).reason == "position_filled"


# Each action, called on a referral that has interview i1, offer o1 and an employment.
ACTIONS = {
    "acknowledge": lambda r: r.acknowledge(),
    "decline": lambda r: r.decline(events.DeclineReason.no_capacity, None),
    "schedule_interview": lambda r: r.schedule_interview("i2", WHEN, events.InterviewMode.video),
    "reschedule_interview": lambda r: r.reschedule_interview("i1", WHEN, None),
    "cancel_interview": lambda r: r.cancel_interview("i1", events.CancelledBy.employer, None),
    "record_interview_outcome": lambda r: r.record_interview_outcome("i1", events.InterviewOutcome.advanced),
    "extend_offer": lambda r: r.extend_offer("o2", TERMS, None),
    "record_offer_declined": lambda r: r.record_offer_declined("o1", events.OfferDeclineReason.other, "x"),
    "report_placement": placement,
    "check_retention": lambda r: r.check_retention(30, True, START + timedelta(days=30)),
    "report_separation": lambda r: r.report_separation(START, events.SeparationReason.laid_off, None),
    "convert": lambda r: r.convert(HIRED, START + timedelta(days=60)),
}


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_every_action_is_allowed_only_from_its_states(state, action):
    """The ALLOWED table is the state machine: an action outside its states is refused naming the state."""
    r = Referral("ref", "emp", "opn", state)
    r.interviews["i1"] = Interview("i1", WHEN, events.InterviewMode.video)
    r.offers["o1"] = Offer("o1", TERMS)
    r.employment = Employment(START, terms=INTERN)
    if state in ALLOWED[action]:
        ACTIONS[action](r)
    else:
        with pytest.raises(InvalidTransition) as err:
            ACTIONS[action](r)
        assert err.value.current is state and r.state is state


# --- conversion at the same employer (issue 15, slice 2) -------------------------------------


def placed_as(terms: Terms) -> Referral:
    r = Referral("ref", "emp", "opn", State.acknowledged)
    r.report_placement(terms)
    return r


@pytest.mark.parametrize("kind", ["internship", "micro_internship", "apprenticeship"])
def test_work_based_learning_converts_once_and_keeps_its_start_date(kind):
    before = replace(INTERN, employment_type=events.EmploymentKind(kind),
                     engagement_hours=40 if kind == "micro_internship" else None)
    r = placed_as(before)
    on = START + timedelta(days=60)
    event = r.convert(HIRED, on)
    assert isinstance(event, events.PlacementConvertedV1)
    assert (event.converted_on, event.from_employment_type.value, event.employment_type) == (
        on, kind, events.EmploymentKind.full_time)
    assert event.start_date == START and event.end_date is None and event.wage.amount == 30
    assert r.state is State.placed and r.employment.terms == replace(HIRED, start_date=START)
    assert r.employment.converted_on == on
    with pytest.raises(InvalidTransition, match="converted already"):
        r.convert(HIRED, on)
    # Retention still counts from the placement's start: the 30-day check-in is due at START + 30.
    assert r.check_retention(30, True, START + timedelta(days=30)).milestone_days == 30


def test_a_full_or_part_time_placement_does_not_convert():
    for kind in (events.EmploymentKind.full_time, events.EmploymentKind.part_time):
        r = placed_as(replace(TERMS, employment_type=kind))
        with pytest.raises(InvalidTransition, match=f"this placement is {kind.value}") as err:
            r.convert(HIRED, START + timedelta(days=10))
        assert err.value.current is State.placed and r.employment.converted_on is None


def test_a_conversion_to_another_kind_than_full_or_part_time_is_refused():
    r = placed_as(INTERN)
    with pytest.raises(InvalidTransition, match="to full_time or part_time, not apprenticeship"):
        r.convert(replace(HIRED, employment_type=events.EmploymentKind.apprenticeship), START + timedelta(days=10))
    assert r.employment.terms == INTERN


def test_a_conversion_before_the_start_date_or_ending_before_it_is_refused():
    r = placed_as(INTERN)
    with pytest.raises(InvalidTransition, match="before the start date 2027-01-04"):
        r.convert(HIRED, START - timedelta(days=1))
    with pytest.raises(InvalidTransition, match="end_date is before converted_on"):
        r.convert(replace(HIRED, end_date=START + timedelta(days=5)), START + timedelta(days=10))
    assert r.convert(HIRED, START).converted_on == START  # on the first day: allowed


def test_a_placement_stored_before_terms_were_kept_does_not_convert():
    r = Referral("ref", "emp", "opn", State.placed)
    r.employment = Employment(START)
    with pytest.raises(InvalidTransition, match="terms were not kept"):
        r.convert(HIRED, START + timedelta(days=10))


@pytest.mark.parametrize("state", [s for s in State if s is not State.placed])
def test_only_a_placed_referral_converts(state):
    r = Referral("ref", "emp", "opn", state)
    r.employment = Employment(START, terms=INTERN)
    with pytest.raises(InvalidTransition, match=f"cannot convert a referral that is {state.value}"):
        r.convert(HIRED, START + timedelta(days=10))
