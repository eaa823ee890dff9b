"""Small-cell suppression and the attacker who tries to undo it.

What "cannot be recovered" means here. The attacker knows every published figure of the tables
(cells and margins), that each row and column of a table adds up to its total, that tables of
the same people share their column totals, and that every count is a non-negative integer.
For each suppressed cell the attacker computes the tightest bounds [lo, hi] over all integer
tables consistent with that (exactly: bounds propagation, then a search for a completion at
each candidate value). A suppressed cell whose true count is from 1 to 10 is RECOVERED when
- lo == hi (pinned to one value), or
- 1 <= lo and hi <= 10 and hi - lo < 2 (known to be a small non-zero count, within two values).
The tests assert that no suppressed cell is recovered, on crafted tables and on random ones, and
that the same attacker does recover cells from naive suppressions (so the test can fail).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.outcomes.reports.suppression import lines, primary, suppress, suppress_jointly, with_margins

pytestmark = pytest.mark.unit


# --- the attacker ------------------------------------------------------------------------------


def _equations(grids, hidden_sets, shared_totals, groups=None):
    """Linear equations sum(coef * var) = const over the suppressed cells of several tables. Tables
    of the same group (`groups`, one label per table; by default all one) share their last row."""

    def var(t, i, j):
        last = len(grids[t]) - 1
        group = groups[t] if groups else None
        return ("shared", group, j) if shared_totals and i == last else (t, i, j)

    eqs, truth = [], {}
    for t, (grid, hidden) in enumerate(zip(grids, hidden_sets, strict=True)):
        n_rows, n_cols = len(grid), len(grid[0])
        for line in lines(n_rows, n_cols):
            total = line[-1]
            terms, const = {}, 0
            for (i, j) in line:
                coef = -1 if (i, j) == total else 1
                if (i, j) in hidden:
                    v = var(t, i, j)
                    terms[v] = terms.get(v, 0) + coef
                    truth[v] = grid[i][j]
                else:
                    const -= coef * grid[i][j]
            if terms:
                eqs.append((terms, const))
            else:
                assert const == 0
    return eqs, truth


def _propagate(eqs, dom):
    changed = True
    while changed:
        changed = False
        for terms, const in eqs:
            for x, a in terms.items():
                rest_lo = sum(c * (dom[y][0] if c > 0 else dom[y][1]) for y, c in terms.items() if y != x)
                rest_hi = sum(c * (dom[y][1] if c > 0 else dom[y][0]) for y, c in terms.items() if y != x)
                # a * x = const - rest
                lo, hi = sorted(((const - rest_hi) / a, (const - rest_lo) / a))
                new = (max(dom[x][0], int(-(-lo // 1))), min(dom[x][1], int(hi // 1)))
                if new[0] > new[1]:
                    return None
                if new != dom[x]:
                    dom[x] = new
                    changed = True
    return dom


def _feasible(eqs, dom) -> bool:
    dom = _propagate(eqs, dict(dom))
    if dom is None:
        return False
    open_ = [x for x, (lo, hi) in dom.items() if lo < hi]
    if not open_:
        return all(sum(a * dom[x][0] for x, a in terms.items()) == const for terms, const in eqs)
    x = min(open_, key=lambda y: dom[y][1] - dom[y][0])
    return any(_feasible(eqs, {**dom, x: (v, v)}) for v in range(dom[x][0], dom[x][1] + 1))


def attack(grids, hidden_sets, shared_totals=True, groups=None):
    """(var -> (true value, lo, hi)) for every suppressed cell: the tightest integer bounds."""
    eqs, truth = _equations(grids, hidden_sets, shared_totals, groups)
    cap = 2 * max(g[-1][-1] for g in grids) + 12  # search bound; a bound at cap means "unbounded"
    dom = _propagate(eqs, {x: (0, cap) for x in truth})
    assert dom is not None, "the true table must be feasible"
    out = {}
    for x in truth:
        lo = next(v for v in range(dom[x][0], dom[x][1] + 1) if _feasible(eqs, {**dom, x: (v, v)}))
        hi = next(v for v in range(dom[x][1], dom[x][0] - 1, -1) if _feasible(eqs, {**dom, x: (v, v)}))
        assert lo <= truth[x] <= hi
        out[x] = (truth[x], lo, hi)
    return out


def recovered(bounds) -> dict:
    return {
        x: b for x, b in bounds.items()
        if 1 <= b[0] <= 10 and (b[1] == b[2] or (1 <= b[1] and b[2] <= 10 and b[2] - b[1] < 2))
    }


def check(counts, **kw):
    grid = with_margins(counts)
    hidden = suppress(grid, **kw)
    return grid, hidden, recovered(attack([grid], [hidden]))


# --- crafted tables ----------------------------------------------------------------------------


def test_primary_only_suppression_leaks_and_the_attacker_finds_it():
    grid, hidden, leaks = check([[3, 20], [25, 30]], complementary=False)
    assert hidden == {(0, 0)}
    assert leaks == {(0, 0, 0): (3, 3, 3)}  # 23 - 20


def test_complementary_suppression_protects_the_same_table():
    grid, hidden, leaks = check([[3, 20], [25, 30]])
    assert leaks == {}
    assert hidden == {(0, 0), (0, 1), (1, 0), (1, 1)}  # the next smallest in row 0 and column 0, then closed


def test_a_zero_complement_leaks_a_narrow_range():
    """A cycle through a 0 can only move one way: 5 is then known to be 4 or 5."""
    grid = with_margins([[5, 0], [20, 1], [30, 30]])
    hand_made = {(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)}  # zero complement, row 0's total left published
    leaks = recovered(attack([grid], [hand_made]))
    assert leaks[(0, 0, 0)] == (5, 4, 5)
    assert recovered(attack([grid], [suppress(grid)])) == {}
    assert all(grid[i][j] > 0 for i, j in suppress(grid))


def test_small_totals_suppress_the_margins_too():
    grid, hidden, leaks = check([[2, 3], [0, 4]])
    assert (2, 2) in hidden and (2, 0) in hidden  # grand total 9 and placed total 2
    assert leaks == {}


def test_single_small_cell_in_a_large_table():
    grid, hidden, leaks = check([[40, 35], [1, 50], [60, 44], [0, 0]])
    assert (1, 0) in hidden and len(hidden) >= 4
    assert (3, 0) not in hidden and (3, 1) not in hidden  # zeros are shown, never used as complements
    assert leaks == {}


def test_one_row_table():
    grid, hidden, leaks = check([[7, 30]])
    assert hidden == {(0, 0), (1, 0), (0, 1), (1, 1)}  # the only row is the total row
    assert leaks == {}


@pytest.mark.parametrize("counts", [
    [[1, 1], [1, 1]],
    [[10, 11], [11, 10]],
    [[0, 5], [5, 0], [30, 30]],
    [[12, 0], [0, 12], [3, 0]],
    [[1, 0], [0, 0], [0, 0]],
    [[50, 50], [50, 50], [9, 100]],
])
def test_crafted_tables_are_protected(counts):
    assert check(counts)[2] == {}


def test_primary_only_leaks_on_several_crafted_tables():
    leaking = [[[3, 20], [25, 30]], [[12, 0], [0, 12], [3, 0]], [[50, 50], [50, 50], [9, 100]]]
    assert all(check(c, complementary=False)[2] for c in leaking)


# --- invariants and random tables --------------------------------------------------------------

counts_tables = st.integers(1, 4).flatmap(
    lambda n: st.lists(st.lists(st.one_of(st.integers(0, 3), st.integers(0, 14)), min_size=2, max_size=2),
                       min_size=n, max_size=n))


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(counts_tables)
def test_random_tables_never_leak(counts):
    grid = with_margins(counts)
    hidden = suppress(grid)
    assert primary(grid) <= hidden
    assert all(grid[i][j] > 0 for i, j in hidden)
    for line in lines(len(grid), 3):
        assert sum(1 for c in line if c in hidden) != 1
    assert recovered(attack([grid], [hidden])) == {}


people = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1), st.booleans()), min_size=0, max_size=30)


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(people)
def test_two_tables_of_the_same_people_never_leak_together(population):
    """Two dimensions of the same people share their column totals: attacked together."""
    a = [[sum(1 for x, _, p in population if x == k and p), sum(1 for x, _, p in population if x == k and not p)]
         for k in range(3)]
    b = [[sum(1 for _, y, p in population if y == k and p), sum(1 for _, y, p in population if y == k and not p)]
         for k in range(2)]
    grids = [with_margins(a), with_margins(b)]
    hidden = suppress_jointly(grids)
    assert {j for i, j in hidden[0] if i == 3} == {j for i, j in hidden[1] if i == 2}
    assert recovered(attack(grids, hidden)) == {}
