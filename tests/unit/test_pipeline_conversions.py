"""Conversions at another employer (pipeline.conversions_elsewhere, docs/pipeline.md
"Conversions"): a person placed in work-based learning at one employer, then full or part time
at another through a different referral, counted once per person; in the funnel's conversions,
the good-job tables and wage growth."""

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.outcomes.pipeline import HIRED_INTO, WORK_BASED_LEARNING, Job, conversions_elsewhere
from services.outcomes.records import Conversion, Placement, ReferralRecord
from services.outcomes.reports.funnel import funnel, funnels
from services.outcomes.reports.good_jobs import GoodJobPolicy, good_jobs

pytestmark = pytest.mark.unit

FEB, JUN = date(2024, 2, 1), date(2024, 6, 1)


def job(rid, person, employer, kind, start, converted=False):
    return Job(rid, person, employer, kind, start, converted)


def test_a_hire_at_another_employer_after_work_based_learning_is_a_conversion():
    assert conversions_elsewhere([job("r1", "p", "A", "internship", FEB), job("r2", "p", "B", "full_time", JUN)]) == {
        "r1": "r2"}
    assert conversions_elsewhere([job("r1", "p", "A", "apprenticeship", FEB),
                                  job("r2", "p", "B", "part_time", FEB)]) == {"r1": "r2"}  # the same day counts


@pytest.mark.parametrize("jobs", [
    # the same employer on another referral: not this (placement.converted is the same employer's)
    [job("r1", "p", "A", "internship", FEB), job("r2", "p", "A", "full_time", JUN)],
    # a hire that started before the internship
    [job("r1", "p", "A", "internship", JUN), job("r2", "p", "B", "full_time", FEB)],
    # another person (an erasure at one partner gives its referrals a new person_key: not joined)
    [job("r1", "p", "A", "internship", FEB), job("r2", "erased:e1", "B", "full_time", JUN)],
    # an internship after an internship is no hire
    [job("r1", "p", "A", "internship", FEB), job("r2", "p", "B", "micro_internship", JUN)],
    # converted at its own employer already
    [job("r1", "p", "A", "internship", FEB, converted=True), job("r2", "p", "B", "full_time", JUN)],
])
def test_what_is_not_a_conversion_elsewhere(jobs):
    assert conversions_elsewhere(jobs) == {}


def test_a_person_is_counted_once_on_their_first_work_based_learning():
    jobs = [job("r3", "p", "C", "micro_internship", JUN), job("r1", "p", "A", "internship", FEB),
            job("r4", "p", "B", "full_time", date(2024, 9, 1)), job("r5", "p", "D", "part_time", date(2024, 10, 1)),
            job("q1", "q", "A", "internship", FEB), job("q2", "q", "B", "full_time", JUN)]
    assert conversions_elsewhere(jobs) == {"r1": "r4", "q1": "q2"}


kinds = st.sampled_from(WORK_BASED_LEARNING + HIRED_INTO)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.builds(lambda n, person, employer, kind, day, converted: job(
    f"r{n}", person, employer, kind, date(2024, 1, 1 + day), converted),
    st.integers(0, 10**6), st.sampled_from("pqrs"), st.sampled_from("ABC"), kinds, st.integers(0, 27), st.booleans()),
    max_size=25, unique_by=lambda j: j.referral_id))
def test_at_most_one_per_person_from_learning_to_a_later_hire_elsewhere(jobs):
    by_id = {j.referral_id: j for j in jobs}
    found = conversions_elsewhere(jobs)
    assert len({by_id[learning].person_key for learning in found}) == len(found)
    for learning, hire in found.items():
        wbl, h = by_id[learning], by_id[hire]
        assert wbl.employment_type in WORK_BASED_LEARNING and not wbl.converted and h.employment_type in HIRED_INTO
        assert wbl.person_key == h.person_key and wbl.employer_id != h.employer_id and h.start_date >= wbl.start_date
    people_with_one = {j.person_key for j in jobs for h in jobs if j.employment_type in WORK_BASED_LEARNING
                       and not j.converted and h.employment_type in HIRED_INTO and h.employer_id != j.employer_id
                       and h.start_date >= j.start_date and h.person_key == j.person_key}
    assert {by_id[learning].person_key for learning in found} == people_with_one


