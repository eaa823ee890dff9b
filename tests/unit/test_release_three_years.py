"""The suppression attacker across three releases at once (issue 16; docs/transparency.md, "Across
years"): the 2024, 2025 and 2026 releases, each suppressed against those before it, attacked
together. The reader knows which programs every row of every release covers and that each release
counts everyone up to its position, and bounds how many joined each program, and each provider's
programs together, between any two of the releases (2024 to 2025, 2025 to 2026 and 2024 to 2026)
from every people row of the three. The pairwise rule must leave no group of 1 to THRESHOLD
joiners recoverable from their combination either."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.outcomes.reports import DemandInputs
from services.outcomes.reports.across_years import Earlier, program_people
from services.outcomes.reports.groups import SMALL_GROUPS
from services.outcomes.reports.release import build, public_reports
from services.outcomes.reports.suppression import THRESHOLD
from tests.unit.test_release import POLICY, POSITION, covered, dataset, recovered, rows, tightest

pytestmark = pytest.mark.unit

YEARS = (2024, 2025, 2026)


def releases(stages: list[dict], against_earlier: bool = True) -> list[dict[str, bytes]]:
    """A release per stage (cumulative: `dataset` numbers each program's people, so a later stage
    holds the earlier one's people), each suppressed against every release before it."""
    out: list[dict[str, bytes]] = []
    earlier: list[Earlier] = []
    for year, programs in zip(YEARS, stages, strict=False):
        training, inputs = dataset(programs)
        reports = public_reports(
            training, inputs, DemandInputs(), POLICY, 3, None, list(earlier) if against_earlier else None
        )
        files = build(year, POSITION, reports, 3)
        out.append(files)
        named = frozenset(r["program"] for r in rows(files, "program_outcomes")) - {SMALL_GROUPS}
        earlier.append(Earlier(year, f"{year}".ljust(64, "0"), named, program_people(training[0])))
    return out


def attack_all(stages: list[dict], published: list[dict[str, bytes]]) -> dict:
    """Bounds on the people who joined each program, and each provider's programs together, between
    every two releases, where that is 1 to THRESHOLD people, from every people row of all of them."""
    eqs, truth = [], {}
    for tag, (programs, files) in enumerate(zip(stages, published, strict=True)):
        for members, enrolled, _placed in covered(programs, files):
            if enrolled != "suppressed":
                eqs.append(({(tag, p): 1 for p in members}, int(enrolled)))
        truth |= {(tag, p): spec[1] for p, spec in programs.items()}
    last = stages[-1]
    groups = {p: [p] for p in last} | {
        f"provider {a}": [p for p, spec in last.items() if spec[0] == a] for a in {s[0] for s in last.values()}
    }
    targets = []
    for (i, then), (j, now) in itertools.combinations(enumerate(stages), 2):
        for name, members in groups.items():
            x = ("joined", YEARS[i], YEARS[j], name)
            terms = {(j, p): 1 for p in members if p in now} | {(i, p): -1 for p in members if p in then}
            eqs.append(({**terms, x: -1}, 0))
            truth[x] = sum(now[p][1] for p in members if p in now) - sum(then[p][1] for p in members if p in then)
            if 1 <= truth[x] <= THRESHOLD:
                targets.append(x)
    return tightest(eqs, truth, targets, 2 * sum(spec[1] for spec in last.values()) + 12)


# P1 gains 3 between 2024 and 2025 and 3 more by 2026; P2 gains 12 each time.
STAGES = [
    {"P1": ("A", 15, 6), "P2": ("B", 14, 3)},
    {"P1": ("A", 18, 6), "P2": ("B", 26, 3)},
    {"P1": ("A", 21, 6), "P2": ("B", 38, 3)},
]


def test_without_the_rule_the_three_releases_give_the_joiners_back_so_the_test_can_fail():
    found = recovered(attack_all(STAGES, releases(STAGES, against_earlier=False)))
    assert found[("joined", 2024, 2025, "P1")] == (3, 3, 3)
    assert found[("joined", 2024, 2026, "P1")] == (6, 6, 6)


def test_three_releases_each_suppressed_against_the_earlier_ones_give_no_small_group_of_joiners():
    published = releases(STAGES)
    assert recovered(attack_all(STAGES, published)) == {}
    # 2026 is suppressed against both: P1 (3 joiners since 2025, 6 since 2024) is not named
    assert "P1" not in {r["program"] for r in rows(published[2], "program_outcomes")}


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
