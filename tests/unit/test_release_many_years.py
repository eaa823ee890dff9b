"""The suppression attacker across three and four releases at once (issue 16; docs/transparency.md,
"Across years"): the releases of 2023 to 2026, each suppressed against those before it (as
`talentloop publish` stores them), attacked together. The reader knows which programs every row of
every release covers and that each release counts everyone up to its position, and bounds how many
joined each program, and each provider's programs together, and how many of them were placed,
between any two of the releases (every pair: their combinations follow, the bounds search being over
every release's rows together) from every people row of all of them. The pairwise rule must leave no
group of 1 to THRESHOLD joiners, nor of 1 to THRESHOLD placed in between, recoverable."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.outcomes.reports import DemandInputs
from services.outcomes.reports.across_years import Earlier, program_people, stage_people
from services.outcomes.reports.groups import SMALL_GROUPS
from services.outcomes.reports.release import build, public_reports
from services.outcomes.reports.suppression import THRESHOLD
from tests.unit.test_release import POLICY, POSITION, covered, dataset, recovered, rows, tightest

pytestmark = pytest.mark.unit

YEARS = (2023, 2024, 2025, 2026)
FIGURES = ("people", "placed")


def releases(stages: list[dict], against_earlier: bool = True) -> list[dict[str, bytes]]:
    """A release per stage (cumulative: `dataset` numbers each program's people, and places the first
    ones, so a later stage holds the earlier one's people and placed), each suppressed against every
    release before it."""
    out: list[dict[str, bytes]] = []
    earlier: list[Earlier] = []
    for year, programs in zip(YEARS[-len(stages) :], stages, strict=True):
        training, inputs = dataset(programs)
        reports = public_reports(
            training, inputs, DemandInputs(), POLICY, 3, None, list(earlier) if against_earlier else None
        )
        files = build(year, POSITION, reports, 3)
        out.append(files)
        named = frozenset(r["program"] for r in rows(files, "program_outcomes")) - {SMALL_GROUPS}
        earlier.append(
            Earlier(year, f"{year}".ljust(64, "0"), named, program_people(training[0]), stage_people(*training))
        )
    return out


def attack_all(stages: list[dict], published: list[dict[str, bytes]]) -> dict:
    """Bounds on the people who joined each program, and each provider's programs together, and on
    those of them placed, between every two releases, where that is 1 to THRESHOLD people, from every
    people row of all of them: (var -> (true value, lo, hi))."""
    years = YEARS[-len(stages) :]
    eqs, truth = [], {}
    for tag, (programs, files) in enumerate(zip(stages, published, strict=True)):
        for members, enrolled, placed in covered(programs, files):
            if "suppressed" not in (enrolled, placed):
                eqs.append(({(tag, p, "people"): 1 for p in members}, int(enrolled)))
                eqs.append(({(tag, p, "placed"): 1 for p in members}, int(placed)))
        for p, (_, people, placed) in programs.items():
            truth |= {(tag, p, "people"): people, (tag, p, "placed"): placed}
            eqs.append(({(tag, p, "people"): 1, (tag, p, "placed"): -1, (tag, p, "not placed"): -1}, 0))
            truth[tag, p, "not placed"] = people - placed
    last = stages[-1]
    groups = {p: [p] for p in last} | {
        f"provider {a}": [p for p, spec in last.items() if spec[0] == a] for a in {s[0] for s in last.values()}
    }
    targets = []
    for (i, then), (j, now) in itertools.combinations(enumerate(stages), 2):
        for name, members in groups.items():
            for figure in FIGURES:
                x = ("joined", years[i], years[j], name, figure)
                terms = {(j, p, figure): 1 for p in members if p in now}
                terms |= {(i, p, figure): -1 for p in members if p in then}
                eqs.append(({**terms, x: -1}, 0))
                truth[x] = sum(truth[j, p, figure] for p in members if p in now) - sum(
                    truth[i, p, figure] for p in members if p in then
                )
                if 1 <= truth[x] <= THRESHOLD:
                    targets.append(x)
    return tightest(eqs, truth, targets, 2 * sum(spec[1] for spec in last.values()) + 12)


# Four years: P1 gains 3 people a year (and a placed or two), P2 12 (and two to three placed), so
# every pair of releases, and every sum of pairs, differs by 1 to 10 in P1's people and placed.
FOUR = [
    {"P1": ("A", 15, 6), "P2": ("B", 14, 3)},
    {"P1": ("A", 18, 7), "P2": ("B", 26, 5)},
    {"P1": ("A", 21, 9), "P2": ("B", 38, 8)},
    {"P1": ("A", 24, 10), "P2": ("B", 50, 11)},
]
# Three years: P1 gains 3 people each time, P2 12; nobody is placed.
THREE = [
    {"P1": ("A", 15, 0), "P2": ("B", 14, 0)},
    {"P1": ("A", 18, 0), "P2": ("B", 26, 0)},
    {"P1": ("A", 21, 0), "P2": ("B", 38, 0)},
]


def test_without_the_rule_the_four_releases_give_the_joiners_back_so_the_test_can_fail():
    found = recovered(attack_all(FOUR, releases(FOUR, against_earlier=False)))
    for (i, a), (j, b) in itertools.combinations(enumerate(YEARS), 2):
        assert found[("joined", a, b, "P1", "people")] == (3 * (j - i),) * 3
        assert found[("joined", a, b, "P1", "placed")][0] == FOUR[j]["P1"][2] - FOUR[i]["P1"][2]
    found = recovered(attack_all(THREE, releases(THREE, against_earlier=False)))
    assert found[("joined", 2024, 2025, "P1", "people")] == (3, 3, 3)
    assert found[("joined", 2024, 2026, "P1", "people")] == (6, 6, 6)


@pytest.mark.parametrize("stages", [THREE, FOUR], ids=["three", "four"])
def test_releases_each_suppressed_against_the_earlier_ones_give_no_small_group_of_joiners(stages):
    published = releases(stages)
    assert recovered(attack_all(stages, published)) == {}
    # the first is suppressed against nothing (P1 and P2 named); every later one against those before it
    assert {r["program"] for r in rows(published[0], "program_outcomes")} == {"P1", "P2"}
    for files in published[1:]:
        assert "P1" not in {r["program"] for r in rows(files, "program_outcomes")}


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from("ABC"), st.integers(0, 25), st.integers(0, 12), st.integers(0, 12)),
        min_size=1,
        max_size=4,
    )
)
def test_the_attacker_across_three_releases_recovers_nothing(specs):
    stages = [
        {f"P{n}": (a, people, 0) for n, (a, first, *joined) in enumerate(specs) if (people := first + sum(joined[:k]))}
        for k in range(3)
    ]
    assert recovered(attack_all(stages, releases(stages))) == {}, stages


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from("AB"),
            st.lists(st.integers(0, 12), min_size=4, max_size=4),
            st.lists(st.integers(0, 4), min_size=4, max_size=4),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_the_attacker_across_four_releases_recovers_nothing(specs):
    """Four years of small gains: each year a program gains 0 to 12 people, 0 to 4 of them placed
    (never more placed than people)."""
    stages = []
    for k in range(4):
        stage = {}
        for n, (a, joined, placed) in enumerate(specs):
            people = sum(joined[: k + 1])
            if people:
                stage[f"P{n}"] = (a, people, sum(min(p, j) for p, j in zip(placed[: k + 1], joined, strict=False)))
        stages.append(stage)
    assert recovered(attack_all(stages, releases(stages))) == {}, stages
