"""Every report with placements whose hourly wage is 0 (unpaid, issue 15's v2 placements) or
cannot be told (a salary or an hourly wage without hours): none fails, an unpaid job is never a
good job nor WIOA employment, and an unknown hourly wage is left out of every wage figure."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.outcomes.records import Demographics, Placement, ReferralRecord
from services.outcomes.reports import GoodJobPolicy, ReportSettings, build_reports, to_csv, to_html
from services.outcomes.reports.good_jobs import EMPLOYMENT_TYPES, good_jobs, is_good_job, shortfalls
from services.outcomes.reports.transparency import transparency
from services.outcomes.reports.wioa import employed_in_quarter_after_exit, indicators, quarterly_earnings

pytestmark = pytest.mark.unit

POLICY = GoodJobPolicy(Decimal("25.00"), "test threshold")
START = date(2024, 3, 1)
PAID = Placement("E1", "Analyst", "15-1252.00", Decimal("30"), "hour", "USD", 40.0, "full_time", True, False, True,
                 START, pay_basis="hourly", predictable_schedule=True)
UNPAID = replace(PAID, wage_amount=Decimal(0), employment_type="internship", pay_basis="unpaid", paid=False,
                 hours_per_week=20.0)
SALARY_NO_HOURS = replace(PAID, wage_amount=Decimal("62400"), wage_unit="year", pay_basis="salary",
                          hours_per_week=None)
HOURLY_NO_HOURS = replace(PAID, employment_type="part_time", hours_per_week=None, variable_hours=True)


def rec(rid: str, p: Placement | None, gender: str = "female") -> ReferralRecord:
    t = datetime(2024, 1, 10, tzinfo=UTC)
    return ReferralRecord(rid, "A", t, training_completed_on=date(2024, 2, 15), employer_id="E1", placement=p,
                          reached={"referred": t, "placed": t + timedelta(days=30)} if p else {"referred": t},
                          aggregate_consent=True, demographics=Demographics(("white",), gender, False))


RECORDS = [rec("paid", PAID), rec("unpaid", UNPAID), rec("salary", SALARY_NO_HOURS), rec("hourly", HOURLY_NO_HOURS),
           rec("none", None)]


def test_hourly_wages_zero_or_unknown() -> None:
    assert (PAID.hourly_wage, UNPAID.hourly_wage) == (Decimal(30), Decimal(0))
    assert SALARY_NO_HOURS.hourly_wage is None and HOURLY_NO_HOURS.hourly_wage == Decimal(30)


def test_good_jobs_never_count_unpaid_or_unknown_pay() -> None:
    every_type = replace(POLICY, counted_types=EMPLOYMENT_TYPES)
    assert is_good_job(PAID, POLICY) and is_good_job(replace(PAID, employment_type="internship"), every_type)
    assert shortfalls(replace(UNPAID, health=True, paid_leave=True), every_type) == ("unpaid",)
    assert not is_good_job(replace(UNPAID, health=True, paid_leave=True), replace(every_type, hourly_threshold=Decimal(0)))
    assert shortfalls(SALARY_NO_HOURS, POLICY) == ("hourly_wage_unknown",)
    # Unpaid is compared whatever the coalition's currency: nothing is nothing in any.
    assert good_jobs([rec("u", UNPAID)], replace(POLICY, currency="EUR"))["total"]["placements"] == 1
    t = good_jobs(RECORDS, POLICY)["total"]
    assert (t["placements"], t["good_jobs"], t["unpaid"], t["hourly_wage_unknown"]) == (4, 2, 1, 1)
    assert t["at_or_above_threshold"] == 2
    # The distribution is over the three whose hourly wage is known, the unpaid one at 0.
    assert t["wages"] == {"currency": "USD", "placements": 3, "p25_hourly": "15.00", "median_hourly": "30.00",
                          "p75_hourly": "30.00"}


def test_wioa_counts_no_unpaid_employment_and_earnings_only_where_they_can_be_told() -> None:
    assert not employed_in_quarter_after_exit(rec("u", UNPAID), 2)
    assert employed_in_quarter_after_exit(rec("s", SALARY_NO_HOURS), 2)
    assert quarterly_earnings(rec("p", PAID)) == Decimal("15600.00")
    assert quarterly_earnings(rec("s", SALARY_NO_HOURS)) == Decimal("15600.00")  # a quarter of the year's salary
    assert quarterly_earnings(rec("h", HOURLY_NO_HOURS)) is None
    found = {i["indicator"]: i for i in indicators(RECORDS)["indicators"]}
    assert (found["employment_rate_q2"]["numerator"], found["employment_rate_q2"]["denominator"]) == (3, 5)
    earnings = found["median_earnings_q2"]
    assert (earnings["numerator"], earnings["denominator"], earnings["value"]) == (2, 3, "15600.00")
    assert found["repeat_business_customers"]["numerator"] == 1  # E1: four placements, the unpaid one too
    by_type = {g["group"]: {i["indicator"]: i for i in g["indicators"]}
               for g in indicators(RECORDS)["by"]["employment_type"]}
    assert set(by_type) == {"full_time", "part_time", "internship", "(not placed)"}
    assert [by_type[g]["employment_rate_q2"]["numerator"] for g in ("full_time", "part_time", "internship")] == [2, 1, 0]
    assert by_type["full_time"]["median_earnings_q2"]["value"] == "15600.00"
    assert by_type["(not placed)"]["employment_rate_q2"]["denominator"] == 1


def test_transparency_medians_leave_unknown_wages_out() -> None:
    people = [rec(f"p{n}", PAID) for n in range(11)] + [rec(f"s{n}", SALARY_NO_HOURS) for n in range(11)]
    people += [rec(f"u{n}", UNPAID) for n in range(11)] + [rec(f"n{n}", None) for n in range(11)]
    total = transparency(people)["tables"]["gender"]["total"]
    assert total["placed"]["count"] == 33
    assert total["median_hourly_wage"] == "15.00"  # of 11 at 30.00 and 11 at 0; the salaries unknown


def test_every_report_renders_with_unpaid_and_unknown_wages() -> None:
    built = build_reports(RECORDS, [], [], ReportSettings(POLICY))
    files = to_csv(built)
    assert "good_jobs.csv" in files and "wioa.csv" in files and "transparency.csv" in files
    page = to_html(built, "Outcomes", "2024-12-31", "all partners")
    assert "<table" in page and "None" not in page
