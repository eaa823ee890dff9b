"""The reports' coalition funnel from training (reports/coalition.py): grouped by provider,
program and credential over hand-built enrollments, exact for operators, suppressed by groups
for a provider's report, and in pipeline.csv and the HTML page."""

import csv
import io
from dataclasses import replace
from decimal import Decimal

import pytest

from services.outcomes.pipeline import Enrolled, Hire, Trainee
from services.outcomes.reports import GoodJobPolicy, ReportSettings, build_reports, to_csv, to_html
from services.outcomes.reports.coalition import coalition_funnel
from services.outcomes.reports.funnel import SMALL_GROUPS
from services.outcomes.reports.render import SUPPRESSED_CSV, SUPPRESSED_HTML

pytestmark = pytest.mark.unit

SETTINGS = ReportSettings(GoodJobPolicy(Decimal("25"), "test"))
PLACED = frozenset({"referred", "routed", "acknowledged", "interviewed", "offered", "placed"})


def enrolled(person, provider, program, status="enrolled", credentials=()):
    return Enrolled(Trainee(person, status, bool(credentials)), provider, program, credentials)


# Provider A, Welding: p0..p11; p0..p5 completed, p0..p2 earned the AWS credential.
# Provider B, CNA: p0 (also at A, not completed here), q0, q1. Provider C, Nursing: r0..r10.
ENROLLED = (
    [enrolled(f"p{n}", "A", "Welding", "completed" if n < 6 else "in_training", ("AWS D1.1",) if n < 3 else ())
     for n in range(12)]
    + [enrolled(p, "B", "CNA") for p in ("p0", "q0", "q1")]
    + [enrolled(f"r{n}", "C", "Nursing") for n in range(11)]
)
HIRES = [
    Hire("p0", PLACED, ("retained_180_days",), ("full_time",)),
    Hire("p1", frozenset({"referred", "routed"})),
    Hire("never-enrolled", PLACED, (), ("part_time",)),  # the referral funnel counts them, not this one
]


def lines(summary):
    return {(line["section"], line["line"]): line["people"] for line in summary["lines"]}


def group(funnel, dimension, name):
    return next(g for g in funnel["by"][dimension] if g["group"] == name)


def test_operators_get_every_group_exact_and_groups_overlap():
    f = coalition_funnel(ENROLLED, HIRES)
    total = lines(f["total"])
    assert f["total"]["people"] == 25
    assert (total[("training", "enrolled")], total[("training", "completed_training")],
            total[("training", "credential_earned")]) == (25, 6, 3)
    assert (total[("jobs", "referred")], total[("jobs", "placed")], total[("jobs", "retained_180_days")]) == (2, 1, 1)
    assert total[("placed_by_type", "full_time")] == 1 and total[("placed_by_type", "part_time")] == 0
    assert [g["group"] for g in f["by"]["provider"]] == ["A", "B", "C"]
    # B's training lines count its own enrollments (p0 completed at A, not at B); its referral
    # lines every referral of its people (p0 placed).
    b = lines(group(f, "provider", "B"))
    assert (b[("training", "enrolled")], b[("training", "completed_training")], b[("jobs", "placed")]) == (3, 0, 1)
    aws = lines(group(f, "credential", "AWS D1.1"))
    assert (aws[("training", "enrolled")], aws[("training", "credential_earned")], aws[("jobs", "referred")]) == (3, 3, 2)
    # p0 is in A and in B: the groups add up to more than the total.
    assert sum(g["people"] for g in f["by"]["program"]) == 26 > f["total"]["people"]
    assert f["groups_overlap"] is True and f["suppression_threshold"] is None


def test_small_groups_are_combined_and_suppressed_in_a_providers_report():
    f = coalition_funnel(ENROLLED, HIRES, threshold=10)
    # B (3 people) is too small alone; combined with the smallest published group, C (11),
    # the combined row counts 14 people; A (12) is published as it is.
    assert [g["group"] for g in f["by"]["provider"]] == ["A", SMALL_GROUPS]
    assert lines(group(f, "provider", "A")) == lines(group(coalition_funnel(ENROLLED, HIRES), "provider", "A"))
    combined = group(f, "provider", SMALL_GROUPS)
    assert combined["people"] == 14 and not combined["suppressed"]
    assert lines(combined)[("training", "enrolled")] == 14
    # The only credential counts 3 people and there is nothing to combine it with: suppressed.
    [credential] = f["by"]["credential"]
    assert credential["group"] == SMALL_GROUPS and credential["suppressed"]
    assert credential["people"] is None and set(lines(credential).values()) == {None}
    assert not f["total"]["suppressed"] and f["total"]["people"] == 25


def test_a_small_total_is_suppressed_whole():
    f = coalition_funnel(ENROLLED[12:15], HIRES, threshold=10)
    assert f["total"]["suppressed"] and set(lines(f["total"]).values()) == {None}
    assert all(g["suppressed"] for groups in f["by"].values() for g in groups)


def test_no_enrollments_give_zeroes_not_suppression():
    f = coalition_funnel([], [], threshold=10)
    assert not f["total"]["suppressed"] and set(lines(f["total"]).values()) == {0}
    assert f["by"] == {"provider": [], "program": [], "credential": []}


def test_the_reports_carry_it_in_json_csv_and_html():
    operator = build_reports([], [], [], SETTINGS, (ENROLLED, HIRES))
    assert operator["pipeline"] == coalition_funnel(ENROLLED, HIRES)
    rows = list(csv.DictReader(io.StringIO(to_csv(operator)["pipeline.csv"])))
    assert set(rows[0]) == {"dimension", "group", "section", "line", "people"}
    assert {"dimension": "total", "group": "all", "section": "training", "line": "enrolled", "people": "25"} in rows
    assert {"dimension": "credential", "group": "AWS D1.1", "section": "jobs", "line": "referred", "people": "2"} in rows
    assert {"dimension": "provider", "group": "B", "section": "placed_by_type", "line": "full_time",
            "people": "1"} in rows
    page = to_html(operator, "t", "2026-11-30", "all partners")
    assert '<section id="pipeline">' in page and "credential: AWS D1.1" in page and "provider: B" in page

    provider = build_reports([], [], [], replace(SETTINGS, suppress_funnel=True), (ENROLLED, HIRES))
    rows = list(csv.DictReader(io.StringIO(to_csv(provider)["pipeline.csv"])))
    assert not any(r["group"] in ("B", "C", "AWS D1.1") for r in rows)
    hidden = [r for r in rows if r["dimension"] == "credential"]
    assert hidden and {r["people"] for r in hidden} == {SUPPRESSED_CSV}
    page = to_html(provider, "t", "2026-11-30", "partner A")
    assert "provider: B" not in page and "AWS D1.1" not in page and SUPPRESSED_HTML in page
    assert "combined" in page


def test_reports_without_training_inputs_have_an_empty_coalition_funnel():
    built = build_reports([], [], [], SETTINGS)
    assert built["pipeline"]["total"]["people"] == 0
    assert "pipeline.csv" in to_csv(built)
