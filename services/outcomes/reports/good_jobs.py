"""Good jobs among placements: pay at or above a local wage threshold, with basic benefits.

The tests are the pay and benefits principles of the U.S. Departments of Commerce and Labor's
Good Jobs Principles (2022, https://www.dol.gov/general/good-jobs/principles): "Pay: all
workers are paid a stable and predictable living wage" and "Benefits: ... health insurance, a
retirement plan, workers' compensation benefits, work-family benefits such as paid leave ...".

What we count (our choice, stated so nobody has to guess):
- pay: `Placement.hourly_wage` (weekly, monthly and yearly wages over the contracted hours)
  at or above `GoodJobPolicy.hourly_threshold`, a local figure the coalition sets and names
  (`threshold_source`, e.g. the MIT Living Wage Calculator's wage for one adult with no
  children in the county). Placements in another currency than the threshold's are not
  compared and are counted in `other_currency`. An unpaid placement (an unpaid internship) is
  compared, at 0, and is never a good job (`unpaid`); one whose hourly wage cannot be told (a
  salary without the hours it pays for) is not at or above the threshold, so not a good job
  (`hourly_wage_unknown`), and is left out of the wage distribution.
- basic benefits: health insurance AND paid leave. Workers' compensation is required by law
  and not reported to us; a retirement plan is reported separately (`with_retirement`, and
  `good_jobs_with_retirement` for the stricter reading) because many entry-level tech jobs
  offer it only after a waiting period, so requiring it would hide the pay-and-health signal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from services.outcomes.records import Placement, ReferralRecord
from services.outcomes.reports.stats import label, median_money, money, percentile, rate

DIMENSIONS = ("partner", "employer", "program", "occupation")


@dataclass(frozen=True)
class GoodJobPolicy:
    hourly_threshold: Decimal
    threshold_source: str
    currency: str = "USD"


def basic_benefits(p: Placement) -> bool:
    return p.health and p.paid_leave


def comparable(p: Placement, policy: GoodJobPolicy) -> bool:
    """Whether the placement's pay can be set against the threshold: in its currency, or unpaid."""
    return p.currency == policy.currency or not p.paid


def at_or_above(p: Placement, policy: GoodJobPolicy) -> bool:
    hourly = p.hourly_wage
    return p.paid and hourly is not None and hourly >= policy.hourly_threshold


def is_good_job(p: Placement, policy: GoodJobPolicy) -> bool:
    return comparable(p, policy) and at_or_above(p, policy) and basic_benefits(p)


def _key(dimension: str) -> Callable[[ReferralRecord], str]:
    keys: dict[str, Callable[[ReferralRecord], object]] = {
        "partner": lambda r: r.partner_id,
        "employer": lambda r: r.placement.employer_id,
        "program": lambda r: r.program,
        "occupation": lambda r: r.placement.onet_soc_code,
    }
    get = keys[dimension]
    return lambda r: label(get(r))


def wage_distribution(placements: Iterable[Placement], currency: str = "USD") -> dict:
    """Over the placements in `currency` whose hourly wage can be told, unpaid ones at 0."""
    wages = [w for p in placements if (p.currency == currency or not p.paid) and (w := p.hourly_wage) is not None]
    return {
        "currency": currency,
        "placements": len(wages),
        "p25_hourly": money(percentile(wages, 0.25)),
        "median_hourly": money(median_money(wages)),
        "p75_hourly": money(percentile(wages, 0.75)),
    }


def summarize(records: Iterable[ReferralRecord], policy: GoodJobPolicy) -> dict:
    placements = [r.placement for r in records if r.placement is not None]
    compared = [p for p in placements if comparable(p, policy)]
    good = [p for p in compared if is_good_job(p, policy)]
    n = len(compared)
    return {
        "placements": n,
        "other_currency": len(placements) - n,
        "good_jobs": len(good),
        "good_job_rate": rate(len(good), n),
        "at_or_above_threshold": sum(1 for p in compared if at_or_above(p, policy)),
        "unpaid": sum(1 for p in compared if not p.paid),
        "hourly_wage_unknown": sum(1 for p in compared if p.hourly_wage is None),
        "with_health": sum(1 for p in compared if p.health),
        "with_paid_leave": sum(1 for p in compared if p.paid_leave),
        "with_basic_benefits": sum(1 for p in compared if basic_benefits(p)),
        "with_retirement": sum(1 for p in compared if p.retirement),
        "retirement_rate": rate(sum(1 for p in compared if p.retirement), n),
        "good_jobs_with_retirement": sum(1 for p in good if p.retirement),
        "wages": wage_distribution(compared, policy.currency),
    }


def good_jobs(records: Iterable[ReferralRecord], policy: GoodJobPolicy) -> dict:
    placed = [r for r in records if r.placement is not None]
    by = {}
    for dimension in DIMENSIONS:
        key = _key(dimension)
        groups: dict[str, list[ReferralRecord]] = defaultdict(list)
        for r in placed:
            groups[key(r)].append(r)
        by[dimension] = [{"group": g, **summarize(groups[g], policy)} for g in sorted(groups)]
    return {
        "policy": {
            "hourly_threshold": money(policy.hourly_threshold),
            "threshold_source": policy.threshold_source,
            "currency": policy.currency,
            "basic_benefits": "health insurance and paid leave (retirement reported separately)",
        },
        "total": summarize(placed, policy),
        "by": by,
    }
