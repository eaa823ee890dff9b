import csv
import io
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.outcomes.records import Demographics, GapRecord, OpeningRecord, Placement, ReferralRecord
from services.outcomes.reports import GoodJobPolicy, ReportSettings, build_reports, to_csv, to_html
from services.outcomes.reports.funnel import SMALL_GROUPS
from services.outcomes.reports.render import SUPPRESSED_CSV, SUPPRESSED_HTML

pytestmark = pytest.mark.unit

EVIL = "<script>alert('x')</script>"
T = datetime(2024, 1, 10, tzinfo=UTC)


def record(n, partner, placed, gender):
    p = Placement("E1", "Analyst", "15-1252.00", Decimal("30"), "hour", "USD", 40.0, "full_time", True, True, True,
                  date(2024, 3, 1), predictable_schedule=True) if placed else None
    reached = {"referred": T, "routed": T + timedelta(days=1)}
    if placed:
        reached |= {"acknowledged": T + timedelta(days=2), "offered": T + timedelta(days=9),
                    "placed": T + timedelta(days=10)}
    return ReferralRecord(f"r{n}", partner, T, program="Bootcamp", training_completed_on=date(2024, 2, 1),
                          occupation="15-1252.00", employer_id="E1", reached=reached, placement=p,
                          aggregate_consent=True, demographics=Demographics(("white",), gender, False))


RECORDS = [record(n, EVIL if n % 2 else "P1", n < 14, "female" if n < 20 else "male") for n in range(25)]
GAPS = [GapRecord("15-1252.00", "unmatched", (), ("python",), (), T, "r20", "P1")]
OPENINGS = [OpeningRecord("o1", "E1", "15-1252.00", ("python", EVIL), (), T)]
SETTINGS = ReportSettings(GoodJobPolicy(Decimal("25"), "MIT Living Wage, test county", require_predictable_schedule=True))


@pytest.fixture(scope="module")
def reports():
    return build_reports(RECORDS, GAPS, OPENINGS, SETTINGS)


def test_build_reports_gives_every_report(reports):
    assert set(reports) == {"funnel", "good_jobs", "wioa", "skills_gap", "transparency", "pipeline", "wioa_training", "services"}
    assert reports["funnel"]["total"]["stages"][5]["count"] == 14
    assert reports["good_jobs"]["total"]["good_jobs"] == 14


def test_csv_files_have_headers_and_rows(reports):
    files = to_csv(reports)
    assert set(files) == {"funnel.csv", "funnel_lines.csv", "funnel_days.csv", "conversions.csv", "good_jobs.csv",
                          "wage_growth.csv",
                          "wioa.csv", "wioa_by_employment_type.csv", "skills_demanded.csv", "skills_missing.csv",
                          "transparency.csv", "pipeline.csv", "wioa_training.csv", "services.csv",
                          "services_outcomes.csv"}
    converted = list(csv.DictReader(io.StringIO(files["conversions.csv"])))
    assert converted[0] == {"dimension": "total", "group": "all", "work_based_learning": "0", "converted": "0",
                            "to_full_time": "0", "to_part_time": "0", "conversion_rate": "", "converted_elsewhere": "0",
                           "elsewhere_to_full_time": "0", "elsewhere_to_part_time": "0", "converted_any": "0",
                           "conversion_rate_any": ""}
    by_type = list(csv.DictReader(io.StringIO(files["wioa_by_employment_type.csv"])))
    assert {r["employment_type"] for r in by_type} == {"full_time", "(not placed)"}
    assert next(r for r in by_type if r["employment_type"] == "full_time" and r["indicator"] == "employment_rate_q2")[
        "denominator"] == "14"
    good = list(csv.DictReader(io.StringIO(files["good_jobs.csv"])))
    total = next(r for r in good if r["dimension"] == "total")
    assert (total["assessed"], total["good_jobs"], total["falls_short"], total["schedule_not_reported"]) == (
        "14", "14", "", "0")
    assert {r["group"] for r in good if r["dimension"] == "employment_type"} == {"full_time"}
    growth = list(csv.DictReader(io.StringIO(files["wage_growth.csv"])))
    assert [(g["point"], g["milestone_days"]) for g in growth] == [
        ("conversion_elsewhere", ""), ("conversion", ""), ("milestone", "30"), ("milestone", "90"), ("milestone", "180")]
    assert growth[3]["checkins"] == "0"
    funnel = list(csv.DictReader(io.StringIO(files["funnel.csv"])))
    assert list(funnel[0]) == ["dimension", "group", "stage", "count", "conversion_from_previous",
                               "conversion_from_referred", "people"]
    assert {"dimension": "total", "group": "all", "stage": "placed", "count": "14",
            "conversion_from_previous": "1.0", "conversion_from_referred": "0.56", "people": "14"} in funnel
    wioa = list(csv.DictReader(io.StringIO(files["wioa.csv"])))
    assert wioa[0]["pirl_elements"] == "901 1602" and wioa[0]["denominator"] == "25"
    transparency = list(csv.DictReader(io.StringIO(files["transparency.csv"])))
    male = next(r for r in transparency if r["dimension"] == "gender" and r["category"] == "male")
    assert male == {"dimension": "gender", "category": "male", "placed": "0", "not_placed": "suppressed",
                    "referred": "suppressed", "placement_rate": "suppressed", "median_hourly_wage": ""}