# --- in the reports --------------------------------------------------------------------------

POLICY = GoodJobPolicy(Decimal("25.00"), "test")


def placed(rid, partner, person, employer, kind, start, wage, **kw):
    p = Placement(employer, "Analyst", "15-1252.00", Decimal(wage), "hour", "USD", 40.0, kind, True, False, True, start)
    return ReferralRecord(rid, partner, datetime(2024, 1, 1, tzinfo=UTC), placement=p, person_key=person,
                          reached={"placed": datetime(2024, 1, 5, tzinfo=UTC)}, **kw)


RECORDS = [
    placed("i1", "P1", "ann", "A", "internship", FEB, "18"),
    placed("h1", "P2", "ann", "B", "full_time", JUN, "27"),  # ann: interned at A, hired at B (another partner)
    placed("i2", "P1", "bob", "A", "apprenticeship", FEB, "20"),
    placed("h2", "P1", "bob", "C", "part_time", JUN, "22"),  # bob: apprenticed at A, part time at C (below 25)
    placed("i3", "P1", "cy", "A", "internship", FEB, "18"),  # cy: converted at A itself
]
RECORDS[4] = replace(RECORDS[4], conversion=Conversion(JUN, "internship", "full_time",
                                                       replace(RECORDS[4].placement, employment_type="full_time")))


def test_the_funnel_counts_them_on_the_work_based_learning_referral():
    c = funnel(RECORDS)["total"]["conversions"]
    assert (c["work_based_learning"], c["converted"], c["converted_elsewhere"]) == (3, 1, 2)
    assert (c["elsewhere_to_full_time"], c["elsewhere_to_part_time"], c["converted_any"], c["conversion_rate_any"]) == (
        1, 1, 3, 1.0)
    by_type = {g["group"]: g["conversions"] for g in funnel(RECORDS, "employment_type")["groups"]}
    assert (by_type["internship"]["converted_elsewhere"], by_type["apprenticeship"]["converted_elsewhere"]) == (1, 1)
    assert by_type["full_time"]["converted_elsewhere"] == 0  # the hire's group does not count it again
    by_partner = {g["group"]: g["conversions"] for g in funnels(RECORDS)["by"]["partner"]}
    assert (by_partner["P1"]["converted_elsewhere"], by_partner["P2"]["converted_elsewhere"]) == (2, 0)
    # A report over P1's referrals only does not see ann's hire through P2.
    mine = funnel([r for r in RECORDS if r.partner_id == "P1"])["total"]["conversions"]
    assert mine["converted_elsewhere"] == 1
    hidden = funnel(RECORDS, threshold=10)["total"]
    assert hidden["suppressed"] and hidden["conversions"]["converted_elsewhere"] is None


def test_good_jobs_and_wage_growth_count_them():
    report = good_jobs(RECORDS, POLICY)
    assert (report["total"]["converted_elsewhere"], report["total"]["converted_elsewhere_good_jobs"]) == (2, 1)
    growth = {g["point"]: g for g in report["wage_growth"]}
    # ann 18 -> 27 (+50 %), bob 20 -> 22 (+10 %): medians 19 -> 24.50, growth 30 %.
    assert growth["conversion_elsewhere"] == {
        "point": "conversion_elsewhere", "milestone_days": None, "checkins": 2, "with_wages": 2,
        "median_hourly_at_placement": "19.00", "median_hourly_at_checkin": "24.50", "median_growth_pct": "30.00",
        "raised": 2, "promoted": None}
    assert growth["conversion"]["checkins"] == 1
    withheld = {g["point"]: g for g in good_jobs(RECORDS, POLICY, min_wages=11)["wage_growth"]}
    assert withheld["conversion_elsewhere"]["median_hourly_at_checkin"] is None
