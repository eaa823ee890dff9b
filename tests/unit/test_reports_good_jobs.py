from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.outcomes.records import Checkin, Conversion, Placement, ReferralRecord
from services.outcomes.reports.good_jobs import EMPLOYMENT_TYPES, GoodJobPolicy, good_jobs, is_good_job, shortfalls

pytestmark = pytest.mark.unit

# The schedule required (NYC's rule; off by default) so the schedule tests below can fail.
POLICY = GoodJobPolicy(Decimal("25.00"), "test threshold", require_predictable_schedule=True)


def placement(amount, unit, health=True, leave=True, retirement=False, employer="E1", currency="USD", hours=40.0,
              soc="15-1252.00", employment_type="full_time", **terms):
    terms = {"predictable_schedule": True, **terms}
    return Placement(employer, "Analyst", soc, Decimal(amount), unit, currency, hours, employment_type, health,
                     retirement, leave, date(2024, 3, 1), **terms)


def rec(rid, partner, p, program=None):
    return ReferralRecord(rid, partner, datetime(2024, 1, 1, tzinfo=UTC), program=program, placement=p)


RECORDS = [
    rec("r1", "A", placement("30", "hour", retirement=True), "Bootcamp"),
    rec("r2", "A", placement("1000", "week"), "Bootcamp"),  # 25.00 an hour: at the threshold
    rec("r3", "B", placement("41600", "year", employer="E2")),  # 20.00 an hour
    rec("r4", "B", placement("6500", "month", leave=False, employer="E2", soc="15-1211.00")),  # 37.50, no leave
    rec("r5", "B", placement("40", "hour", currency="EUR")),
    rec("r6", "B", None),
]


@pytest.mark.parametrize("amount, unit, hours, hourly", [
    ("30", "hour", 40.0, "30"),
    ("1000", "week", 40.0, "25.00"),
    ("6500", "month", 40.0, "37.50"),
    ("5000", "month", 37.5, "30.77"),
    ("41600", "year", 40.0, "20.00"),
    ("52000", "year", 20.0, "50.00"),
])
def test_hourly_normalization(amount, unit, hours, hourly):
    assert placement(amount, unit, hours=hours).hourly_wage == Decimal(hourly)


def test_good_job_needs_wage_health_and_paid_leave():
    assert is_good_job(placement("25", "hour"), POLICY)
    assert not is_good_job(placement("24.99", "hour"), POLICY)
    assert not is_good_job(placement("40", "hour", health=False), POLICY)
    assert not is_good_job(placement("40", "hour", leave=False), POLICY)
    assert is_good_job(placement("40", "hour", retirement=False), POLICY)
    assert not is_good_job(placement("40", "hour", currency="EUR"), POLICY)


def test_totals_and_wage_distribution():
    report = good_jobs(RECORDS, POLICY)
    t = report["total"]
    assert (t["placements"], t["other_currency"], t["good_jobs"], t["good_job_rate"]) == (4, 1, 2, 0.5)
    assert (t["at_or_above_threshold"], t["with_health"], t["with_paid_leave"], t["with_basic_benefits"]) == (3, 4, 3, 3)
    assert (t["with_retirement"], t["retirement_rate"], t["good_jobs_with_retirement"]) == (1, 0.25, 1)
    assert t["wages"] == {"currency": "USD", "placements": 4, "p25_hourly": "23.75", "median_hourly": "27.50",
                          "p75_hourly": "31.88"}
    assert report["policy"]["hourly_threshold"] == "25.00"


def test_by_partner_employer_program_occupation():
    by = good_jobs(RECORDS, POLICY)["by"]
    partner = {g["group"]: (g["placements"], g["good_jobs"], g["good_job_rate"]) for g in by["partner"]}
    assert partner == {"A": (2, 2, 1.0), "B": (2, 0, 0.0)}
    employer = {g["group"]: (g["placements"], g["good_jobs"]) for g in by["employer"]}
    assert employer == {"E1": (2, 2), "E2": (2, 0)}  # the EUR placement is compared nowhere
    program = {g["group"]: g["good_job_rate"] for g in by["program"]}
    assert program == {"Bootcamp": 1.0, "(unknown)": 0.0}
    occupation = {g["group"]: g["placements"] for g in by["occupation"]}
    assert occupation == {"15-1252.00": 3, "15-1211.00": 1}
    assert {g["group"]: g["wages"]["median_hourly"] for g in by["partner"]} == {"A": "27.50", "B": "28.75"}


# --- issue 15 slice 2: the configurable rule, its reasons, by employment type, wage growth -------


