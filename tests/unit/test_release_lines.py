"""The lines across years held beyond the people and the funnel's stages (issue 16; docs/transparency.md,
"Across years"): 180-day retention, the people placed by employment type, and the program outcomes'
counts that are not the funnel's (people still in training, placements, good jobs assessed, good jobs).
Each scenario keeps a program's people and moves one of these by 3 between two releases: held only to
the old lines the attacker gets the 3 back by subtraction of the program's rows; held to every line it
gets nothing. The earlier release is held to as `publish` stores it: its published rows and what it
computed (`held`)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.outcomes import pipeline
from services.outcomes.public_api import program_rows
from services.outcomes.records import Conversion, EarnedCredentialRecord, EnrollmentRecord, Placement, ReferralRecord
from services.outcomes.reports import DemandInputs
from services.outcomes.reports import across_years as rule
from services.outcomes.reports.across_years import Earlier
from services.outcomes.reports.credentials import Enrollment, Inputs, Program
from services.outcomes.reports.groups import SMALL_GROUPS
from services.outcomes.reports.release import build, public_reports
from services.outcomes.reports.suppression import THRESHOLD
from tests.unit.test_release import DEV, POLICY, POSITION, rows, tightest
from tests.unit.test_reports_suppression import recovered

pytestmark = pytest.mark.unit

T = datetime(2025, 3, 1, tzinfo=UTC)
# A program's spec: people enrolled; of them placed (the first ones), placed in an internship (the first
# of those), converted to full time (of the interns), placed twice, placed below the good-job wage (after
# the interns), retained at 90 days (the stage), retained at 180 days (a flag); exited without completing and still in training (the last ones).
KEYS = ("people", "placed", "intern", "converted", "twice", "bad", "r90", "r180", "exited", "training")
# The lines each scenario moves, as the pipeline table and the program outcomes name them.
LINES = ("retained_180_days", "full_time", "internship", *rule.OUTCOME_LINES)


def spec(provider: str, **counts: int) -> dict:
    return {"provider": provider, **dict.fromkeys(KEYS, 0), **counts}


def job(kind: str, wage: str, start: date) -> Placement:
    return Placement("E1", "Developer", DEV, Decimal(wage), "hour", "USD", 40.0, kind, True, False, True, start)


def dataset(programs: dict[str, dict]) -> tuple:
    progs, enrollments, referrals = [], [], []
    for pid, s in programs.items():
        progs.append(Program(pid, s["provider"], f"Program {pid}", f"Cert {pid}", None, (DEV,), Decimal("100"), "USD"))
        for n in range(s["people"]):
            person = f"{pid}-{n}"
            if n >= s["people"] - s["training"]:
                record = EnrollmentRecord(f"e-{person}", s["provider"], pid, person, date(2025, 1, 5), "in_training")
            elif n >= s["people"] - s["training"] - s["exited"]:
                record = EnrollmentRecord(
                    f"e-{person}", s["provider"], pid, person, date(2025, 1, 5), "exited", exited_on=date(2025, 2, 1)
                )
            else:
                record = EnrollmentRecord(
                    f"e-{person}",
                    s["provider"],
                    pid,
                    person,
                    date(2025, 1, 5),
                    "completed",
                    completed_on=date(2025, 3, 1),
                    credentials=(EarnedCredentialRecord(f"Cert {pid}", "Issuer", None, date(2025, 3, 1)),),
                )
            enrollments.append(Enrollment(person, record))
            if n >= s["placed"]:
                continue
            intern = n < s["intern"]
            placement = job(
                "internship" if intern else "full_time", "20" if n < s["intern"] + s["bad"] else "30", T.date()
            )
            referral = ReferralRecord(
                f"r-{person}",
                s["provider"],
                T,
                reached={"placed": T, **({"retained_90_days": T} if n < s["r90"] else {})},
                status="hired",
                outcome="placed",
                placement=placement,
                person_key=person,
                flags=("retained_180_days",) if n < s["r180"] else (),
                conversion=Conversion(
                    T.date(), "internship", "full_time", replace(placement, employment_type="full_time")
                )
                if intern and n < s["converted"]
                else None,
            )
            referrals.append(referral)
            if n < s["twice"]:
                again = job("full_time", "30", date(2025, 6, 1))
                referrals.append(
                    replace(referral, referral_id=f"r2-{person}", placement=again, flags=(), conversion=None)
                )
    training = (
        [pipeline.enrolled_of(e.person_key, e.record) for e in enrollments],
        [pipeline.hire_of(r) for r in referrals],
    )
    return training, Inputs(tuple(progs), tuple(enrollments), tuple(referrals))


def truth(s: dict, line: str) -> int:
    """What the program's row shows in the line (each person enrolls once)."""
    assessed = s["placed"] - s["intern"] + s["twice"]
    return {
        "retained_180_days": s["r180"],
        "full_time": s["placed"] - s["intern"] + s["converted"],
        "internship": s["intern"],
        "still_in_training": s["training"],
        "placements": s["placed"] + s["twice"],
        "good_jobs_assessed": assessed,
        "good_jobs": assessed - s["bad"],
    }[line]


