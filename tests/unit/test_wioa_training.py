"""WIOA Credential Attainment and Measurable Skill Gains over training enrollments
(reports/wioa_training.py): each definition on a known set, by provider and program, suppressed
by groups for a provider's report, properties on generated enrollments, CSV and HTML."""

import csv
import io
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.outcomes.records import EarnedCredentialRecord, EnrollmentRecord
from services.outcomes.reports import GoodJobPolicy, ReportSettings, build_reports, to_csv, to_html
from services.outcomes.reports.groups import SMALL_GROUPS
from services.outcomes.reports.render import SUPPRESSED_CSV, SUPPRESSED_HTML
from services.outcomes.reports.wioa_training import Participation, attained, exit_on, program_year, training_indicators

pytestmark = pytest.mark.unit

JAN = date(2024, 1, 2)


def enrollment(eid, provider, program, status="enrolled", completed=None, exited=None, credentials=(),
               milestones=(), enrolled_on=JAN):
    return EnrollmentRecord(eid, provider, program, f"cand-{eid}", enrolled_on, status, completed, exited,
                            "personal" if exited else None,
                            tuple(EarnedCredentialRecord("AWS D1.1", None, None, d) for d in credentials),
                            None, tuple(milestones))


P = Participation
ENROLLMENTS = [
    P("p1", enrollment("e1", "A", "Welding", "completed", completed=date(2024, 2, 15), credentials=[date(2024, 6, 1)],
                      milestones=["skills_gain"])),
    # More than a year after exit: not attained.
    P("p2", enrollment("e2", "A", "Welding", "exited", exited=date(2024, 3, 1), credentials=[date(2025, 3, 2)],
                      milestones=["other"])),
    # Awarded before the enrollment began: not earned during participation.
    P("p3", enrollment("e3", "A", "CNA", "completed", completed=date(2024, 2, 15), credentials=[date(2023, 12, 1)],
                      milestones=["module_completed"])),
    P("p1", enrollment("e4", "B", "Nursing", "in_training", milestones=["exam_passed"], enrolled_on=date(2024, 5, 1))),
    P("p4", enrollment("e5", "B", "Nursing", "completed", completed=date(2024, 11, 30))),
]


def indicator(summary, key):
    return next(i for i in summary["indicators"] if i["indicator"] == key)


def fraction(summary, key):
    i = indicator(summary, key)
    return i["numerator"], i["denominator"], i["value"], i["not_yet_measurable"]


def test_exit_is_the_completion_or_the_exit_and_the_window_is_a_year():
    assert exit_on(ENROLLMENTS[0].record) == date(2024, 2, 15) and exit_on(ENROLLMENTS[1].record) == date(2024, 3, 1)
    assert exit_on(ENROLLMENTS[3].record) is None
    on_the_day = enrollment("x", "A", "W", "completed", completed=date(2024, 2, 15), credentials=[date(2025, 2, 15)])
    assert attained(on_the_day)
    assert not attained(replace(on_the_day, credentials=(EarnedCredentialRecord("c", None, None, date(2025, 2, 16)),)))
    assert not attained(ENROLLMENTS[3].record)  # no exit yet: not in the cohort


def test_indicators_in_total_and_by_provider_and_program():
    report = training_indicators(ENROLLMENTS)
    total = report["total"]
    assert (total["enrollments"], total["people"], total["exit_cohort"], total["not_in_cohort"]) == (5, 4, 4, 1)
    assert fraction(total, "credential_attainment") == (1, 4, 0.25, 0)
    assert fraction(total, "measurable_skill_gains") == (3, 5, 0.6, None)  # skills_gain, module_completed, exam_passed
    providers = {g["group"]: g for g in report["by"]["provider"]}
    assert fraction(providers["A"], "credential_attainment")[:2] == (1, 3)
    assert fraction(providers["B"], "measurable_skill_gains")[:2] == (1, 2)
    assert [g["group"] for g in report["by"]["program"]] == ["CNA", "Nursing", "Welding"]
    assert report["unit"] == "enrollment" and report["suppression_threshold"] is None


def test_windows_not_closed_by_as_of_are_not_measured():
    total = training_indicators(ENROLLMENTS, as_of=date(2025, 6, 30))["total"]
    assert fraction(total, "credential_attainment") == (1, 3, 0.3333, 1)  # e5's year ends 2025-11-30
    early = training_indicators(ENROLLMENTS, as_of=date(2024, 3, 1))["total"]
    gains = indicator(early, "measurable_skill_gains")  # e4 began after as_of (no dates read: any day)
    assert (gains["numerator"], gains["denominator"], gains["outside_program_year"]) == (2, 4, 1)