def test_each_policy_setting_changes_the_rule():
    p = placement("30", "hour", retirement=False, advance_notice_days=3)
    assert shortfalls(p, POLICY) == ()
    assert shortfalls(p, replace(POLICY, required_benefits=("health", "retirement", "dental"))) == (
        "no_retirement", "no_dental")
    assert shortfalls(p, replace(POLICY, required_benefits=())) == ()
    assert shortfalls(p, replace(POLICY, min_advance_notice_days=7)) == ("advance_notice_too_short",)
    assert shortfalls(replace(p, advance_notice_days=None), replace(POLICY, min_advance_notice_days=1)) == (
        "advance_notice_not_reported",)
    assert shortfalls(replace(p, advance_notice_days=14), replace(POLICY, min_advance_notice_days=14)) == ()
    intern = replace(p, employment_type="internship")
    assert shortfalls(intern, POLICY) == ("type_not_counted",)
    assert shortfalls(intern, replace(POLICY, counted_types=("internship",))) == ()
    with pytest.raises(ValueError, match="unknown benefits or employment types: gym, seasonal"):
        replace(POLICY, required_benefits=("gym",), counted_types=("seasonal",))


def test_an_unreported_or_unpredictable_schedule_fails_only_when_required():
    unknown, unpredictable = placement("30", "hour", predictable_schedule=None), placement(
        "30", "hour", predictable_schedule=False, variable_hours=True)
    assert shortfalls(unknown, POLICY) == ("schedule_not_reported",)
    assert shortfalls(unpredictable, POLICY) == ("schedule_not_predictable",)
    lenient = replace(POLICY, require_predictable_schedule=False)
    assert is_good_job(unknown, lenient) and is_good_job(unpredictable, lenient)
    t = good_jobs([rec("a", "A", unknown), rec("b", "A", unpredictable), rec("c", "A", placement("30", "hour"))],
                  POLICY)["total"]
    assert (t["assessed"], t["good_jobs"], t["schedule_not_reported"], t["with_predictable_schedule"]) == (3, 1, 1, 1)
    assert t["falls_short"] == {"schedule_not_predictable": 1, "schedule_not_reported": 1}


def test_unpaid_is_never_a_good_job_and_every_reason_is_counted():
    unpaid = replace(placement("0", "hour", employment_type="internship"), paid=False, pay_basis="unpaid")
    every_type = replace(POLICY, counted_types=EMPLOYMENT_TYPES, hourly_threshold=Decimal(0))
    assert shortfalls(unpaid, every_type) == ("unpaid",)
    assert shortfalls(replace(unpaid, health=False, predictable_schedule=None), POLICY) == (
        "type_not_counted", "unpaid", "no_health", "schedule_not_reported")
    t = good_jobs([rec("u", "A", unpaid), *RECORDS], replace(POLICY, counted_types=EMPLOYMENT_TYPES))["total"]
    assert (t["placements"], t["assessed"], t["type_not_counted"], t["good_jobs"], t["unpaid"]) == (5, 5, 0, 2, 1)
    assert t["falls_short"] == {"below_threshold": 1, "no_paid_leave": 1, "unpaid": 1}
    default = good_jobs([rec("u", "A", unpaid), *RECORDS], POLICY)["total"]
    assert (default["placements"], default["assessed"], default["type_not_counted"], default["good_job_rate"]) == (
        5, 4, 1, 0.5)


def test_by_employment_type():
    records = [*RECORDS, rec("a1", "A", placement("21", "hour", employment_type="apprenticeship",
                                                  apprenticeship_registered=True)),
               rec("m1", "A", placement("500", "week", hours=None, employment_type="micro_internship",
                                        pay_basis="project_fee", engagement_hours=20))]
    by = {g["group"]: g for g in good_jobs(records, POLICY)["by"]["employment_type"]}
    assert set(by) == {"full_time", "apprenticeship", "micro_internship"}
    assert (by["full_time"]["assessed"], by["full_time"]["good_jobs"]) == (4, 2)
    assert by["apprenticeship"]["falls_short"] == {"below_threshold": 1}
    micro = by["micro_internship"]
    assert (micro["assessed"], micro["type_not_counted"], micro["good_job_rate"]) == (0, 1, None)
    assert micro["wages"]["median_hourly"] == "25.00"  # 500 over 20 engagement hours


def checkin(milestone, amount=None, unit="hour", still=True, promoted=None, hours=None, pay_basis=None):
    return Checkin(milestone, still, date(2024, 3, 1) + timedelta(days=milestone),
                   None if amount is None else Decimal(amount), unit if amount else None, "USD" if amount else None,
                   hours, promoted=promoted, pay_basis=pay_basis)


