"""The employer's screens' pure parts (services/portal/employing.py, domain.answer_due): the
gateway's bodies from the forms, the problem detail as one line, the deadline before a
referral goes stale, and the steps each state offers matching the gateway's own rules."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from contracts.events import CONVERTS_FROM, CONVERTS_TO, OfferDeclineReason, SeparationReason
from plumbing.business_days import BusinessDays
from services.employer_gateway.domain import ALLOWED
from services.portal import domain, employing

CHICAGO = ZoneInfo("America/Chicago")


def body(step: str, form: dict) -> dict | None:  # type: ignore[type-arg]
    return employing.STEPS[step].body(form, CHICAGO)


def test_bodies_for_the_gateway() -> None:
    assert body("acknowledge", {}) is None
    assert body("decline", {"reason": "no_capacity", "detail": " "}) == {"reason": "no_capacity", "detail": None}
    # A datetime-local is read in the network's business time zone.
    assert body("schedule", {"scheduled_for": "2026-12-03T10:30", "mode": "video"}) == {
        "scheduled_for": "2026-12-03T10:30:00-06:00",
        "mode": "video",
    }
    assert employing.STEPS["reschedule"].path({"interview_id": "int/1"}) == "interviews/int%2F1/reschedule"
    assert body("outcome", {"outcome": "advanced"}) == {"outcome": "advanced"}
    terms = body(
        "placement",
        {
            "job_title": "Data analyst",
            "onet_soc_code": "15-2051.00",
            "employment_type": "full_time",
            "start_date": "2027-01-04",
            "wage_amount": "31.50",
            "wage_unit": "hour",
            "hours_per_week": "40",
            "schedule": "predictable",
            "benefit": ["health", "paid_leave"],
        },
    )
    assert terms is not None
    assert terms["wage"] == {"amount": "31.50", "unit": "hour"} and terms["hours_per_week"] == "40"
    assert terms["schedule"] == {"predictable": True, "variable_hours": False}
    assert [k for k, v in terms["benefits"].items() if v] == ["health", "paid_leave"]
    assert body("retention", {"milestone_days": "90", "still_employed": "no", "checked_on": "2027-04-04"}) == {
        "milestone_days": 90,
        "still_employed": False,
        "checked_on": "2027-04-04",
    }


def test_bodies_that_end_an_offer_or_an_employment_and_a_conversion() -> None:
    assert employing.STEPS["offer_declined"].path({"offer_id": "off/1"}) == "offers/off%2F1/declined"
    assert body("offer_declined", {"offer_id": "off_1", "reason": "schedule", "detail": "nights"}) == {
        "reason": "schedule",
        "detail": "nights",
    }
    assert body("separation", {"separated_on": "2027-03-01", "reason": "laid_off", "detail": ""}) == {
        "separated_on": "2027-03-01",
        "reason": "laid_off",
        "detail": None,
    }
    assert employing.STEPS["conversion"].path({}) == "conversion"
    converted = body(
        "conversion",
        {
            "job_title": "Junior data analyst",
            "onet_soc_code": "15-2051.00",
            "employment_type": "full_time",
            "converted_on": "2027-02-01",
            "wage_amount": "60000",
            "wage_unit": "year",
            "benefit": ["health"],
        },
    )
    assert converted is not None
    assert converted["converted_on"] == "2027-02-01" and "start_date" not in converted
    assert converted["employment_type"] == "full_time" and converted["wage"] == {"amount": "60000", "unit": "year"}
    assert [k for k, v in converted["benefits"].items() if v] == ["health"]


def test_a_retention_check_in_with_what_changed() -> None:
    check_in = {"milestone_days": "180", "still_employed": "yes", "checked_on": "2027-07-01"}
    # Nothing said about changes: none sent (the gateway keeps the placement's terms).
    assert body("retention", {**check_in, "wage_amount": " ", "promoted": "", "job_title": ""}) == {
        "milestone_days": 180,
        "still_employed": True,
        "checked_on": "2027-07-01",
    }
    changed = {"wage_amount": "34", "wage_unit": "hour", "hours_per_week": "38", "job_title": "Analyst II"}
    assert body("retention", {**check_in, **changed, "promoted": "yes"}) == {
        "milestone_days": 180,
        "still_employed": True,
        "checked_on": "2027-07-01",
        "wage": {"amount": "34", "unit": "hour"},
        "hours_per_week": "38",
        "job_title": "Analyst II",
        "promoted": True,
    }
    assert body("retention", {**check_in, "promoted": "no"})["promoted"] is False  # type: ignore[index]


def test_a_conversion_is_offered_once_and_only_for_work_that_converts() -> None:
    def placed(kind: str | None, converted_on: str | None = None) -> dict:  # type: ignore[type-arg]
        terms = None if kind is None else {"employment_type": kind}
        return {"state": "placed", "employment": {"terms": terms, "converted_on": converted_on}}

    assert employing.converts(placed("internship")) and employing.converts(placed("apprenticeship"))
    assert not employing.converts(placed("internship", "2027-02-01"))
    assert not employing.converts(placed("full_time")) and not employing.converts(placed(None))
    assert set(employing.CONVERTS_FROM) == {k.value for k in CONVERTS_FROM}
    assert set(employing.CONVERTS_TO) == {k.value for k in CONVERTS_TO}


def test_the_reasons_offered_are_the_contracts() -> None:
    assert set(employing.OFFER_DECLINE_REASONS) == {r.value for r in OfferDeclineReason}
    assert set(employing.SEPARATION_REASONS) == {r.value for r in SeparationReason}


@pytest.mark.parametrize(
    ("step", "form", "code"),
    [
        ("decline", {"reason": "because"}, "required"),
        ("schedule", {"scheduled_for": "tomorrow", "mode": "video"}, "bad_time"),
        ("schedule", {"mode": "video"}, "required"),
        ("offer", {"job_title": "x", "onet_soc_code": "15-2051.00", "employment_type": "full_time"}, "required"),
        ("retention", {"milestone_days": "45", "still_employed": "yes", "checked_on": "2027-01-01"}, "required"),
        ("offer_declined", {"offer_id": "off_1", "reason": "too_far"}, "required"),
        (
            "retention",
            {"milestone_days": "30", "still_employed": "yes", "checked_on": "2027-01-01", "wage_amount": "30"},
            "required",
        ),
        (
            "retention",
            {"milestone_days": "30", "still_employed": "yes", "checked_on": "2027-01-01", "promoted": "maybe"},
            "required",
        ),
        ("separation", {"reason": "resigned"}, "required"),
        ("separation", {"separated_on": "2027-03-01", "reason": "quit"}, "required"),
        (
            "conversion",
            {
                "job_title": "x",
                "onet_soc_code": "15-2051.00",
                "employment_type": "internship",
                "converted_on": "2027-02-01",
            },
            "required",
        ),
        ("conversion", {"job_title": "x", "onet_soc_code": "15-2051.00", "employment_type": "full_time"}, "required"),
    ],
)
def test_incomplete_forms_never_reach_the_gateway(step: str, form: dict, code: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(employing.Invalid) as refused:
        body(step, form)
    assert refused.value.code == code


def test_the_problem_detail_as_one_line() -> None:
    assert employing.problem_message(
        {"title": "Conflict", "detail": "cannot acknowledge a referral in state placed"}
    ) == ("cannot acknowledge a referral in state placed")
    assert employing.problem_message(
        {
            "title": "Request is not valid",
            "detail": "1 field error(s)",
            "errors": [{"field": "wage.amount", "message": "bad"}],
        }
    ) == ("1 field error(s) (wage.amount: bad)")


def test_the_answer_is_due_n_business_days_after_routing() -> None:
    calendar = BusinessDays(ZoneInfo("UTC"), frozenset({date(2026, 12, 25)}))
    friday = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    assert domain.answer_due("routed", friday, calendar, 2) == datetime(2026, 12, 8, 15, 0, tzinfo=UTC)
    assert domain.answer_due("acknowledged", friday, calendar, 2) is None


def test_the_steps_offered_are_the_gateways() -> None:
    gateway = {
        "acknowledge": "acknowledge",
        "decline": "decline",
        "schedule": "schedule_interview",
        "offer": "extend_offer",
        "placement": "report_placement",
        "retention": "check_retention",
        "offer_declined": "record_offer_declined",
        "conversion": "convert",
        "separation": "report_separation",
    }
    # Every referral-level step the portal has is offered somewhere (an interview's own steps sit
    # on the interview, while interviewing: the gateway's rule for them is that state alone).
    assert set(gateway) | {"reschedule", "cancel", "outcome"} == set(employing.STEPS)
    for action in ("reschedule_interview", "cancel_interview", "record_interview_outcome"):
        assert {s.value for s in ALLOWED[action]} == {"interviewing"}
    for state, steps in employing.OFFERED_IN.items():
        for step in steps:
            assert state in {s.value for s in ALLOWED[gateway[step]]}, (state, step)
    for step, action in gateway.items():
        offered = {state for state, steps in employing.OFFERED_IN.items() if step in steps}
        assert offered == {s.value for s in ALLOWED[action]}, step


def test_an_opening_from_the_posting_form_and_its_changes() -> None:
    form = {
        "title": "Data analyst",
        "onet_soc_code": "15-2051.00",
        "required_skills": "SQL, Python ,",
        "preferred_skills": "",
        "capacity": "3",
        "wage_amount": "31.50",
        "wage_unit": "hour",
        "location": "Bronx, NY",
    }
    assert employing.new_opening(form) == {
        "title": "Data analyst",
        "onet_soc_code": "15-2051.00",
        "required_skills": ["SQL", "Python"],
        "preferred_skills": [],
        "capacity": 3,
        "wage": {"amount": "31.50", "unit": "hour"},
        "location": "Bronx, NY",
        "remote": False,
    }
    assert employing.opening_changes({"capacity": "5", "title": " "}) == {"capacity": 5}
    for bad, code in (({**form, "capacity": "three"}, "bad_number"), ({**form, "required_skills": " , "}, "required")):
        with pytest.raises(employing.Invalid) as refused:
            employing.new_opening(bad)
        assert refused.value.code == code
