from datetime import UTC, datetime

import pytest

from services.outcomes.records import GapRecord, OpeningRecord
from services.outcomes.reports.skills_gap import skills_gap

pytestmark = pytest.mark.unit

T = datetime(2024, 1, 1, tzinfo=UTC)
DEV, HELP = "15-1252.00", "15-1211.00"
OPENINGS = [
    OpeningRecord("o1", "E1", DEV, ("python", "sql"), ("docker",), T),
    OpeningRecord("o2", "E1", DEV, ("python",), ("sql", "aws"), T),
    OpeningRecord("o3", "E2", DEV, ("java",), (), T),
    OpeningRecord("o4", "E2", HELP, ("excel",), (), T),
]


def gap(outcome, req=(), pref=(), referral=None, declined=False, occ=DEV):
    return GapRecord(occ, outcome, (), (), (), tuple(req), tuple(pref), T, referral, "A", declined)


GAPS = [
    gap("unmatched", ["sql"], ["docker"], "r1"),
    gap("routed", ["sql", "java"], [], "r1", declined=True),  # the same candidate again: counted once
    gap("unmatched", ["sql"], ["aws"], "r2"),
    gap("routed", ["python"], [], "r3"),  # routed and not declined: not counted
    gap("unmatched", ["java"]),  # erased: no referral id, one candidate each
    gap("unmatched", ["java"]),
]


def occupations(top=10):
    return {o["occupation"]: o for o in skills_gap(GAPS, OPENINGS, top)["occupations"]}


def test_demanded_skills_ranked_with_counts_and_shares():
    dev = occupations()[DEV]
    assert dev["openings"] == 3
    assert [(s["skill"], s["required"], s["preferred"], s["share"]) for s in dev["demanded"]] == [
        ("python", 2, 0, 0.6667), ("sql", 1, 1, 0.6667), ("java", 1, 0, 0.3333),
        ("aws", 0, 1, 0.3333), ("docker", 0, 1, 0.3333)]
    assert [s["skill"] for s in occupations(top=3)[DEV]["demanded"]] == ["python", "sql", "java"]


def test_missing_skills_among_unmatched_or_declined_candidates():
    dev = occupations()[DEV]
    assert dev["candidates_not_through"] == 4
    assert [(s["skill"], s["missing_required"], s["missing_preferred"], s["share"]) for s in dev["missing"]] == [
        ("java", 3, 0, 0.75), ("sql", 2, 0, 0.5), ("aws", 0, 1, 0.25), ("docker", 0, 1, 0.25)]


def test_an_occupation_with_openings_and_no_gaps():
    help_desk = occupations()[HELP]
    assert help_desk["demanded"][0] == {"skill": "excel", "required": 1, "preferred": 0, "share": 1.0}
    assert help_desk["missing"] == [] and help_desk["candidates_not_through"] == 0
