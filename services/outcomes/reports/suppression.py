"""Small-cell suppression for 2-D count tables with their margins.

A table here is the grid *with* its margins: rows r_0..r_{n-1} and a last row of column
totals; columns c_0..c_{m-1} and a last column of row totals (the corner is the grand total).
Every row and every column of that grid is a "line": its cells sum to its total cell.

1. Primary: every cell (margins included) with a count from 1 to `threshold` (10) is
   suppressed. 0 may be shown.
2. Complementary: while some line holds exactly one suppressed cell, the smallest NON-ZERO
   unsuppressed cell of that line is suppressed too (ties: a cell outside the column-totals row
   first, then the first in reading order). Repeated over all rows and columns to a fixed point.
   A line with one suppressed non-zero cell always has another non-zero cell (its total is at
   least that cell, or, if the total is the one, some cell adds up to it), so this is defined.

Why that is enough (for tables of two columns plus the total, as the transparency report
publishes; docs/reports.md has the argument at length): rewrite the margins with a minus sign
and every line sums to zero, so an attacker's uncertainty about the suppressed cells is the
set of changes that keep every line's sum. Draw a graph whose nodes are the grid's rows and
columns and whose edges are the suppressed cells. After step 2 every node has no edge or at
least two; with only three column nodes such a graph has no bridge, so every suppressed cell
lies on a cycle of suppressed cells. Adding +1, -1, +1, ... around that cycle keeps every
published figure; as no suppressed cell is 0, the cycle can move by one either way. So every
suppressed cell with true value v could be v - 1 or v + 1: never pinned to one value, never
bounded to fewer than three consecutive values.

Several tables that share their column-totals row (one per demographic dimension, the same
people) are suppressed jointly: a total suppressed in one is suppressed in all, to a fixed
point (`suppress_jointly`). The same cycle argument then holds across the tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

Cell = tuple[int, int]
THRESHOLD = 10


def lines(n_rows: int, n_cols: int) -> list[list[Cell]]:
    """Every row and every column of a grid of n_rows x n_cols (margins included)."""
    return [[(i, j) for j in range(n_cols)] for i in range(n_rows)] + [
        [(i, j) for i in range(n_rows)] for j in range(n_cols)
    ]


def with_margins(counts: Sequence[Sequence[int]]) -> list[list[int]]:
    """The grid of `counts` (rows x columns, at least one of each) with row and column totals."""
    grid = [list(row) + [sum(row)] for row in counts]
    grid.append([sum(col) for col in zip(*grid, strict=True)])
    return grid


def primary(grid: Sequence[Sequence[int]], threshold: int = THRESHOLD) -> set[Cell]:
    return {(i, j) for i, row in enumerate(grid) for j, v in enumerate(row) if 1 <= v <= threshold}


def suppress(
    grid: Sequence[Sequence[int]],
    threshold: int = THRESHOLD,
    forced: Iterable[Cell] = (),
    complementary: bool = True,
) -> set[Cell]:
    """The cells to suppress in `grid` (margins included: last row and last column).

    `forced` cells are suppressed whatever their count (shared margins suppressed elsewhere);
    `complementary=False` gives primary suppression only (for tests that show it leaks).
    """
    n_rows, n_cols = len(grid), len(grid[0])
    hidden = primary(grid, threshold) | set(forced)
    if not complementary:
        return hidden
    all_lines = lines(n_rows, n_cols)
    changed = True
    while changed:
        changed = False
        for line in all_lines:
            if sum(1 for c in line if c in hidden) != 1:
                continue
            candidates = [c for c in line if c not in hidden and grid[c[0]][c[1]] > 0]
            pick = min(candidates, key=lambda c: (grid[c[0]][c[1]], c[0] == n_rows - 1, c))
            hidden.add(pick)
            changed = True
    return hidden


def suppress_jointly(grids: Sequence[Sequence[Sequence[int]]], threshold: int = THRESHOLD) -> list[set[Cell]]:
    """Suppress tables that share their last row (the same column totals), consistently."""
    if len({tuple(g[-1]) for g in grids}) > 1:
        raise ValueError("tables suppressed jointly must share their column-totals row")
    shared: set[int] = set()
    while True:
        results = [
            suppress(g, threshold, forced={(len(g) - 1, j) for j in shared}) for g in grids
        ]
        now = {j for g, hidden in zip(grids, results, strict=True) for (i, j) in hidden if i == len(g) - 1}
        if now == shared:
            return results
        shared = now
