import random
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
    return GapRecord(occ, outcome, (), tuple(req), tuple(pref), T, referral, "A", declined)


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
        ("python", 2, 0, 0.6667),
        ("sql", 1, 1, 0.6667),
        ("java", 1, 0, 0.3333),
        ("aws", 0, 1, 0.3333),
        ("docker", 0, 1, 0.3333),
    ]
    assert [s["skill"] for s in occupations(top=3)[DEV]["demanded"]] == ["python", "sql", "java"]


def test_missing_skills_among_unmatched_or_declined_candidates():
    dev = occupations()[DEV]
    assert dev["candidates_not_through"] == 4
    assert [(s["skill"], s["missing_required"], s["missing_preferred"], s["share"]) for s in dev["missing"]] == [
        ("java", 3, 0, 0.75),
        ("sql", 2, 0, 0.5),
        ("aws", 0, 1, 0.25),
        ("docker", 0, 1, 0.25),
    ]


def test_an_occupation_with_openings_and_no_gaps():
    help_desk = occupations()[HELP]
    assert help_desk["demanded"][0] == {"skill": "excel", "required": 1, "preferred": 0, "share": 1.0}
    assert help_desk["missing"] == [] and help_desk["candidates_not_through"] == 0


def test_a_partner_sees_demand_only_from_enough_employers_an_operator_every_opening():
    # DEV's openings come from E1 and E2, HELP's from E2 alone.
    partner = skills_gap(GAPS, OPENINGS, min_employers=2)
    by_occ = {o["occupation"]: o for o in partner["occupations"]}
    dev = by_occ[DEV]
    assert dev["openings"] == 3
    # No skill of DEV is named by openings of both employers: each is left out, and counted.
    assert dev["demanded"] == [] and partner["withheld"] == {"occupations": 1, "skills": 5}
    assert HELP not in by_occ  # a withheld occupation is not named when nothing else shows it
    # The supply side is the partner's own candidates: shown as before.
    assert dev["missing"] == occupations()[DEV]["missing"]

    one_employer = skills_gap(GAPS[:1] + [gap("unmatched", ["excel"], occ=HELP)], OPENINGS, min_employers=3)
    help_desk = {o["occupation"]: o for o in one_employer["occupations"]}[HELP]
    assert help_desk["openings"] is None and help_desk["demanded"] == []  # not a 0: fewer than 3 employers
    assert one_employer["withheld"] == {"occupations": 2, "skills": 0} and one_employer["min_employers"] == 3

    operator = skills_gap(GAPS, OPENINGS)
    assert operator["withheld"] == {"occupations": 0, "skills": 0} and operator["min_employers"] is None
    assert {o["occupation"]: o["openings"] for o in operator["occupations"]} == {DEV: 3, HELP: 1}
    assert occupations()[HELP]["demanded"] == [{"skill": "excel", "required": 1, "preferred": 0, "share": 1.0}]


def test_a_skill_two_employers_name_is_shown_the_others_counted():
    openings = [*OPENINGS, OpeningRecord("o5", "E2", DEV, ("python",), ("sql",), T)]
    dev = {o["occupation"]: o for o in skills_gap([], openings, min_employers=2)["occupations"]}[DEV]
    assert [(s["skill"], s["required"], s["preferred"], s["share"]) for s in dev["demanded"]] == [
        ("python", 3, 0, 0.75),
        ("sql", 1, 2, 0.75),
    ]


@pytest.mark.parametrize("seed", range(20))
def test_no_shown_demand_line_comes_from_fewer_employers_than_the_rule(seed):
    rng = random.Random(seed)
    skills, occs = ["python", "sql", "java", "excel", "aws"], [DEV, HELP, "29-1141.00"]
    openings = [
        OpeningRecord(
            f"o{i}",
            f"E{rng.randrange(6)}",
            rng.choice(occs),
            tuple(rng.sample(skills, rng.randrange(3))),
            tuple(rng.sample(skills, rng.randrange(3))),
            T,
        )
        for i in range(rng.randrange(1, 40))
    ]
    n = rng.randrange(2, 5)
    report = skills_gap([], openings, top=len(skills), min_employers=n)
    exact = {o["occupation"]: o for o in skills_gap([], openings, top=len(skills))["occupations"]}
    shown_lines = 0
    for occ in report["occupations"]:
        group = [o for o in openings if o.onet_soc_code == occ["occupation"]]
        assert len({o.employer_id for o in group}) >= n and occ["openings"] == len(group)
        for line in occ["demanded"]:
            naming = {o.employer_id for o in group if line["skill"] in {*o.required_skills, *o.preferred_skills}}
            assert len(naming) >= n
            assert line in exact[occ["occupation"]]["demanded"]  # what is shown is exact
        shown_lines += len(occ["demanded"])
    # Everything the exact report shows is either shown or counted as withheld.
    withheld = report["withheld"]
    assert len(report["occupations"]) + withheld["occupations"] == len(exact)
    shown_occ = {o["occupation"] for o in report["occupations"]}
    assert shown_lines + withheld["skills"] == sum(len(o["demanded"]) for k, o in exact.items() if k in shown_occ)


def test_the_html_says_an_occupations_openings_were_withheld_not_none():
    from services.outcomes.reports.render import _skills_section  # noqa: PLC0415 - the section alone

    partner = skills_gap(GAPS[:1] + [gap("unmatched", ["excel"], occ=HELP)], OPENINGS, min_employers=3)
    html = _skills_section(partner)
    assert "None openings" not in html
    assert "openings of fewer than 3 employers (withheld)" in html
    assert "Skills most demanded by 1 openings" in _skills_section(skills_gap(GAPS, OPENINGS))
