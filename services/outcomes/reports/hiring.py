"""Hiring by employer with demographics (issue 16 item 5; docs/transparency.md, "Hiring by
employer"): for the annual release, each employer that opted in to publication for the year, its
hires in the year by race/ethnicity, gender, educational background and training, suppressed.

Who counts: an employer whose last publication choice for the year is in (`Choice`); a hire is a
placement with that employer starting in the year (`Placement.start_date`), of a candidate who
consented to aggregate reporting and whose demographics could be read (the transparency report's
population, `transparency.eligible`). A person placed twice by the same employer in the year is one
hire (their first referral by id); placed by two employers, a hire of each.

One table per dimension: a row per published employer (even with 0 hires) and a total row, a column
per category (every category listed, also with 0) and a total column. Each hire is in exactly one
category of every dimension, so every table's total column is the same (each employer's hires and
the grand total): the four are suppressed together (`suppression.suppress_sharing_row_totals`).

- race_ethnicity and gender: as the transparency report counts them (one category per person;
  two or more races in `two_or_more`).
- educational_background: the referral's highest degree (associate, bachelor, master, doctorate),
  `none_reported` when it names none.
- training: the referral's training as the partner reported it: `completed` (a completion date),
  `not_completed` (a program without one), `none_reported` (no program).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from services.outcomes.records import ReferralRecord
from services.outcomes.reports.suppression import THRESHOLD, Cell, suppress_sharing_row_totals, with_margins
from services.outcomes.reports.transparency import DIMENSIONS as TRANSPARENCY
from services.outcomes.reports.transparency import eligible

ALL_EMPLOYERS = "(all published employers)"
TOTAL = "total"


@dataclass(frozen=True)
class Choice:
    """An employer's last publication choice for a year (outcomes' `publication_choices`)."""

    employer_id: str
    year: int
    opted_in: bool
    employer_name: str


@dataclass(frozen=True)
class HiringInputs:
    year: int = 0
    records: tuple[ReferralRecord, ...] = ()  # placed referrals (others are ignored)
    choices: tuple[Choice, ...] = ()


def educational_background(r: ReferralRecord) -> str:
    return r.highest_degree or "none_reported"


def training(r: ReferralRecord) -> str:
    if r.training_completed_on is not None:
        return "completed"
    return "not_completed" if r.program else "none_reported"


DIMENSIONS: dict[str, tuple[Callable[[ReferralRecord], str], tuple[str, ...]]] = {
    "race_ethnicity": TRANSPARENCY["race_ethnicity"],
    "gender": TRANSPARENCY["gender"],
    "educational_background": (
        educational_background,
        ("associate", "bachelor", "master", "doctorate", "none_reported"),
    ),
    "training": (training, ("completed", "not_completed", "none_reported")),
}


def published_employers(choices: Iterable[Choice], year: int) -> list[tuple[str, str]]:
    """(employer id, name) of the employers opted in for the year, by name then id."""
    return sorted(
        ((c.employer_id, c.employer_name) for c in choices if c.year == year and c.opted_in), key=lambda e: (e[1], e[0])
    )


def hires(inputs: HiringInputs) -> list[ReferralRecord]:
    """The year's hires of the published employers, of consenting candidates, one per person and employer."""
    published = {e for e, _ in published_employers(inputs.choices, inputs.year)}
    seen: set[tuple[str, str]] = set()
    out = []
    for r in sorted(eligible(inputs.records), key=lambda r: r.referral_id):
        p = r.placement
        if p is None or p.employer_id not in published or p.start_date.year != inputs.year:
            continue
        key = (r.person_key or f"referral:{r.referral_id}", p.employer_id)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def hiring_by_employer(inputs: HiringInputs, threshold: int = THRESHOLD) -> dict:
    """Per dimension: the employers (rows, then the total row), the categories (columns, then the
    total), every count or None where suppressed."""
    employers = published_employers(inputs.choices, inputs.year)
    found = hires(inputs)
    tables = []
    for name, (key, known) in DIMENSIONS.items():
        categories = list(known) + sorted({key(r) for r in found} - set(known))
        counts = [
            [sum(1 for r in found if r.placement and r.placement.employer_id == e and key(r) == c) for c in categories]
            for e, _ in employers
        ]
        tables.append((name, categories, with_margins(counts) if employers else [[0] * (len(categories) + 1)]))
    hidden_sets: list[set[Cell]] = suppress_sharing_row_totals([t[2] for t in tables], threshold)
    rows = [*employers, ("", ALL_EMPLOYERS)]
    return {
        "year": inputs.year,
        "employers": [{"employer_id": e, "employer_name": n} for e, n in employers],
        "tables": {
            name: [
                {
                    "employer_id": rows[i][0],
                    "employer": rows[i][1],
                    "category": label,
                    "hires": None if (i, j) in hidden else grid[i][j],
                }
                for i in range(len(grid))
                for j, label in enumerate([*categories, TOTAL])
            ]
            for (name, categories, grid), hidden in zip(tables, hidden_sets, strict=True)
        },
    }
