from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.outcomes.records import Conversion, Placement, ReferralRecord
from services.outcomes.reports.funnel import detailed_soc, funnel, funnels, period_of

pytestmark = pytest.mark.unit


def rec(rid, partner, referred, offsets, occupation=None, employer=None, program=None):
    t0 = datetime.fromisoformat(referred).replace(tzinfo=UTC)
    return ReferralRecord(
        referral_id=rid, partner_id=partner, referred_at=t0, occupation=occupation, employer_id=employer,
        program=program, reached={"referred": t0, **{s: t0 + timedelta(days=d) for s, d in offsets.items()}},
    )


RECORDS = [
    rec("r1", "A", "2024-01-10", {"routed": 1, "acknowledged": 3, "interviewed": 5, "offered": 10, "placed": 15,
                                  "retained_90_days": 110}, "15-1252.00", "E1", "Bootcamp"),
    rec("r2", "A", "2024-01-20", {"routed": 2, "acknowledged": 4}, "15-1252.01", "E1", "Bootcamp"),
    rec("r3", "B", "2024-02-05", {"routed": 1, "acknowledged": 2, "offered": 20, "placed": 21}, "15-1211.00", "E2"),
    rec("r4", "B", "2024-04-01", {}),
]


def by_stage(summary):
    return {s["stage"]: s for s in summary["stages"]}


def test_total_counts_and_conversions():
    total = funnel(RECORDS)["total"]
    stages = by_stage(total)
    # Cumulative (docs/pipeline.md): r3, placed without a recorded interview, counts as interviewed.
    assert {k: v["count"] for k, v in stages.items()} == {
        "referred": 4, "routed": 3, "acknowledged": 3, "interviewed": 2, "offered": 2, "placed": 2,
        "retained_90_days": 1}
    assert total["interviews_recorded"] == 1
    assert stages["referred"]["conversion_from_previous"] is None
    assert stages["routed"]["conversion_from_previous"] == 0.75
    assert stages["interviewed"]["conversion_from_previous"] == 0.6667
    assert stages["offered"]["conversion_from_previous"] == 1.0
    assert stages["placed"]["conversion_from_referred"] == 0.5
    assert stages["retained_90_days"]["conversion_from_previous"] == 0.5


def test_outcomes_and_people_beside_the_stages():
    """Records made without a projection's outcome get one from their status (here all
    "submitted", so pending); each record without a person is a person of its own."""
    people = [replace(r, person_key="same") for r in RECORDS[:2]] + RECORDS[2:]
    total = funnel(people)["total"]
    assert sum(total["referrals"]["outcomes"].values()) == 4
    assert total["referrals"]["stages"] == {s["stage"]: s["count"] for s in total["stages"]}
    assert total["people"]["stages"]["referred"] == 3 and total["people"]["stages"]["routed"] == 2


def test_median_days_between_stages_only_over_records_that_reached_both():
    days = {(m["from"], m["to"]): (m["records"], m["median_days"]) for m in funnel(RECORDS)["total"]["median_days"]}
    assert days[("referred", "routed")] == (3, 1.0)
    assert days[("routed", "acknowledged")] == (3, 2.0)
    assert days[("acknowledged", "interviewed")] == (1, 2.0)
    assert days[("interviewed", "offered")] == (1, 5.0)
    assert days[("offered", "placed")] == (2, 3.0)
    assert days[("placed", "retained_90_days")] == (1, 95.0)
    assert days[("referred", "placed")] == (2, 18.0)


def test_grouping_by_partner_and_occupations():
    partners = {g["group"]: by_stage(g) for g in funnel(RECORDS, "partner")["groups"]}
    assert partners["A"]["routed"]["count"] == 2 and partners["A"]["placed"]["count"] == 1
    assert partners["B"]["routed"]["count"] == 1 and partners["B"]["placed"]["conversion_from_referred"] == 0.5
    occupations = {g["group"]: g["records"] for g in funnel(RECORDS, "occupation")["groups"]}
    assert occupations == {"15-1252.00": 1, "15-1252.01": 1, "15-1211.00": 1, "(unknown)": 1}
    detailed = {g["group"]: g["records"] for g in funnel(RECORDS, "occupation_detailed")["groups"]}
    assert detailed == {"15-1252": 2, "15-1211": 1, "(unknown)": 1}
    employers = {g["group"]: g["records"] for g in funnel(RECORDS, "employer")["groups"]}
    assert employers == {"E1": 2, "E2": 1, "(unknown)": 1}
    programs = {g["group"]: g["records"] for g in funnel(RECORDS, "program")["groups"]}
    assert programs == {"Bootcamp": 2, "(unknown)": 2}


