"""Peer benchmarks (reports/benchmarks.py): hand-computed medians and quartiles, and the
non-disclosure rule (a coalition of three providers gives a provider nothing of the other two)."""

import json
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.outcomes.reports.benchmarks import benchmarks
from services.outcomes.reports.credentials import Inputs, Program
from tests.unit.test_reports_credentials import POLICY, enrollment, placed

pytestmark = pytest.mark.unit


def program(provider, completed, placed_n=0, people=20, soc="15-1252.00", credential=None, pid=None):
    """A program of `people` participants, `completed` of them completed and `placed_n` placed."""
    pid = pid or f"{provider}-prog"
    p = Program(pid, provider, f"{provider} course", credential, None, (soc,), Decimal("0"))
    es = [enrollment(f"{pid}-{n}", pid, provider, "completed" if n < completed else "in_training")
          for n in range(people)]
    rs = [placed(f"{pid}-r{n}", f"{pid}-{n}", provider, date(2024, 3, 1), "30") for n in range(placed_n)]
    return p, es, rs


def coalition(*programs) -> Inputs:
    return Inputs(tuple(p for p, _, _ in programs), tuple(e for _, es, _ in programs for e in es),
                  tuple(r for _, _, rs in programs for r in rs))


def metric(row, name):
    return next(m for m in row["metrics"] if m["metric"] == name)


def test_three_providers_give_a_provider_nothing_of_the_other_two():
    inputs = coalition(program("A", 5, 1), program("B", 10, 2), program("C", 15, 3))
    out = benchmarks(inputs, POLICY, provider="A")
    [row] = out["programs"]
    assert row["program"] == "A-prog" and metric(row, "completion_rate")["value"] == 0.25
    for m in row["metrics"]:
        assert all(m[k] is None for k in ("median", "p25", "p75", "peer_programs", "peer_providers"))
        assert m["withheld"] == "fewer than 3 other providers"
    text = json.dumps(out)
    assert "B-prog" not in text and "C-prog" not in text and "B course" not in text and '"B"' not in text
    # No figure of B's or C's is given (theirs differ from A's in every metric but the good-job rate,
    # which is 1.0 for all three: the same jobs).
    theirs = benchmarks(inputs, POLICY)["programs"]
    others = {metric(r, m)["value"] for r in theirs if r["provider"] != "A" for m in ("completion_rate", "placement_rate")}
    shown = {v for m in row["metrics"] for v in (m["value"], m["median"], m["p25"], m["p75"])}
    assert others == {0.5, 0.75, 0.1, 0.15} and not others & shown
    # An operator sees every program with its provider and name.
    assert [(r["provider"], r["name"]) for r in theirs] == [("A", "A course"), ("B", "B course"), ("C", "C course")]


def test_median_and_quartiles_hand_computed():
    # Six other providers with completion rates .2 .3 .4 .5 .6 .7 (of 20 each).
    others = [program(p, c) for p, c in zip("BCDEFG", (4, 6, 8, 10, 12, 14), strict=True)]
    inputs = coalition(program("A", 5), *others)
    m = metric(benchmarks(inputs, POLICY, provider="A")["programs"][0], "completion_rate")
    # Inclusive percentiles: position 1.25 -> .3 + .25 * .1; 2.5 -> .45; 3.75 -> .5 + .75 * .1.
    assert (m["median"], m["p25"], m["p75"]) == (0.45, 0.325, 0.575)
    assert (m["peer_programs"], m["peer_providers"], m["withheld"]) == (6, 6, None)
    # With four other providers: the median, not the quartiles.
    m4 = metric(benchmarks(coalition(program("A", 5), *others[:4]), POLICY, provider="A")["programs"][0],
                "completion_rate")
    assert (m4["median"], m4["p25"], m4["p75"]) == (0.35, None, None)
    assert m4["withheld"] == "quartiles need 6 other providers"


def test_one_providers_several_programs_count_once_and_small_programs_are_no_peers():
    inputs = coalition(program("A", 5), program("B", 4, pid="B1"), program("B", 6, pid="B2"), program("B", 8, pid="B3"),
                       program("C", 10), program("D", 12, people=10))  # D: 10 people, not a peer
    m = metric(benchmarks(inputs, POLICY, provider="A")["programs"][0], "completion_rate")
    assert m["median"] is None and m["withheld"] == "fewer than 3 other providers"


def test_the_same_credential_first_else_the_occupation_family():
    cert = "Cloud Practitioner"
    same = [program(p, c, credential=cert, soc="11-3021.00") for p, c in zip("BCD", (4, 6, 8), strict=True)]
    family = [program(p, c) for p, c in zip("EFG", (12, 14, 16), strict=True)]
    a = program("A", 5, credential=cert)
    row = benchmarks(coalition(a, *same, *family), POLICY, provider="A")["programs"][0]
    assert (row["basis"], row["group"]) == ("credential", "name:cloud practitioner")
    assert metric(row, "completion_rate")["median"] == 0.3
    # Two others on the credential: too few, so the occupation family 15 (E, F and G; B and C are in 11).
    row = benchmarks(coalition(a, *same[:2], *family), POLICY, provider="A")["programs"][0]
    assert (row["basis"], row["group"]) == ("occupation_family", "15")
    assert metric(row, "completion_rate")["median"] == 0.7


def test_a_providers_small_program_is_suppressed_but_still_compared():
    inputs = coalition(program("A", 2, people=8), *(program(p, c) for p, c in zip("BCD", (4, 6, 8), strict=True)))
    row = benchmarks(inputs, POLICY, provider="A")["programs"][0]
    assert row["suppressed"] and row["participants"] is None
    assert all(m["value"] is None for m in row["metrics"]) and metric(row, "completion_rate")["median"] == 0.3
    operator = benchmarks(inputs, POLICY)["programs"][0]
    assert not operator["suppressed"] and metric(operator, "completion_rate")["value"] == 0.25


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("BCDEFGH"), st.integers(8, 14), st.integers(0, 8)), max_size=12))
def test_a_provider_gets_a_statistic_only_over_enough_other_providers_and_never_their_names(peers):
    programs = [program("A", 3, 1)] + [
        program(p, c, placed_n, people=n, pid=f"{p}-{i}") for i, (p, n, c) in enumerate(peers)
        for placed_n in [c // 2]]
    out = benchmarks(coalition(*programs), POLICY, provider="A")
    providers = {p for p, n, _ in peers if n > 10}
    text = json.dumps(out)
    assert all(f'"{p}-' not in text and f"{p} course" not in text for p, _, _ in peers)
    for m in out["programs"][0]["metrics"]:
        if m["metric"] in ("completion_rate", "placement_rate"):  # every peer has a value
            assert (m["median"] is not None) == (len(providers) >= 3)
            assert (m["p25"] is not None) == (len(providers) >= 6)
        for k in ("value", "median", "p25", "p75"):
            assert m[k] is None or m["metric"] == "median_days_to_placement" or 0 <= m[k] <= 1