def test_html_has_every_section_escapes_text_and_marks_suppression(reports):
    page = to_html(reports, "Coalition outcomes <Q1>", "2024-04-02", "all partners")
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "Coalition outcomes &lt;Q1&gt;" in page and "2024-04-02" in page
    for section in ('id="funnel"', 'id="good-jobs"', 'id="wioa"', 'id="skills-gap"', 'id="transparency"',
                    'id="suppression-note"'):
        assert section in page
    assert page.count("<svg") >= 4 and "<caption>" in page and '<th scope="col">' in page
    assert "Employed in 2nd Quarter After Exit Quarter (WIOA)" in page
    assert "Wage growth from placement" in page and "Good jobs by employment type" in page
    assert "and a predictable schedule; unpaid work never is" in page
    assert "—" in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no external asset


FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


def test_tenant_text_that_a_spreadsheet_would_run_as_a_formula_is_written_as_text():
    """Program names come from partners, skills from employers: a CSV opened in a spreadsheet
    must not run them (OWASP CSV injection)."""
    records = [record(n, "P1", n < 14, "female") for n in range(25)]
    records = [r.__class__(**{**r.__dict__, "program": FORMULAS[n % len(FORMULAS)]}) for n, r in enumerate(records)]
    openings = [OpeningRecord(f"o{i}", "E1", "15-1252.00", (f, "python"), (), T) for i, f in enumerate(FORMULAS)]
    files = to_csv(build_reports(records, GAPS, openings, SETTINGS))
    cells = [c for text in files.values() for row in csv.reader(io.StringIO(text)) for c in row]
    assert any(c.lstrip("'") in FORMULAS for c in cells)  # the tenants' text is there...
    assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r"))]  # ...never as a formula
    assert not [c for c in cells if c.startswith("-") and not _number(c)]  # negative numbers stay numbers


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- The funnel's outcomes and people, and its suppression by groups ---------------------------

FUNNEL_FILES = ("funnel.csv", "funnel_lines.csv", "conversions.csv", "funnel_days.csv")
OUTCOME = {True: "placed", False: "not_matched_after_decline"}


def projected(n, program, person, placed):
    """`record` as the projection leaves it: outcome, flags, person (declined by E2 when not placed)."""
    r = record(n, "P1", placed, "female")
    declined = () if placed else ("E2",)
    return replace(r, program=program, person_key=person, outcome=OUTCOME[placed], declined_by=declined,
                   flags=("declined_at_least_once",) if declined else ())


def funnel_rows(files, name="funnel_lines.csv"):
    return list(csv.DictReader(io.StringIO(files[name])))


def funnel_section(page: str) -> str:
    return page[page.index('<section id="funnel">'):page.index('<section id="good-jobs">')]


