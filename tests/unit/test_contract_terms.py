"""A job's terms in the contracts (issue 15, slice 1): employment kinds, pay basis, schedule and
benefits on offers and placements (2.0), check-ins (retention.checked 1.2) and openings
(opening.posted 1.3); each inconsistent combination is refused at the field to change, and
v1 offers and placements upcast."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from contracts import build, events, payload_of

pytestmark = pytest.mark.unit

IDS = {"referral_id": "ref_1", "employer_id": "emp_1", "opening_id": "opn_1"}
TERMS = {
    "job_title": "Web Developer", "onet_soc_code": "15-1254.00", "employment_type": "full_time",
    "pay_basis": "hourly", "wage": {"amount": "30.00", "unit": "hour"}, "hours_per_week": 40,
    "benefits": {"health": True}, "start_date": "2027-01-04",
}
POSTING = {
    "opening_id": "opn_1", "employer_id": "emp_1", "title": "Intern", "onet_soc_code": "15-1254.00",
    "required_skills": ["html"], "capacity": 2, "wage": {"amount": "18", "unit": "hour"}, "location": "Miami, FL",
}


def placement(**over) -> events.PlacementReportedV2:
    return events.PlacementReportedV2.model_validate({**IDS, **TERMS, **over})


def refused(model, data) -> dict[str, str]:
    """field -> message of each refusal."""
    with pytest.raises(ValidationError) as err:
        model.model_validate(data)
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in err.value.errors()}


def test_every_kind_of_employment_and_pay_basis_is_a_placement():
    assert [k.value for k in events.EmploymentKind] == [
        "full_time", "part_time", "internship", "micro_internship", "apprenticeship"
    ]
    assert [p.value for p in events.PayBasis] == ["hourly", "salary", "stipend", "project_fee", "unpaid"]
    micro = placement(employment_type="micro_internship", pay_basis="project_fee", hours_per_week=None,
                      wage={"amount": "600", "unit": "week"}, engagement_hours=40, end_date="2027-01-29")
    assert micro.engagement_hours == 40 and micro.hours_per_week is None and micro.end_date == date(2027, 1, 29)
    unpaid = placement(employment_type="internship", pay_basis="unpaid", wage=None)
    assert unpaid.wage is None and unpaid.model_dump(mode="json")["wage"] is None
    apprentice = placement(employment_type="apprenticeship", apprenticeship_registered=False)
    assert apprentice.apprenticeship_registered is False
    salaried = placement(pay_basis="salary", wage={"amount": "58000", "unit": "year"},
                         schedule={"predictable": True, "advance_notice_days": 14},
                         benefits={"health": True, "dental": True, "other": ["transit pass"]})
    assert salaried.schedule == events.Schedule(predictable=True, advance_notice_days=14)
    assert salaried.benefits.dental and salaried.benefits.other == ["transit pass"]


@pytest.mark.parametrize("over, field, says", [
    ({"pay_basis": "unpaid"}, "wage", "must be null when pay_basis is unpaid"),
    ({"pay_basis": "stipend", "wage": None}, "wage", "is required unless pay_basis is unpaid"),
    ({"pay_basis": "hourly", "wage": {"amount": "600", "unit": "week"}}, "wage.unit", "must be hour"),
    ({"pay_basis": "salary"}, "wage.unit", "must be week, month or year"),
    ({"engagement_hours": 40}, "engagement_hours", "only for employment_type micro_internship"),
    ({"employment_type": "internship", "apprenticeship_registered": True}, "apprenticeship_registered",
     "only for employment_type apprenticeship"),
    ({"end_date": "2027-01-03"}, "end_date", "is before start_date"),
    ({"schedule": {"predictable": False, "min_hours_per_week": 20, "max_hours_per_week": 10}},
     "schedule.max_hours_per_week", "is below min_hours_per_week"),
    ({"engagement_hours": 2001, "employment_type": "micro_internship"}, "engagement_hours", "less than or equal"),
    ({"benefits": {"other": ["x"] * 11}}, "benefits.other", "at most 10"),
])
def test_inconsistent_terms_are_refused_at_the_field_to_change(over, field, says):
    for model, extra in ((events.PlacementReportedV2, {}), (events.OfferExtendedV2, {"offer_id": "off_1"})):
        errors = refused(model, {**IDS, **TERMS, **extra, **over})
        assert list(errors) == [field] and says in errors[field]


def test_every_refusal_of_one_event_is_named_at_once():
    errors = refused(events.PlacementReportedV2, {
        **IDS, **TERMS, "pay_basis": "unpaid", "engagement_hours": 3, "end_date": "2026-01-01",
    })
    assert set(errors) == {"wage", "engagement_hours", "end_date"}


def test_a_v1_placement_and_offer_upcast_with_the_pay_basis_their_wage_unit_implies():
    v1 = {**IDS, **{k: v for k, v in TERMS.items() if k != "pay_basis"}, "employment_type": "internship"}
    hourly = payload_of(build(events.PlacementReportedV1.model_validate(v1), source="/x", correlation_id="c"))
    assert isinstance(hourly, events.PlacementReportedV2)
    assert (hourly.pay_basis, hourly.employment_type, hourly.hours_per_week) == ("hourly", "internship", 40)
    assert hourly.benefits == events.Benefits(health=True) and hourly.schedule is None and hourly.end_date is None
    yearly = {**v1, "offer_id": "off_1", "wage": {"amount": "58000", "unit": "year"}}
    offer = payload_of(build(events.OfferExtendedV1.model_validate(yearly), source="/x", correlation_id="c"))
    assert isinstance(offer, events.OfferExtendedV2) and offer.pay_basis is events.PayBasis.salary
    assert offer.offer_id == "off_1" and offer.wage == events.Wage(amount="58000", unit="year")


def test_a_zero_wage_v1_placement_still_upcasts():
    # v1 allowed a wage of 0 (with any unit): v2 does not refuse a paid job at 0, so no v1 event
    # becomes unreadable.
    v1 = {**IDS, **{k: v for k, v in TERMS.items() if k != "pay_basis"}, "wage": {"amount": "0", "unit": "month"}}
    upcast = payload_of(build(events.PlacementReportedV1.model_validate(v1), source="/x", correlation_id="c"))
    assert upcast.pay_basis is events.PayBasis.salary and upcast.wage.amount == 0


def test_v1_events_keep_their_basic_benefits_whatever_they_are_given():
    v1 = {**IDS, **{k: v for k, v in TERMS.items() if k != "pay_basis"}}
    placed = events.PlacementReportedV1.model_validate({**v1, "benefits": events.Benefits(health=True, dental=True)})
    assert placed.model_dump(mode="json")["benefits"] == {"health": True, "retirement": False, "paid_leave": False}
    with pytest.raises(ValidationError, match="employment_type"):
        events.PlacementReportedV1.model_validate({**v1, "employment_type": "micro_internship"})


def test_a_check_in_may_say_what_the_job_is_by_now():
    base = {**IDS, "milestone_days": 90, "still_employed": True, "checked_on": "2027-04-05"}
    later = events.RetentionCheckedV1.model_validate({
        **base, "wage": {"amount": "34", "unit": "hour"}, "job_title": "Senior Developer", "promoted": True,
        "pay_basis": "hourly", "benefits": {"health": True, "tuition": True},
        "schedule": {"predictable": True, "advance_notice_days": 7},
    })
    assert later.promoted and later.benefits.tuition and later.schedule.advance_notice_days == 7
    bare = events.RetentionCheckedV1.model_validate(base)  # 1.0/1.1 data: nothing new is required
    assert (bare.job_title, bare.promoted, bare.pay_basis, bare.benefits, bare.schedule) == (None,) * 5
    assert events.RetentionCheckedV1.model_validate({**base, "pay_basis": "salary"}).wage is None  # wage unknown
    assert refused(events.RetentionCheckedV1, {**base, "pay_basis": "unpaid", "wage": {"amount": "1", "unit": "hour"}}) \
        == {"wage": "wage must be null when pay_basis is unpaid"}
    assert list(refused(events.RetentionCheckedV1, {**base, "pay_basis": "salary",
                                                    "wage": {"amount": "34", "unit": "hour"}})) == ["wage.unit"]


def test_an_opening_says_its_kind_and_an_unpaid_one_has_a_wage_of_zero():
    unpaid = events.OpeningPostedV1.model_validate({
        **POSTING, "employment_type": "internship", "paid": False, "wage": {"amount": "0", "unit": "hour"},
        "schedule": {"predictable": True}, "benefits": {"other": ["laptop"]},
    })
    assert not unpaid.paid and unpaid.wage.amount == 0 and unpaid.benefits.other == ["laptop"]
    old = events.OpeningUpdatedV1.model_validate(POSTING)  # before 1.3: paid, kind not said
    assert old.paid and old.employment_type is None and old.benefits is None
    assert list(refused(events.OpeningPostedV1, {**POSTING, "paid": False})) == ["paid"]
    assert list(refused(events.OpeningUpdatedV1, {**POSTING, "engagement_hours": 10})) == ["engagement_hours"]
    assert list(refused(events.OpeningPostedV1, {**POSTING, "employment_type": "full_time",
                                                 "apprenticeship_registered": True})) == ["apprenticeship_registered"]
    micro = events.OpeningPostedV1.model_validate({**POSTING, "employment_type": "micro_internship",
                                                   "engagement_hours": 30})
    assert micro.engagement_hours == 30


def test_a_status_says_what_kind_of_job_was_offered_or_taken():
    detail = events.StatusDetail.model_validate({"job_title": "Intern", "employment_type": "micro_internship",
                                                 "benefits": {"childcare": True}})
    assert detail.employment_type is events.EmploymentKind.micro_internship and detail.benefits.childcare


# --- placement.converted.v1 (issue 15, slice 2) -------------------------------------------

CONVERSION = {**IDS, **TERMS, "converted_on": "2027-04-01", "from_employment_type": "internship"}


@pytest.mark.parametrize("before", ["internship", "micro_internship", "apprenticeship"])
@pytest.mark.parametrize("after", ["full_time", "part_time"])
def test_work_based_learning_converts_to_a_full_or_part_time_hire(before, after):
    event = events.PlacementConvertedV1.model_validate(
        {**CONVERSION, "from_employment_type": before, "employment_type": after})
    assert event.topic == events.topics.EMPLOYER_ACTIONS and event.subject() == "ref_1"
    env = build(event, source="/test", correlation_id="c")
    assert env.type == "placement.converted.v1" and payload_of(env) == event


def test_a_conversion_is_refused_at_each_field_that_does_not_fit():
    assert refused(events.PlacementConvertedV1, {**CONVERSION, "from_employment_type": "full_time"}) == {
        "from_employment_type": "from_employment_type must be internship, micro_internship or apprenticeship"}
    assert refused(events.PlacementConvertedV1, {**CONVERSION, "employment_type": "internship"}) == {
        "employment_type": "employment_type must be full_time or part_time after a conversion"}
    assert refused(events.PlacementConvertedV1, {**CONVERSION, "converted_on": "2027-01-03"}) == {
        "converted_on": "converted_on is before start_date"}
    assert refused(events.PlacementConvertedV1, {**CONVERSION, "end_date": "2027-03-31"}) == {
        "end_date": "end_date is before converted_on"}
    # The terms' own rules hold too: a wage with unpaid work.
    assert "wage" in refused(events.PlacementConvertedV1, {**CONVERSION, "pay_basis": "unpaid"})
    same_day = events.PlacementConvertedV1.model_validate({**CONVERSION, "converted_on": TERMS["start_date"]})
    assert same_day.converted_on == date(2027, 1, 4)
