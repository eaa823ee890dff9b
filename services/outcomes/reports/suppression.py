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

import heapq
from collections.abc import Callable, Iterable, Sequence

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
        results = [suppress(g, threshold, forced={(len(g) - 1, j) for j in shared}) for g in grids]
        now = {j for g, hidden in zip(grids, results, strict=True) for (i, j) in hidden if i == len(g) - 1}
        if now == shared:
            return results
        shared = now


# --- tables that share their row totals, of any width (the release's hiring by employer) ---------
#
# The degree rule above protects tables of two columns and their total; with more columns (an
# employer's hires by nine race/ethnicity categories) a cell can be a bridge of the suppressed cells'
# graph (joining two cycles) and then it is pinned. The rule below protects any width: every
# suppressed cell lies on a cycle of suppressed cells, found on the graph and closed with the
# cheapest path of non-zero cells when it is missing. Tables that share their last column (the same
# people's totals, by another dimension) need more: a cycle through the shared column moves two of
# its cells, and every other table must be able to follow. So the rows whose shared total is
# suppressed (at least two, the column being a line of its own) are also kept connected in every
# table without the shared column; then any move of two of them is matched in every table.

Node = tuple[str, int]


def _ends(cell: Cell) -> tuple[Node, Node]:
    return ("r", cell[0]), ("c", cell[1])


def _connected(cells: Iterable[Cell], a: Node, b: Node) -> bool:
    near: dict[Node, list[Node]] = {}
    for cell in cells:
        r, c = _ends(cell)
        near.setdefault(r, []).append(c)
        near.setdefault(c, []).append(r)
    seen, todo = {a}, [a]
    while todo:
        for n in near.get(todo.pop(), ()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return b in seen


def _cheapest_path(
    grid: Sequence[Sequence[int]], hidden: set[Cell], a: Node, b: Node, usable: Callable[[Cell], bool]
) -> list[Cell]:
    """The cells to suppress so that a path of suppressed non-zero cells joins `a` and `b`: the path
    over `usable` non-zero cells with the fewest new cells, then the smallest counts (Dijkstra)."""
    cells = [(i, j) for i, row in enumerate(grid) for j, v in enumerate(row) if v > 0 and usable((i, j))]
    near: dict[Node, list[tuple[Node, Cell]]] = {}
    for cell in cells:
        r, c = _ends(cell)
        near.setdefault(r, []).append((c, cell))
        near.setdefault(c, []).append((r, cell))
    best: dict[Node, tuple[int, int]] = {a: (0, 0)}
    came: dict[Node, tuple[Node, Cell]] = {}
    queue: list[tuple[tuple[int, int], Node]] = [((0, 0), a)]
    while queue:
        cost, node = heapq.heappop(queue)
        if node == b:
            break
        if cost > best[node]:
            continue
        for nxt, cell in near.get(node, ()):
            step = (0, 0) if cell in hidden else (1, grid[cell[0]][cell[1]])
            new = (cost[0] + step[0], cost[1] + step[1])
            if nxt not in best or new < best[nxt]:
                best[nxt], came[nxt] = new, (node, cell)
                heapq.heappush(queue, (new, nxt))
    if b not in came:
        raise ValueError(f"no path of non-zero cells joins {a} and {b}")
    path, node = [], b
    while node != a:
        node, cell = came[node]
        path.append(cell)
    return [c for c in path if c not in hidden]


def suppress_sharing_row_totals(
    grids: Sequence[Sequence[Sequence[int]]], threshold: int = THRESHOLD
) -> list[set[Cell]]:
    """Suppress tables (margins included) that share their last column, of any number of columns.

    1. Primary: every cell of 1 to `threshold`.
    2. To a fixed point: a shared cell suppressed in one table is suppressed in all, and never alone
       in the shared column; in every table each suppressed cell lies on a cycle of suppressed cells;
       the rows of the suppressed shared cells are joined by suppressed cells in every table without
       the shared column. Only non-zero cells are added.

    Then every suppressed cell (all non-zero) can move by one either way, every published figure
    kept: its cycle, alternating +1 and -1 (with the margins' signs turned, every line sums to 0); a
    cycle through the shared column moves two shared cells, which every other table follows along
    the path joining their rows. A path of non-zero cells always exists: a cell's row and column
    totals and the grand total are non-zero and close a cycle with it.
    """
    if len({tuple(row[-1] for row in g) for g in grids}) > 1:
        raise ValueError("tables suppressed together must share their last column")
    hidden = [primary(g, threshold) for g in grids]
    while True:
        before = [set(h) for h in hidden]
        shared = {i for g, h in zip(grids, hidden, strict=True) for (i, j) in h if j == len(g[0]) - 1}
        if len(shared) == 1:
            g, (only,) = grids[0], shared
            m = len(g[0]) - 1
            shared.add(
                min(
                    (i for i in range(len(g)) if i != only and g[i][m] > 0), key=lambda i: (g[i][m], i == len(g) - 1, i)
                )
            )
        for g, h in zip(grids, hidden, strict=True):
            m = len(g[0]) - 1
            h |= {(i, m) for i in shared}
            for cell in sorted(h):
                if not _connected(h - {cell}, *_ends(cell)):
                    h |= set(_cheapest_path(g, h, *reversed(_ends(cell)), usable=lambda c, cell=cell: c != cell))
            rows = sorted(shared)
            for a, b in zip(rows, rows[1:], strict=False):
                inside = {c for c in h if c[1] != m}
                if not _connected(inside, ("r", a), ("r", b)):
                    h |= set(_cheapest_path(g, inside, ("r", a), ("r", b), usable=lambda c, m=m: c[1] != m))
        if hidden == before:
            return hidden