def test_skill_gains_dated_in_the_program_year_up_to_as_of():
    assert program_year(date(2024, 3, 1)) == (date(2023, 7, 1), date(2024, 6, 30))
    assert program_year(date(2024, 7, 1)) == (date(2024, 7, 1), date(2025, 6, 30))
    dated = [
        replace(ENROLLMENTS[0], gains_on=(date(2024, 1, 20),)),  # in PY 2023 (exited 2024-02-15)
        replace(ENROLLMENTS[2], gains_on=(date(2024, 8, 1),)),  # a gain after as_of: not counted
        replace(ENROLLMENTS[3], gains_on=(date(2024, 5, 2),)),  # began 2024-05-01
        P("p9", enrollment("e9", "B", "Nursing", "exited", exited=date(2023, 6, 1), milestones=["skills_gain"],
                           enrolled_on=date(2023, 1, 2)), (date(2023, 2, 1),)),  # left before PY 2023
    ]
    gains = indicator(training_indicators(dated, as_of=date(2024, 6, 1))["total"], "measurable_skill_gains")
    assert (gains["numerator"], gains["denominator"], gains["outside_program_year"]) == (2, 3, 1)
    # Without as_of: every enrollment, a gain on any day.
    assert indicator(training_indicators(dated)["total"], "measurable_skill_gains")["numerator"] == 4


def test_a_providers_report_is_suppressed_by_groups_in_people():
    small = training_indicators(ENROLLMENTS, threshold=10)
    assert small["total"]["suppressed"] and small["total"]["people"] is None
    assert fraction(small["total"], "credential_attainment") == (None, None, None, None)
    assert indicator(small["total"], "measurable_skill_gains")["outside_program_year"] is None
    # B (2 people) is combined; the combined row then takes A, the smallest named group.
    combined = training_indicators(ENROLLMENTS, threshold=2)
    assert [g["group"] for g in combined["by"]["provider"]] == [SMALL_GROUPS]
    assert combined["by"]["provider"][0]["people"] == 4 and not combined["total"]["suppressed"]


enrollments = st.lists(
    st.builds(
        lambda person, provider, status, days, award, milestone: P(person, enrollment(
            f"e{person}{provider}{days}", provider, f"prog-{provider}", status,
            completed=date(2024, 1, 2 + days) if status == "completed" else None,
            exited=date(2024, 1, 2 + days) if status == "exited" else None,
            credentials=[date(2024, 1, 1 + award)] if award is not None else [], milestones=milestone)),
        st.sampled_from([f"p{n}" for n in range(15)]), st.sampled_from("ABC"),
        st.sampled_from(["enrolled", "in_training", "completed", "exited"]), st.integers(0, 25),
        st.none() | st.integers(0, 29), st.sampled_from([(), ("other",), ("skills_gain",), ("module_completed",)]),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(enrollments, st.none() | st.integers(1, 12))
def test_rates_are_fractions_and_groups_add_up(pairs, threshold):
    report = training_indicators(pairs, threshold=threshold)
    rows = [report["total"], *report["by"]["provider"], *report["by"]["program"]]
    for row in rows:
        for i in row["indicators"]:
            assert row["suppressed"] or (0 <= i["numerator"] <= i["denominator"]
                                         and (i["value"] is None or 0 <= i["value"] <= 1))
    for dimension in ("provider", "program"):  # each partitions the enrollments, the combined row included
        groups = report["by"][dimension]
        if not report["total"]["suppressed"] and not any(g["suppressed"] for g in groups):
            assert sum(g["enrollments"] for g in groups) == report["total"]["enrollments"]
            for key in ("credential_attainment", "measurable_skill_gains"):
                assert sum(indicator(g, key)["numerator"] for g in groups) == indicator(report["total"], key)["numerator"]
        if threshold is not None:
            assert all(g["suppressed"] or g["people"] > threshold for g in groups)


def test_csv_and_html():
    base = ReportSettings(GoodJobPolicy(Decimal("25"), "test"))
    files = to_csv(build_reports([], [], [], base, enrollments=ENROLLMENTS))
    rows = list(csv.DictReader(io.StringIO(files["wioa_training.csv"])))
    total = {r["indicator"]: r for r in rows if r["dimension"] == "total"}
    assert (total["credential_attainment"]["numerator"], total["credential_attainment"]["denominator"]) == ("1", "4")
    assert {r["group"] for r in rows if r["dimension"] == "provider"} == {"A", "B"}
    suppressed = build_reports([], [], [], replace(base, suppress_funnel=True), enrollments=ENROLLMENTS)
    rows = list(csv.DictReader(io.StringIO(to_csv(suppressed)["wioa_training.csv"])))
    assert rows and all(r["numerator"] == SUPPRESSED_CSV and r["people"] == SUPPRESSED_CSV for r in rows)
    page = to_html(suppressed, "t", "2025-01-01", "partner A")
    section = page.split('id="wioa-training"')[1].split("</section>")[0]
    assert SUPPRESSED_HTML in section and section.count("<p") == section.count("</p>")
    assert "1 / 4 (25.0%)" in to_html(build_reports([], [], [], base, enrollments=ENROLLMENTS), "t", "d", "all")
