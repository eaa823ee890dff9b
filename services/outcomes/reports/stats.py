"""Small statistics shared by the reports: rates, medians and percentiles, exactly defined.

- A rate is numerator / denominator rounded to 4 decimals, or None when the denominator is 0.
- A median is the middle value, or the mean of the two middle values (statistics.median).
- A percentile p is the linear interpolation between closest ranks (the "inclusive" method:
  position (n - 1) * p in the sorted values; Excel PERCENTILE.INC, numpy's default).
- Money is a Decimal rounded half up to cents and reported as a string ("23.50").
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
UNKNOWN = "(unknown)"


def rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def median_days(values: Iterable[float]) -> float | None:
    values = list(values)
    return round(statistics.median(values), 2) if values else None


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money(value: Decimal | None) -> str | None:
    return None if value is None else str(cents(value))


def percentile(values: Iterable[Decimal], p: float) -> Decimal | None:
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * Decimal(str(p))
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return cents(ordered[low] + (position - low) * (ordered[high] - ordered[low]))


def median_money(values: Iterable[Decimal]) -> Decimal | None:
    return percentile(values, 0.5)


def label(value: object) -> str:
    """A group's label: the value, or "(unknown)" when it is missing."""
    return UNKNOWN if value in (None, "") else str(value)