def test_wage_growth_from_placement_to_each_check_in():
    records = [
        rec("g1", "A", placement("20", "hour")),
        rec("g2", "A", placement("1000", "week")),  # 25.00 an hour
        rec("g3", "A", placement("30", "hour")),
        rec("g4", "A", replace(placement("0", "hour", employment_type="internship"), paid=False, pay_basis="unpaid")),
        rec("g5", "A", placement("40", "hour", currency="EUR")),
    ]
    records[0] = replace(records[0], checkins=(checkin(30, "20"), checkin(90, "22", promoted=True)))
    records[1] = replace(records[1], checkins=(checkin(90, "1100", unit="week"),))  # over the placement's 40 h: 27.50
    records[2] = replace(records[2], checkins=(checkin(90, promoted=False), checkin(180, "33", still=False)))
    records[3] = replace(records[3], checkins=(checkin(90, "18", promoted=True),))
    records[4] = replace(records[4], checkins=(checkin(90, "50"),))  # another currency: not compared
    growth = {g["milestone_days"]: g for g in good_jobs(records, POLICY)["wage_growth"]}
    assert growth[None] == {"point": "conversion", "milestone_days": None, "checkins": 0, "with_wages": 0,
                            "median_hourly_at_placement": None, "median_hourly_at_checkin": None,
                            "median_growth_pct": None, "raised": 0, "promoted": None}
    assert growth[30] == {"point": "milestone", "milestone_days": 30, "checkins": 1, "with_wages": 1, "median_hourly_at_placement": "20.00",
                          "median_hourly_at_checkin": "20.00", "median_growth_pct": "0.00", "raised": 0,
                          "promoted": 0}
    # 90 days: g1 20 -> 22 (+10 %), g2 25 -> 27.50 (+10 %), g4 0 -> 18 (no percentage); g3 stated no wage.
    assert growth[90] == {"point": "milestone", "milestone_days": 90, "checkins": 5, "with_wages": 3, "median_hourly_at_placement": "20.00",
                          "median_hourly_at_checkin": "22.00", "median_growth_pct": "10.00", "raised": 3,
                          "promoted": 2}
    assert growth[180]["checkins"] == 0 and growth[180]["median_growth_pct"] is None  # g3 no longer employed
    # A partner's report (medians over at least 4 here): the three wages at 90 days are counted, not shown.
    withheld = {g["milestone_days"]: g for g in good_jobs(records, POLICY, min_wages=4)["wage_growth"]}
    assert (withheld[90]["with_wages"], withheld[90]["raised"]) == (3, 3)
    assert [withheld[90][k] for k in ("median_hourly_at_placement", "median_hourly_at_checkin",
                                      "median_growth_pct")] == [None, None, None]
    assert good_jobs(records, POLICY, min_wages=3)["wage_growth"][3] == growth[90]


# --- issue 15 slice 2: conversions ---------------------------------------------------------


def converted(rid, intern, hired, on_day, checkins=()):
    """An intern placed on `intern` terms, converted on `hired` terms `on_day` days after the start."""
    c = Conversion(intern.start_date + timedelta(days=on_day), intern.employment_type, hired.employment_type, hired)
    return replace(rec(rid, "A", intern), conversion=c, checkins=checkins)


INTERN = placement("18", "hour", health=False, leave=False, hours=20.0, employment_type="internship")
HIRED = placement("50000", "year", hours=40.0)  # 24.04 an hour: below the 25.00 threshold
HIRED_WELL = placement("26", "hour", employment_type="part_time", hours=30.0)


def test_conversions_are_counted_by_the_kind_placed_in_and_never_change_the_rate():
    records = [converted("c1", INTERN, HIRED, 60), converted("c2", INTERN, HIRED_WELL, 45), *RECORDS[:2]]
    report = good_jobs(records, POLICY)
    without = good_jobs([rec("c1", "A", INTERN), rec("c2", "A", INTERN), *RECORDS[:2]], POLICY)
    total = report["total"]
    assert (total["converted"], total["converted_good_jobs"]) == (2, 1)  # 26 an hour with health and leave
    assert {k: v for k, v in total.items() if not k.startswith("converted")} == {
        k: v for k, v in without["total"].items() if not k.startswith("converted")}
    by_type = {g["group"]: g for g in report["by"]["employment_type"]}
    assert (by_type["internship"]["converted"], by_type["full_time"]["converted"]) == (2, 0)
    assert (without["total"]["converted"], without["total"]["converted_good_jobs"]) == (0, 0)


def test_a_conversion_is_a_point_of_wage_growth_and_later_check_ins_use_the_new_hours():
    # c1: 18 -> 24.04 at the conversion (+33.56 %); its 90-day check-in states 52,000 a year and no hours: over
    # the full-time job's 40 hours, 25.00 (+38.89 %). c2: 18 -> 26 (+44.44 %); unpaid c3: 0 -> 26 (no percentage).
    # Medians: at placement 18 (18, 18, 0), then 26 (24.04, 26, 26), growth 39.00 (33.56 and 44.44).
    unpaid = replace(INTERN, paid=False, pay_basis="unpaid", wage_amount=Decimal(0))
    records = [
        converted("c1", INTERN, HIRED, 60, (checkin(90, "52000", unit="year"),)),
        converted("c2", INTERN, HIRED_WELL, 45),
        converted("c3", unpaid, HIRED_WELL, 30),
        converted("c4", INTERN, placement("30", "hour", currency="EUR"), 30),  # another currency: not compared
    ]
    growth = good_jobs(records, POLICY)["wage_growth"]
    point = next(g for g in growth if g["point"] == "conversion")
    assert point == {"point": "conversion", "milestone_days": None, "checkins": 4, "with_wages": 3,
                     "median_hourly_at_placement": "18.00", "median_hourly_at_checkin": "26.00",
                     "median_growth_pct": "39.00", "raised": 3, "promoted": None}
    ninety = next(g for g in growth if g["milestone_days"] == 90)
    assert (ninety["with_wages"], ninety["median_hourly_at_checkin"], ninety["median_growth_pct"]) == (1, "25.00", "38.89")