def test_period_bucketing_by_month_and_quarter():
    months = {g["group"]: g["records"] for g in funnel(RECORDS, "period", "month")["groups"]}
    assert months == {"2024-01": 2, "2024-02": 1, "2024-04": 1}
    quarters = {g["group"]: g["records"] for g in funnel(RECORDS, "period", "quarter")["groups"]}
    assert quarters == {"2024-Q1": 3, "2024-Q2": 1}
    assert period_of(rec("x", "A", "2024-12-31", {}), "quarter") == "2024-Q4"
    with pytest.raises(ValueError):
        period_of(RECORDS[0], "week")


def test_referred_defaults_to_referred_at_and_detailed_soc():
    r = ReferralRecord("x", "A", datetime(2024, 5, 1, tzinfo=UTC),
                       reached={"routed": datetime(2024, 5, 3, tzinfo=UTC)})
    assert funnel([r])["total"]["median_days"][0]["median_days"] == 2.0
    assert detailed_soc("15-1252.00") == "15-1252" and detailed_soc(None) is None


def test_funnels_has_every_dimension():
    everything = funnels(RECORDS, "quarter")
    assert set(everything["by"]) == {"partner", "employer", "program", "occupation", "occupation_detailed", "period",
                                     "employment_type"}
    assert by_stage(everything["total"])["placed"]["count"] == 2


def test_the_placed_by_the_kind_of_job():
    internship = Placement("E1", "Intern", "15-1252.00", Decimal(0), "hour", "USD", 20.0, "internship", False, False,
                           False, date(2024, 2, 1), pay_basis="unpaid", paid=False)
    records = [replace(RECORDS[0], placement=internship), replace(RECORDS[2], placement=replace(
        internship, employment_type="full_time", paid=True)), *RECORDS[1:2], *RECORDS[3:]]
    groups = {g["group"]: g for g in funnel(records, "employment_type")["groups"]}
    assert set(groups) == {"internship", "full_time", "(not placed)"}
    assert [by_stage(groups[g])["placed"]["count"] for g in ("internship", "full_time", "(not placed)")] == [1, 1, 0]
    assert groups["(not placed)"]["records"] == 2



def test_conversions_of_work_based_learning_by_the_kind_placed_in():
    intern = Placement("E1", "Intern", "15-1252.00", Decimal(18), "hour", "USD", 20.0, "internship", False, False,
                       False, date(2024, 2, 1))
    apprentice = replace(intern, employment_type="apprenticeship")
    hired = replace(intern, employment_type="full_time", hours_per_week=40.0)
    records = [
        replace(RECORDS[0], placement=intern, conversion=Conversion(date(2024, 4, 1), "internship", "full_time", hired)),
        replace(RECORDS[1], placement=intern),
        replace(RECORDS[2], placement=apprentice, conversion=Conversion(
            date(2024, 5, 1), "apprenticeship", "part_time", replace(hired, employment_type="part_time"))),
        replace(RECORDS[3], placement=hired),
    ]
    total = funnel(records)["total"]
    assert total["conversions"] == {"work_based_learning": 3, "converted": 2, "to_full_time": 1, "to_part_time": 1,
                                    "conversion_rate": 0.6667}
    plain = funnel([replace(r, conversion=None) for r in records])["total"]
    assert total["stages"] == plain["stages"]  # a conversion is no second placement
    groups = {g["group"]: g["conversions"] for g in funnel(records, "employment_type")["groups"]}
    assert (groups["internship"]["converted"], groups["internship"]["work_based_learning"]) == (1, 2)
    assert (groups["apprenticeship"]["to_part_time"], groups["full_time"]["converted"]) == (1, 0)