def test_funnel_lines_give_referrals_and_people_labelled_with_definitions():
    """30 referrals of 20 people (10 referred twice): outcomes add up to referred on each side."""
    records = [projected(n, "Bootcamp", f"c{n % 20}", n < 12) for n in range(30)]
    reports = build_reports(records, [], [], SETTINGS)
    rows = [r for r in funnel_rows(to_csv(reports)) if r["dimension"] == "total"]
    assert list(rows[0]) == ["dimension", "group", "section", "line", "referrals", "people", "definition"]
    line = {(r["section"], r["line"]): r for r in rows}
    assert (line[("stage", "referred")]["referrals"], line[("stage", "referred")]["people"]) == ("30", "20")
    outcomes = [r for r in rows if r["section"] == "outcome"]
    assert sum(int(r["referrals"]) for r in outcomes) == 30 and sum(int(r["people"]) for r in outcomes) == 20
    assert (line[("outcome", "placed")]["referrals"], line[("outcome", "placed")]["people"]) == ("12", "12")
    assert line[("outcome", "not_matched_after_decline")]["people"] == "8"  # a person's best outcome counts
    assert (line[("flag", "declined_at_least_once")]["referrals"], line[("flag", "declined_at_least_once")]["people"]
            ) == ("18", "18")
    assert line[("flag", "declined_then_placed_elsewhere")]["referrals"] == ""  # a line of people only
    assert line[("flag", "declined_then_placed_elsewhere")]["people"] == "10"
    assert {r["section"] for r in rows} == {"stage", "interviews_recorded", "outcome", "placed", "flag"}
    assert all("docs/pipeline.md#" in r["definition"] for r in rows)
    section = funnel_section(to_html(reports, "t", "2024-04-02", "all partners"))
    for text in ("docs/pipeline.md", "Where each referral stands now", "of which retained 90 days",
                 "declined then placed elsewhere", "referrals / people", "<th scope=\"col\">people</th>",
                 "Funnel by program"):
        assert text in section, text
    assert re.search(r'<th scope="row">placed</th><td>12</td><td>12</td>', section)
    assert SUPPRESSED_HTML not in section


def test_a_suppressed_funnel_stays_suppressed_in_csv_and_html():
    """A non-operator's report of 6 people: every funnel figure is suppressed in every file and in
    the page; the operator's report of the same records shows them."""
    records = [projected(n, "Bootcamp", f"c{n}", n < 2) for n in range(6)]
    partner = build_reports(records, [], [], replace(SETTINGS, suppress_funnel=True))
    files = to_csv(partner)
    figures = {"funnel.csv": ("count", "conversion_from_previous", "conversion_from_referred", "people"),
               "funnel_lines.csv": ("referrals", "people"), "funnel_days.csv": ("records", "median_days"),
               "conversions.csv": ("work_based_learning", "converted", "conversion_rate")}
    for name, columns in figures.items():
        rows = funnel_rows(files, name)
        assert rows and {r[c] for r in rows for c in columns} == {SUPPRESSED_CSV}, name
        assert {r["group"] for r in rows} == {"all", SMALL_GROUPS}  # no group named
    section = funnel_section(to_html(partner, "t", "2024-04-02", "partner P1"))
    cells = re.findall(r"<td>([^<]*)</td>", section)
    assert SUPPRESSED_HTML in cells and not [c for c in cells if c.isdigit() or "/" in c.replace("docs/", "")]
    assert "<svg" not in section and 'id="funnel-suppression"' in section
    operator = to_csv(build_reports(records, [], [], SETTINGS))
    assert SUPPRESSED_CSV not in operator["funnel_lines.csv"] and "Bootcamp" in operator["funnel_lines.csv"]


def test_small_groups_are_combined_in_csv_and_html_and_rows_add_up():
    """Big (15 people) is named; Tiny (3) joins Mid (12) in the combined row, neither named."""
    records = [projected(n, program, f"{program}{n}", n % 3 == 0)
               for n, program in enumerate(["Big"] * 15 + ["Mid"] * 12 + ["Tiny"] * 3)]
    partner = build_reports(records, [], [], replace(SETTINGS, suppress_funnel=True))
    files = to_csv(partner)
    program = [r for r in funnel_rows(files) if r["dimension"] == "program"]
    assert {r["group"] for r in program} == {"Big", SMALL_GROUPS}
    referred = {r["group"]: int(r["referrals"]) for r in program if r["line"] == "referred"}
    assert referred == {"Big": 15, SMALL_GROUPS: 15}
    for group in referred:
        assert sum(int(r["referrals"]) for r in program if r["group"] == group and r["section"] == "outcome") == 15
    section = funnel_section(to_html(partner, "t", "2024-04-02", "partner P1"))
    assert "Tiny" not in section and "Mid" not in section and SMALL_GROUPS in section
    assert not [f for f in FUNNEL_FILES if "Tiny" in files[f] or "Mid" in files[f]]
    assert "Tiny" in to_csv(build_reports(records, [], [], SETTINGS))["funnel.csv"]
