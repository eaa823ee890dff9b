"""Suppression of tables of any width that share their row totals (suppression.suppress_sharing_row_totals,
the release's hiring by employer with demographics), attacked together by test_reports_suppression's
attacker: no suppressed cell of 1 to 10 is recovered; the degree rule alone does leak on such tables
(so the test can fail)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.outcomes.reports.suppression import suppress, suppress_sharing_row_totals, with_margins
from tests.unit.test_reports_suppression import attack, recovered

pytestmark = pytest.mark.unit


def transposed(grid):  # type: ignore[no-untyped-def]
    return [list(col) for col in zip(*grid, strict=True)]


def attacked(grids, hidden_sets):  # type: ignore[no-untyped-def]
    """The attacker shares tables' last row: turn the tables so the shared row totals are it."""
    return attack([transposed(g) for g in grids], [{(j, i) for i, j in h} for h in hidden_sets])


def test_the_degree_rule_alone_leaks_a_bridge_on_a_wide_table():
    """Two cycles of suppressed cells joined by one cell: the degree rule is satisfied, the joining
    cell is pinned by the lines of one side."""
    grid = with_margins([[3, 4, 0, 0, 50], [5, 6, 0, 0, 50], [0, 7, 8, 9, 50], [0, 0, 12, 13, 50], [40, 40, 40, 40, 0]])
    degree_only = suppress(grid)
    assert recovered(attack([grid], [degree_only], shared_totals=False))
    (hidden,) = suppress_sharing_row_totals([grid])
    assert recovered(attack([grid], [hidden], shared_totals=False)) == {}


def test_one_employer_all_of_one_category_is_protected_across_tables():
    # rows: employers + total; columns: categories + total; the last column is shared
    by_gender = with_margins([[3, 0], [20, 25]])
    by_degree = with_margins([[0, 3], [30, 15]])
    hidden = suppress_sharing_row_totals([by_gender, by_degree])
    # the employer's total (3) and another shared total to go with it, in both tables
    assert {i for i, j in hidden[0] if j == 2} == {i for i, j in hidden[1] if j == 2} == {0, 1}
    assert recovered(attacked([by_gender, by_degree], hidden)) == {}


population = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 1)), min_size=0, max_size=45)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(population)
def test_random_employers_by_two_dimensions_never_leak(people):
    """Each hire: (employer, category of one dimension, of another); the two tables share the employers' totals."""
    a = [[sum(1 for e, x, _ in people if e == k and x == c) for c in range(4)] for k in range(4)]
    b = [[sum(1 for e, _, y in people if e == k and y == c) for c in range(2)] for k in range(4)]
    grids = [with_margins(a), with_margins(b)]
    hidden = suppress_sharing_row_totals(grids)
    for g, h in zip(grids, hidden, strict=True):
        assert all(g[i][j] > 0 for i, j in h)
        assert all(not (1 <= v <= 10) or (i, j) in h for i, row in enumerate(g) for j, v in enumerate(row))
    assert {i for i, j in hidden[0] if j == 4} == {i for i, j in hidden[1] if j == 2}
    assert recovered(attacked(grids, hidden)) == {}
