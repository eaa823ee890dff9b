"""Placements and wages by race/ethnicity, gender, veteran status and degree vs non-degree
training, with small counts suppressed (services/outcomes/reports/suppression.py).

Who counts: only referrals whose candidate consented to aggregate reports and whose
demographics could be read (`aggregate_consent` and `demographics`); that number is the
denominator of every table (`population`), and it is itself a published figure: the grand
total, suppressed like any other cell.

Each table has one row per category and the columns placed / not placed (placed = the record
holds a placement), with row totals (referred) and column totals. Every category is listed,
even with 0.

- race/ethnicity (OMB SPD 15, 2024, self-identified, several may apply): a person who selected
  exactly one category counts in that category; a person who selected two or more counts once,
  in "two_or_more" (not in each category they selected); a person who selected none counts in
  "not_reported". So each person is in exactly one row and the rows add up to the total, which
  the suppression needs ("alone or in combination" counts would overlap and let a reader
  subtract one table from another).
- gender: female, male, nonbinary, self_described, not_reported.
- veteran status: veteran, not_veteran, not_reported.
- training: degree (highest_degree is set: associate or higher), non_degree.

Per row: placed, not placed, referred, placement rate (placed / referred, published only when
both counts are), median hourly wage of the placed (published only when the placed count is;
over the placed whose hourly wage can be told, an unpaid placement at 0).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from services.outcomes.records import ReferralRecord
from services.outcomes.reports.stats import median_money, money, rate
from services.outcomes.reports.suppression import THRESHOLD, suppress_jointly, with_margins

RACE_ETHNICITY = (
    "american_indian_or_alaska_native", "asian", "black_or_african_american", "hispanic_or_latino",
    "middle_eastern_or_north_african", "native_hawaiian_or_pacific_islander", "white",
)
GENDERS = ("female", "male", "nonbinary", "self_described")
COLUMNS = ("placed", "not_placed")


def race_ethnicity(r: ReferralRecord) -> str:
    selected = set(r.demographics.race_ethnicity)
    if not selected:
        return "not_reported"
    return "two_or_more" if len(selected) > 1 else next(iter(selected))


def gender(r: ReferralRecord) -> str:
    return r.demographics.gender or "not_reported"


def veteran_status(r: ReferralRecord) -> str:
    v = r.demographics.veteran_status
    return "not_reported" if v is None else ("veteran" if v else "not_veteran")


def training(r: ReferralRecord) -> str:
    return "degree" if r.highest_degree is not None else "non_degree"


DIMENSIONS: dict[str, tuple[Callable[[ReferralRecord], str], tuple[str, ...]]] = {
    "race_ethnicity": (race_ethnicity, RACE_ETHNICITY + ("two_or_more", "not_reported")),
    "gender": (gender, GENDERS + ("not_reported",)),
    "veteran_status": (veteran_status, ("veteran", "not_veteran", "not_reported")),
    "training": (training, ("degree", "non_degree")),
}


def eligible(records: Iterable[ReferralRecord]) -> list[ReferralRecord]:
    return [r for r in records if r.aggregate_consent and r.demographics is not None]


def _count(value: int, hidden: bool) -> dict:
    return {"count": None if hidden else value, "suppressed": hidden}


def transparency(records: Iterable[ReferralRecord], threshold: int = THRESHOLD) -> dict:
    people = eligible(records)
    tables = []
    for name, (key, known) in DIMENSIONS.items():
        categories = list(known) + sorted({key(r) for r in people} - set(known))
        groups = {c: [r for r in people if key(r) == c] for c in categories}
        counts = [[sum(1 for r in groups[c] if r.placement), sum(1 for r in groups[c] if not r.placement)]
                  for c in categories]
        tables.append((name, categories, groups, with_margins(counts)))
    hidden_sets = suppress_jointly([t[3] for t in tables], threshold)

    out = {}
    all_placed = [r for r in people if r.placement]
    for (name, categories, groups, grid), hidden in zip(tables, hidden_sets, strict=True):
        rows = []
        for i, label in enumerate([*categories, "total"]):
            members = groups[label] if label != "total" else people
            placed_hidden, referred_hidden = (i, 0) in hidden, (i, 2) in hidden
            wages = [w for r in (members if label != "total" else all_placed)
                     if r.placement and r.placement.currency == "USD" and (w := r.placement.hourly_wage) is not None]
            rows.append({
                "category": label,
                "placed": _count(grid[i][0], placed_hidden),
                "not_placed": _count(grid[i][1], (i, 1) in hidden),
                "referred": _count(grid[i][2], referred_hidden),
                "placement_rate": None if placed_hidden or referred_hidden else rate(grid[i][0], grid[i][2]),
                "median_hourly_wage": None if placed_hidden else money(median_money(wages)),
            })
        total = rows.pop()
        out[name] = {"dimension": name, "rows": rows, "total": total}
    grand_hidden = any((len(t[3]) - 1, 2) in h for t, h in zip(tables, hidden_sets, strict=True))
    return {
        "threshold": threshold,
        "population": None if grand_hidden else len(people),
        "population_definition": "referrals whose candidate consented to aggregate reports and whose demographics"
                                 " could be read",
        "tables": out,
    }
