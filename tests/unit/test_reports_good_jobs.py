from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.outcomes.records import Placement, ReferralRecord
from services.outcomes.reports.good_jobs import GoodJobPolicy, good_jobs, is_good_job

pytestmark = pytest.mark.unit

POLICY = GoodJobPolicy(Decimal("25.00"), "test threshold")


def placement(amount, unit, health=True, leave=True, retirement=False, employer="E1", currency="USD", hours=40.0,
              soc="15-1252.00"):
    return Placement(employer, "Analyst", soc, Decimal(amount), unit, currency, hours, "full_time", health,
                     retirement, leave, date(2024, 3, 1))


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
