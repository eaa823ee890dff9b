"""Groups of a report, suppressed by groups in people (docs/reports.md, "Funnel suppression").

A group is published only if it counts more than `threshold` people; the smaller ones are
combined into one row (SMALL_GROUPS, never named one by one), which takes the smallest
published group (fewest people, then label) while it counts `threshold` people or fewer (it is
the total less the named groups when groups partition the items). Whether a row that is still
that small is shown is the caller's summary's business (each report suppresses it whole).

`nameable` (the annual release's, docs/transparency.md "Suppression across the release") says of a
group (its label and its people) whether it may be named at all; a group it refuses is combined as
a small one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Set
from typing import TypeVar

T = TypeVar("T")

# The row of a suppressed report's groups that count `threshold` people or fewer, combined.
SMALL_GROUPS = "(smaller groups combined)"


def people(items: Iterable[T], person: Callable[[T], str]) -> int:
    return len({person(i) for i in items})


def suppressed_groups(items: Iterable[T], keys: Callable[[T], Iterable[str]], person: Callable[[T], str],
                      threshold: int | None,
                      nameable: Callable[[str, Set[str]], bool] | None = None) -> list[tuple[str, list[T]]]:
    """(label, items) of every group `keys` puts an item in (an item may be in several: then
    groups overlap), sorted by label; with a `threshold`, the groups of more than `threshold`
    people, then SMALL_GROUPS over the items of the others (each item once)."""
    groups: dict[str, list[T]] = {}
    for item in items:
        for g in keys(item):
            groups.setdefault(g, []).append(item)
    combined: dict[int, T] = {}  # by identity: overlapping groups share items
    if threshold is not None:
        counted = {g: people(its, person) for g, its in groups.items()}
        small = [g for g in groups if counted[g] <= threshold
                 or (nameable is not None and not nameable(g, {person(i) for i in groups[g]}))]
        larger = sorted((g for g in groups if g not in small), key=lambda g: (counted[g], g))
        combined = {id(i): i for g in small for i in groups[g]}
        while combined and people(combined.values(), person) <= threshold and larger:
            combined.update((id(i), i) for i in groups[larger.pop(0)])
        groups = {g: groups[g] for g in larger}
    out = [(g, groups[g]) for g in sorted(groups)]
    if combined:
        out.append((SMALL_GROUPS, list(combined.values())))
    return out
