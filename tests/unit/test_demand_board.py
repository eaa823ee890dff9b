"""The demand board, pure (issue 16 items 3 and 4): figures hand-computed on a known dataset,
suppression by employers, a newer forecast replacing an older one, the wage summary, and the
skills gap's forecast columns beside (never added to) today's openings."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.outcomes.records import OpeningRecord
from services.outcomes.reports.demand import (
    Credential,
    Forecast,
    OpenOpening,
    Standards,
    board,
    current,
    forecast_by_occupation,
)
from services.outcomes.reports.skills_gap import skills_gap

pytestmark = pytest.mark.unit

T1 = datetime(2026, 11, 1, tzinfo=UTC)
T2 = T1 + timedelta(days=1)
DEV = "15-1252.00"
A_PLUS = Credential("CompTIA A+", "ce-x")


def opening(
    oid: str,
    employer: str,
    kind: str | None,
    capacity: int,
    required: tuple[str, ...],
    preferred: tuple[str, ...] = (),
    credentials: tuple[Credential, ...] = (),
    amount: str = "25",
    unit: str = "hour",
    paid: bool = True,
) -> OpenOpening:
    return OpenOpening(
        oid, employer, DEV, kind, capacity, required, preferred, credentials, paid, Decimal(amount), unit, "USD"
    )


OPENINGS = [
    opening("o1", "A", "full_time", 2, ("python", "sql"), ("docker",), (Credential("CompTIA A+"),), "20"),
    opening("o2", "B", "full_time", 3, ("python",), ("sql",), (Credential("comptia  a+"),), "30"),
    opening("o3", "C", "full_time", 1, ("python", "docker"), amount="25"),
    opening("o4", "C", "full_time", 4, ("sql",), amount="60000", unit="year"),
    opening("o5", "A", "part_time", 1, ("python",)),  # a cell of one employer
]


def forecast(
    employer: str,
    slots: int,
    skills: tuple[str, ...],
    at: datetime = T1,
    horizon: int = 12,
    credentials: tuple[Credential, ...] = (A_PLUS,),
) -> Forecast:
    return Forecast(employer, DEV, "full_time", horizon, slots, skills, credentials, at)


FORECASTS = [
    forecast("A", 7, ("python", "sql"), T2),
    forecast("B", 3, ("python",)),
    forecast("C", 2, ("python", "sql")),
    forecast("D", 0, ("python",)),  # none expected: not counted, not an employer of the cell
    forecast("A", 4, ("python",), horizon=6),  # a 6-month cell of one employer
    forecast("A", 5, ("python",), T1),  # older than A's forecast of T2, arriving later: replaced
]

STANDARDS = [
    Standards("emp_z", "Zeta Works", DEV, ("screening_call", "take_home"), "remote", True, True, False, (), T1),
    Standards(
        "emp_a",
        "Acme",
        DEV,
        ("screening_call", "technical_interview", "panel"),
        "hybrid",
        False,
        True,
        True,
        (A_PLUS,),
        T2,
    ),
]


def test_today_cells_lines_and_wages_from_three_employers_only():
    b = board(OPENINGS, [], [])
    assert b["min_employers"] == 3
    (cell,) = b["today"]  # part_time (employer A alone) withheld
    assert cell == {
        "occupation": DEV,
        "employment_type": "full_time",
        "openings": 4,
        "open_slots": 10,
        # python: required by o1, o2, o3 (A, B, C); sql: required by o1, o4, preferred by o2 (A, C, B);
        # docker (A, C) withheld
        "skills": [{"skill": "python", "required": 3, "preferred": 0}, {"skill": "sql", "required": 2, "preferred": 1}],
        "credentials": [],  # CompTIA A+ from A and B only
        # hourly: 20, 30, 25 from A, B, C; the yearly wage is C's alone
        "wages": [
            {"currency": "USD", "unit": "hour", "openings": 3, "min": "20.00", "median": "25.00", "max": "30.00"}
        ],
    }
    # docker, the credential, the yearly wage, the part-time cell
    assert b["withheld"]["today"] == 4


def test_a_lower_setting_shows_what_two_employers_share_and_credentials_match_by_normalised_name():
    shown = board(OPENINGS, [], [], min_employers=2)["today"]
    assert [c["employment_type"] for c in shown] == ["full_time"]
    (cell,) = shown
    assert [s["skill"] for s in cell["skills"]] == ["python", "sql", "docker"]
    assert cell["credentials"] == [{"credential": "CompTIA A+", "key": "comptia a+", "openings": 2}]


def test_a_newer_forecast_replaces_the_older_whatever_the_order():
    kept = current(FORECASTS)
    assert [(f.employer_id, f.horizon_months, f.slots) for f in kept] == [
        ("A", 6, 4),
        ("A", 12, 7),
        ("B", 12, 3),
        ("C", 12, 2),
        ("D", 12, 0),
    ]
    assert current(reversed(FORECASTS)) == kept


def test_forecast_cells_count_slots_of_employers_expecting_some():
    b = board([], FORECASTS, [])
    assert b["forecast"] == [
        {
            "occupation": DEV,
            "employment_type": "full_time",
            "horizon_months": 12,
            "slots": 12,  # 7 + 3 + 2
            "skills": [{"skill": "python", "slots": 12, "employers": 3}],  # sql: A and C only
            "credentials": [{"credential": "CompTIA A+", "key": "ce-x", "slots": 12, "employers": 3}],
        }
    ]
    assert b["withheld"]["forecast"] == 2  # sql, and the 6-month cell of A alone


def test_hiring_standards_are_public_with_the_employers_name():
    (acme, zeta) = board([], [], STANDARDS)["hiring_standards"]
    assert acme == {
        "employer_name": "Acme",
        "occupation": DEV,
        "opening_id": None,
        "opening_title": None,
        "stages": ["screening_call", "technical_interview", "panel"],
        "interview_format": "hybrid",
        "portfolio_expected": False,
        "assessment_expected": True,
        "degree_requirement_dropped": True,
        "accepted_equivalents": [{"name": "CompTIA A+", "ctdl_id": "ce-x"}],
        "published_at": T2.isoformat(),
    }
    assert zeta["employer_name"] == "Zeta Works"


def test_an_openings_own_standards_show_beside_its_occupations_while_it_is_open():
    by_opening = [
        Standards("A", "Acme", DEV, ("work_sample",), "remote", True, False, True, (A_PLUS,), T2, opening_id="o1"),
        Standards("C", "Cyan", DEV, ("panel",), "in_person", False, False, False, (), T2, opening_id="o-closed"),
    ]
    open_ones = [
        OpenOpening("o1", "A", DEV, "full_time", 2, ("python",), (), (), True, Decimal("20"), "hour", "USD", "Data tech")
    ]
    shown = board(open_ones, [], [*STANDARDS, *by_opening])["hiring_standards"]
    assert [(s["employer_name"], s["opening_id"], s["opening_title"]) for s in shown] == [
        ("Acme", None, None),  # the occupation's first, then its openings'
        ("Acme", "o1", "Data tech"),
        ("Zeta Works", None, None),
    ]  # Cyan's opening is not open: its standards left the board with it
    assert shown[1]["stages"] == ["work_sample"] and shown[1]["degree_requirement_dropped"] is True


def test_the_skills_gap_shows_the_forecast_in_its_own_columns():
    openings = [
        OpeningRecord(o.opening_id, o.employer_id, o.onet_soc_code, o.required_skills, o.preferred_skills, T1)
        for o in OPENINGS
    ]
    without = skills_gap([], openings)
    with_forecast = skills_gap([], openings, forecast=forecast_by_occupation(board([], FORECASTS, [])["forecast"]))
    (before,), (after,) = without["occupations"], with_forecast["occupations"]
    assert after["demanded"] == before["demanded"] and after["openings"] == before["openings"] == 5
    assert before["forecast_slots"] == {"6_months": None, "12_months": None} and before["forecast_skills"] == []
    assert after["forecast_slots"] == {"6_months": None, "12_months": 12}
    assert after["forecast_skills"] == [{"skill": "python", "slots_6_months": 0, "slots_12_months": 12}]


def test_no_shown_cell_or_line_comes_from_fewer_employers_than_the_setting():
    rng = random.Random(16)
    skills = ["python", "sql", "docker", "excel"]
    for _ in range(200):
        n = rng.choice([2, 3, 4])
        openings = [
            opening(
                f"o{i}",
                rng.choice("ABCDE"),
                rng.choice(["full_time", None]),
                rng.randint(1, 5),
                tuple(rng.sample(skills, 2)),
                amount=str(rng.randint(15, 40)),
                unit=rng.choice(["hour", "year"]),
            )
            for i in range(rng.randint(0, 12))
        ]
        for cell in board(openings, [], [], n)["today"]:
            mine = [o for o in openings if (o.employment_type or "not_said") == cell["employment_type"]]
            assert len({o.employer_id for o in mine}) >= n
            for line in cell["skills"]:
                named = {o.employer_id for o in mine if line["skill"] in o.required_skills + o.preferred_skills}
                assert len(named) >= n
            for w in cell["wages"]:
                assert len({o.employer_id for o in mine if o.wage_unit == w["unit"]}) >= n


def test_the_report_renders_the_board_as_csv_and_escaped_html():
    from services.outcomes.reports.render import _demand_csv, _demand_section

    hostile = Standards("emp_x", "<script>x</script> Ltd", DEV, ("panel",), "in_person", False, False, False, (), T1)
    shown = board(OPENINGS, FORECASTS, [*STANDARDS, hostile])
    files = _demand_csv(shown)
    today = files["demand_today.csv"].splitlines()
    assert today[0] == (
        "occupation,employment_type,openings,open_slots,line,name,required_or_openings,preferred,min,median,max"
    )
    assert f"{DEV},full_time,4,10,wage,USD per hour,3,,20.00,25.00,30.00" in today
    assert f"{DEV},full_time,12,12,credential,CompTIA A+,12,3" in files["demand_forecast.csv"].splitlines()
    assert "Acme,15-1252.00,,screening_call > technical_interview > panel,hybrid" in files["hiring_standards.csv"]
    page = _demand_section(shown)
    assert 'id="demand"' in page and 'id="hiring-standards"' in page and "<script>" not in page
    assert "&lt;script&gt;x&lt;/script&gt; Ltd" in page and "4 of today" in page
