from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.outcomes.records import Credential, Placement, ReferralRecord
from services.outcomes.reports.wioa import (
    PIRL,
    add_quarters,
    employed_in_quarter_after_exit,
    employment_ended,
    indicators,
    quarter_end,
    quarter_of,
)

pytestmark = pytest.mark.unit


def placement(amount, unit, hours, start, employer):
    return Placement(employer, "Analyst", "15-1252.00", Decimal(amount), unit, "USD", hours, "full_time", True, False,
                     True, start)


def rec(rid, exit_on=None, p=None, program="Bootcamp", **kw):
    return ReferralRecord(rid, "A", datetime(2024, 1, 1, tzinfo=UTC), program=program, training_completed_on=exit_on,
                          placement=p, **kw)


EXIT_Q1 = date(2024, 2, 15)  # 2nd quarter after: 2024-Q3; 4th: 2025-Q1
RECORDS = [
    rec("w1", EXIT_Q1, placement("25", "hour", 40.0, date(2024, 3, 1), "E1"), skills_added=2,
        credentials=(Credential("AWS CCP", "completed", date(2024, 6, 1)),)),
    rec("w2", EXIT_Q1, placement("20", "hour", 30.0, date(2024, 3, 1), "E1"), separated_on=date(2024, 8, 15),
        credentials=(Credential("A+", "completed", date(2024, 1, 10)),)),
    rec("w3", EXIT_Q1, placement("22", "hour", 40.0, date(2024, 3, 1), "E2"), retention={30: True, 90: False},
        credentials=(Credential("Net+", "completed", None),)),
    rec("w4", date(2024, 5, 10), placement("1200", "week", 40.0, date(2024, 12, 31), "E3"),
        credentials=(Credential("Sec+", "in_progress", None),)),
    rec("w5", EXIT_Q1, credentials=(Credential("CySA+", "completed", date(2025, 2, 15)),)),
    rec("w6", None, program="Y", skills_added=1),
    rec("w7", None, program=None),
]


def by_key(report):
    return {i["indicator"]: i for i in report["indicators"]}


def test_quarters():
    assert quarter_of(date(2024, 2, 15)) == (2024, 1)
    assert add_quarters((2024, 1), 2) == (2024, 3) and add_quarters((2024, 4), 1) == (2025, 1)
    assert quarter_end((2024, 1)) == date(2024, 3, 31) and quarter_end((2024, 4)) == date(2024, 12, 31)


def test_employment_ends_at_separation_or_a_failed_milestone():
    assert employment_ended(RECORDS[1]) == date(2024, 8, 15)
    assert employment_ended(RECORDS[2]) == date(2024, 5, 30)  # started 1 March, not employed at 90 days
    assert employment_ended(RECORDS[0]) is None
    assert employed_in_quarter_after_exit(RECORDS[1], 2) and not employed_in_quarter_after_exit(RECORDS[1], 4)
    assert employed_in_quarter_after_exit(RECORDS[3], 2)  # started on the last day of the quarter


def test_indicators_without_a_cut_off():
    report = indicators(RECORDS)
    assert (report["exit_cohort"], report["not_in_cohort"]) == (5, 2)
    i = by_key(report)
    assert (i["employment_rate_q2"]["numerator"], i["employment_rate_q2"]["denominator"]) == (3, 5)
    assert i["employment_rate_q2"]["value"] == 0.6
    assert (i["employment_rate_q4"]["numerator"], i["employment_rate_q4"]["value"]) == (2, 0.4)
    assert (i["median_earnings_q2"]["numerator"], i["median_earnings_q2"]["value"]) == (3, "13000.00")
    assert (i["credential_attainment"]["numerator"], i["credential_attainment"]["denominator"]) == (2, 5)
    assert (i["measurable_skill_gains"]["numerator"], i["measurable_skill_gains"]["denominator"]) == (2, 6)
    assert i["measurable_skill_gains"]["value"] == 0.3333
    assert (i["retention_with_same_employer"]["numerator"], i["retention_with_same_employer"]["denominator"]) == (2, 3)
    assert (i["repeat_business_customers"]["numerator"], i["repeat_business_customers"]["denominator"]) == (1, 3)


def test_windows_not_closed_by_as_of_are_not_measured():
    i = by_key(indicators(RECORDS, as_of=date(2024, 12, 31)))
    assert i["employment_rate_q2"]["denominator"] == 5
    assert (i["employment_rate_q4"]["denominator"], i["employment_rate_q4"]["value"]) == (0, None)
    assert i["employment_rate_q4"]["not_yet_measurable"] == 5
    assert i["credential_attainment"]["denominator"] == 0
    i = by_key(indicators(RECORDS, as_of=date(2025, 3, 31)))
    assert (i["employment_rate_q4"]["numerator"], i["employment_rate_q4"]["denominator"]) == (1, 4)
    assert (i["credential_attainment"]["numerator"], i["credential_attainment"]["denominator"]) == (2, 4)


def test_every_indicator_carries_its_pirl_mapping_and_method():
    i = by_key(indicators(RECORDS))
    assert {"element": 1602, "name": "Employed in 2nd Quarter After Exit Quarter (WIOA)"} in i["employment_rate_q2"]["pirl"]
    assert {p["element"] for p in i["employment_rate_q4"]["pirl"]} == {901, 1606}
    assert {p["element"] for p in i["median_earnings_q2"]["pirl"]} >= {1704}
    assert {p["element"] for p in i["credential_attainment"]["pirl"]} == {901, 1800, 1801}
    assert {p["element"] for p in i["measurable_skill_gains"]["pirl"]} == {1809, 1810}
    assert 1618 in {p["element"] for p in i["retention_with_same_employer"]["pirl"]}
    assert i["repeat_business_customers"]["pirl"] == []
    assert all(x["method"] for x in i.values())
    assert PIRL["exit"] == (901, "Date of Program Exit (WIOA)")