def stored(year: int, files: dict[str, bytes], reports: dict) -> Earlier:
    """The release as `publish` stores it and reads it back (public_api.stored_releases)."""
    table = json.loads(files["tables/program_outcomes.json"])
    named = frozenset(r[table["columns"].index("program")] for r in table["rows"]) - {SMALL_GROUPS}
    published = program_rows(json.loads(files["tables/pipeline.json"]), table)
    return Earlier(year, str(year).ljust(64, "0"), named, {}, {}, published, None, reports["held"])


def two_releases(before: dict, after: dict) -> tuple[dict, dict]:
    training, inputs = dataset(before)
    reports = public_reports(training, inputs, DemandInputs(), POLICY, 3)
    first = build(2025, POSITION, reports, 3)
    training, inputs = dataset(after)
    second = build(
        2026,
        POSITION,
        public_reports(training, inputs, DemandInputs(), POLICY, 3, None, stored(2025, first, reports)),
        3,
    )
    return first, second


def line_rows(programs: dict, files: dict[str, bytes], line: str) -> list[tuple[frozenset[str], str]]:
    """Every row of the release that shows `line`, as (the programs it covers, the figure): the pipeline
    table's total, providers and programs, the program and credential outcomes (the reader knows each
    program's provider and credential: a named row covers its programs, a combined row the others)."""

    def member(dimension: str, pid: str) -> str:
        return {"provider": programs[pid]["provider"], "program": pid, "credential": f"Cert {pid}"}[dimension]

    def covering(dimension: str, group: str, named: set[str]) -> frozenset[str]:
        if dimension == "total":
            return frozenset(programs)
        if group == SMALL_GROUPS:
            return frozenset(p for p in programs if member(dimension, p) not in named)
        return frozenset(p for p in programs if member(dimension, p) == group)

    out = []
    found = [r for r in rows(files, "pipeline") if r["dimension"] in ("total", "provider", "program")]
    for r in found:
        if r["line"] == line:
            named = {x["group"] for x in found if x["dimension"] == r["dimension"]} - {SMALL_GROUPS}
            out.append((covering(r["dimension"], r["group"], named), r["people"]))
    for table, column, dimension in (
        ("program_outcomes", "program", "program"),
        ("credential_outcomes", "name", "credential"),
    ):
        found = rows(files, table)
        named = {r[column] for r in found} - {SMALL_GROUPS}
        out += [(covering(dimension, r[column], named), r[line]) for r in found if line in r]
    return out


def attack(before: dict, first: dict, after: dict, second: dict) -> dict:
    """Bounds, in every line of LINES, on how much each program and each provider's programs moved
    between the releases where that is 1 to THRESHOLD, from every row of both that shows the line."""
    eqs, values, targets = [], {}, []
    for line in LINES:
        for tag, programs, files in (("then", before, first), ("now", after, second)):
            for members, figure in line_rows(programs, files, line):
                if figure not in ("suppressed", ""):
                    eqs.append(({(tag, p, line): 1 for p in members}, int(figure)))
            values |= {(tag, p, line): truth(s, line) for p, s in programs.items()}
        providers = {s["provider"] for s in after.values()}
        groups = {p: [p] for p in after} | {
            f"provider {a}": [p for p in after if after[p]["provider"] == a] for a in providers
        }
        for name, members in groups.items():
            moved = sum(values["now", p, line] for p in members) - sum(
                values["then", p, line] for p in members if p in before
            )
            sign = 1 if moved >= 0 else -1
            x = ("moved", name, line)
            terms = {("now", p, line): sign for p in members} | {
                ("then", p, line): -sign for p in members if p in before
            }
            eqs.append(({**terms, x: -1}, 0))
            values[x] = abs(moved)
            if 1 <= abs(moved) <= THRESHOLD:
                targets.append(x)
    return tightest(eqs, values, targets, 4 * sum(s["people"] for s in after.values()) + 12)


def old_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule as it was: only the people, the training lines and the stages to 90 days held."""
    monkeypatch.setattr(rule, "LINES_HELD", ("enrolled", *rule.TRAINING_LINES, *rule.STAGES))


GROWS = spec("B", people=14, placed=12)  # P2: twelve join it, none placed (nothing else moves by 1 to 10)
GROWN = spec("B", people=26, placed=12)
SCENARIOS = {
    # all 12 retained at 90 days both times (a 180-day retention counts as 90 days too: held by that)
    "retained_180_days": (
        spec("A", people=15, placed=12, r90=12, r180=4),
        spec("A", people=15, placed=12, r90=12, r180=7),
    ),
    "full_time": (
        spec("A", people=15, placed=12, intern=5, converted=1),
        spec("A", people=15, placed=12, intern=5, converted=4),
    ),
    "placements": (spec("A", people=15, placed=12), spec("A", people=15, placed=12, twice=3)),
    "good_jobs": (spec("A", people=15, placed=12, bad=5), spec("A", people=15, placed=12, bad=2)),
    "still_in_training": (spec("A", people=15, training=5), spec("A", people=15, training=2, exited=3)),
}


@pytest.mark.parametrize("line", SCENARIOS)
def test_held_only_to_the_old_lines_the_attacker_gets_the_move_back_so_the_test_can_fail(monkeypatch, line):
    old_rule(monkeypatch)
    then, now = SCENARIOS[line]
    before, after = {"P1": then, "P2": GROWS}, {"P1": now, "P2": GROWN}
    first, second = two_releases(before, after)
    assert recovered(attack(before, first, after, second))[("moved", "P1", line)] == (3, 3, 3)


@pytest.mark.parametrize("line", SCENARIOS)
def test_held_to_every_line_the_attacker_gets_nothing(line):
    then, now = SCENARIOS[line]
    before, after = {"P1": then, "P2": GROWS}, {"P1": now, "P2": GROWN}
    first, second = two_releases(before, after)
    assert recovered(attack(before, first, after, second)) == {}
    # P1 moved by 3 in the line: not named, and P2 joins it in the combined row (else the row is P1's)
    assert {r["program"] for r in rows(second, "program_outcomes")} == {SMALL_GROUPS}
    assert {r["program"] for r in rows(first, "program_outcomes")} == {"P1", "P2"}


def test_a_move_of_none_or_more_than_ten_is_shown():
    then = spec("A", people=15, placed=12, intern=5, converted=1, r180=2, twice=1)
    before, after = {"P1": then, "P2": GROWS}, {"P1": then, "P2": GROWN}
    _, second = two_releases(before, after)
    assert {r["program"] for r in rows(second, "program_outcomes")} == {"P1", "P2"}
    more = {"P1": spec("A", people=15, placed=12, twice=12), "P2": GROWN}  # 12 more placements
    _, second = two_releases({"P1": spec("A", people=15, placed=12), "P2": GROWN}, more)
    assert {r["program"] for r in rows(second, "program_outcomes")} == {"P1", "P2"}


def test_every_moved_line_is_in_the_stored_figures_and_the_sets_are_what_the_rows_show():
    now = spec("A", people=15, placed=12, intern=5, converted=4, twice=3, bad=2, r180=7, exited=3, training=2)
    training, inputs = dataset({"P1": now, "P2": GROWN})
    reports = public_reports(training, inputs, DemandInputs(), POLICY, 3)
    files = build(2026, POSITION, reports, 3)
    shown = program_rows(json.loads(files["tables/pipeline.json"]), json.loads(files["tables/program_outcomes.json"]))
    held = reports["held"]
    assert held.blocks == {"P1": "P1", "P2": "P2"}
    for line in LINES:
        assert held.figures[line].get("P1", 0) == shown[line]["P1"] == truth(now, line), line
