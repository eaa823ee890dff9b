"""Good jobs among placements, by a rule the coalition configures, and wage growth after them.

The tests are the pay, benefits and scheduling principles of the U.S. Departments of Commerce
and Labor's Good Jobs Principles (2022, https://www.dol.gov/general/good-jobs/principles):
"Pay: all workers are paid a stable and predictable living wage", "Benefits: ... health
insurance, a retirement plan, workers' compensation benefits, work-family benefits such as
paid leave ..." and, as NYC's coalition adds, stable and predictable schedules.

What we count (our choice, stated so nobody has to guess; `GoodJobPolicy` holds the settings):
- kind: only placements of `counted_types` (default full-time, part-time, apprenticeship) are
  assessed; internships and micro-internships are work-based learning, counted in
  `type_not_counted` and left out of the rate (a coalition that wants them sets the types).
- pay: `Placement.hourly_wage` (weekly, monthly and yearly wages over the contracted hours, a
  project fee over its engagement hours) at or above `hourly_threshold`, a local figure the
  coalition sets and names (`threshold_source`, e.g. the MIT Living Wage Calculator's wage for
  one adult with no children in the county). Placements in another currency than the
  threshold's are not compared and are counted in `other_currency`. An unpaid placement is
  compared, at 0, and is never a good job (`unpaid`); one whose hourly wage cannot be told (a
  salary without the hours it pays for) cannot be shown to reach the threshold, so it is not a
  good job either (`hourly_wage_unknown`), and is left out of the wage distribution.
- benefits: every one of `required_benefits` (default health insurance AND paid leave).
  Workers' compensation is required by law and not reported to us; a retirement plan is
  reported separately (`with_retirement`, and `good_jobs_with_retirement` for the stricter
  reading) because many entry-level tech jobs offer it only after a waiting period, so
  requiring it by default would hide the pay-and-health signal.
- schedule: with `require_predictable_schedule` the employer reported a predictable schedule;
  a schedule not reported fails (it cannot be shown predictable; v1 placements carry none) and
  is counted in `schedule_not_reported`. Off by default: Miami's goal names pay and benefits,
  NYC's coalition adds the schedule and turns it on; with it on, every placement reported
  before schedules were (v1) falls short. With `min_advance_notice_days` above 0, the
  schedule is given at least that many days ahead (not reported: fails).

`shortfalls` gives the reasons a placement is not a good job; the report counts each reason
over the assessed placements (`falls_short`). Wage growth (`wage_growth`): per retention
milestone, over placements with a known hourly wage and a still-employed check-in at that
milestone that states a wage in the same currency, the median hourly wage at placement and at
the check-in, the median growth in percent (not for unpaid placements: growth from 0 has no
percentage) and how many check-ins at the milestone said the person was promoted. A check-in
that states no hours is read over the hours of the job at that date (after a conversion, the
new job's). A conversion (placement.converted) is a point of its own, at `converted_on`: the
median hourly wage at placement and on the new terms, over the conversions whose both wages are
known in the currency (`point` "conversion"; the milestones' `point` is "milestone").

Conversions are counted per group (`converted`: placements of the group converted into a
full-time or part-time hire at the same employer, grouped by the kind they were placed in;
`converted_good_jobs`: those whose new terms pass the rule). The rate itself assesses the
placements as reported, so a conversion never changes it.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from contracts.events import EmploymentKind
from services.outcomes import pipeline
from services.outcomes.records import Checkin, Placement, ReferralRecord
from services.outcomes.reports.stats import cents, label, median_money, money, percentile, rate

DIMENSIONS = ("partner", "employer", "program", "occupation", "employment_type")
BENEFITS = ("health", "paid_leave", "retirement", "dental", "vision", "tuition", "childcare")
BENEFIT_NAMES = {"health": "health insurance", "paid_leave": "paid leave", "retirement": "a retirement plan",
                 "dental": "dental", "vision": "vision", "tuition": "tuition assistance", "childcare": "childcare"}
EMPLOYMENT_TYPES = tuple(kind.value for kind in EmploymentKind)
MILESTONES = (30, 90, 180)


@dataclass(frozen=True)
class GoodJobPolicy:
    hourly_threshold: Decimal
    threshold_source: str
    currency: str = "USD"
    required_benefits: tuple[str, ...] = ("health", "paid_leave")
    require_predictable_schedule: bool = False
    min_advance_notice_days: int = 0
    counted_types: tuple[str, ...] = ("full_time", "part_time", "apprenticeship")

    def __post_init__(self) -> None:
        unknown = [b for b in self.required_benefits if b not in BENEFITS]
        unknown += [t for t in self.counted_types if t not in EMPLOYMENT_TYPES]
        if unknown:
            raise ValueError(f"unknown benefits or employment types: {', '.join(unknown)}; benefits are"
                             f" {', '.join(BENEFITS)}, employment types {', '.join(EMPLOYMENT_TYPES)}")
        if self.min_advance_notice_days < 0:
            raise ValueError("min_advance_notice_days must be 0 or more")


def basic_benefits(p: Placement, policy: GoodJobPolicy) -> bool:
    """Every benefit the policy requires."""
    return all(getattr(p, b) for b in policy.required_benefits)


def comparable(p: Placement, policy: GoodJobPolicy) -> bool:
    """Whether the placement's pay can be set against the threshold: in its currency, or unpaid."""
    return p.currency == policy.currency or not p.paid


def at_or_above(p: Placement, policy: GoodJobPolicy) -> bool:
    hourly = p.hourly_wage
    return p.paid and hourly is not None and hourly >= policy.hourly_threshold


def shortfalls(p: Placement, policy: GoodJobPolicy) -> tuple[str, ...]:
    """Why the placement is not a good job under the policy (nothing: it is one)."""
    out = []
    if p.employment_type not in policy.counted_types:
        out.append("type_not_counted")
    if not comparable(p, policy):
        out.append("other_currency")
    elif not p.paid:
        out.append("unpaid")
    elif p.hourly_wage is None:
        out.append("hourly_wage_unknown")
    elif not at_or_above(p, policy):
        out.append("below_threshold")
    out += [f"no_{b}" for b in policy.required_benefits if not getattr(p, b)]
    if policy.require_predictable_schedule:
        if p.predictable_schedule is None:
            out.append("schedule_not_reported")
        elif not p.predictable_schedule:
            out.append("schedule_not_predictable")
    if policy.min_advance_notice_days > 0:
        if p.advance_notice_days is None:
            out.append("advance_notice_not_reported")
        elif p.advance_notice_days < policy.min_advance_notice_days:
            out.append("advance_notice_too_short")
    return tuple(out)


def is_good_job(p: Placement, policy: GoodJobPolicy) -> bool:
    return not shortfalls(p, policy)


def _key(dimension: str) -> Callable[[ReferralRecord], str]:
    keys: dict[str, Callable[[ReferralRecord], object]] = {
        "partner": lambda r: r.partner_id,
        "employer": lambda r: r.placement.employer_id,
        "program": lambda r: r.program,
        "occupation": lambda r: r.placement.onet_soc_code,
        "employment_type": lambda r: r.placement.employment_type,
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


def summarize(records: Iterable[ReferralRecord], policy: GoodJobPolicy,
              elsewhere: dict[str, ReferralRecord] | None = None) -> dict:
    """`elsewhere`: the report's conversions at another employer (pipeline.hires_elsewhere over
    all its placements; by default over these), counted on the work-based learning placement."""
    records = [r for r in records if r.placement is not None]
    elsewhere = pipeline.hires_elsewhere(records) if elsewhere is None else elsewhere
    moved = [elsewhere[r.referral_id].placement for r in records if r.referral_id in elsewhere]
    placements = [r.placement for r in records if r.placement is not None]
    compared = [p for p in placements if comparable(p, policy)]
    assessed = [p for p in compared if p.employment_type in policy.counted_types]
    reasons = [shortfalls(p, policy) for p in assessed]
    good = [p for p, found in zip(assessed, reasons, strict=True) if not found]
    falls_short: dict[str, int] = defaultdict(int)
    for found in reasons:
        for reason in found:
            falls_short[reason] += 1
    n = len(compared)
    return {
        "placements": n,
        "other_currency": len(placements) - n,
        "type_not_counted": n - len(assessed),
        "assessed": len(assessed),
        "good_jobs": len(good),
        "good_job_rate": rate(len(good), len(assessed)),
        "falls_short": dict(sorted(falls_short.items())),
        "at_or_above_threshold": sum(1 for p in compared if at_or_above(p, policy)),
        "unpaid": sum(1 for p in compared if not p.paid),
        "hourly_wage_unknown": sum(1 for p in compared if p.hourly_wage is None),
        "schedule_not_reported": sum(1 for p in compared if p.predictable_schedule is None),
        "with_predictable_schedule": sum(1 for p in compared if p.predictable_schedule),
        "with_health": sum(1 for p in compared if p.health),
        "with_paid_leave": sum(1 for p in compared if p.paid_leave),
        "with_basic_benefits": sum(1 for p in compared if basic_benefits(p, policy)),
        "with_retirement": sum(1 for p in compared if p.retirement),
        "retirement_rate": rate(sum(1 for p in compared if p.retirement), n),
        "good_jobs_with_retirement": sum(1 for p in good if p.retirement),
        "wages": wage_distribution(compared, policy.currency),
        "converted": len(converted := [r.conversion.terms for r in records if r.conversion is not None]),
        "converted_good_jobs": sum(1 for p in converted if comparable(p, policy) and is_good_job(p, policy)),
        "converted_elsewhere": len(moved),
        "converted_elsewhere_good_jobs": sum(1 for p in moved if comparable(p, policy) and is_good_job(p, policy)),
    }


def _at(record: ReferralRecord, milestone: int) -> Checkin | None:
    """The last still-employed check-in at `milestone` (as `retention` keeps the last word)."""
    found = [c for c in record.checkins if c.milestone_days == milestone]
    return found[-1] if found and found[-1].still_employed else None


def _in_currency(p: Placement, currency: str) -> bool:
    return p.currency == currency or not p.paid  # unpaid has no currency (0 in any)


def _hours_on(r: ReferralRecord, day: date) -> float | None:
    """The contracted hours of the job on `day`: the conversion's from its date, else the placement's."""
    c = r.conversion
    p = c.terms if c is not None and day >= c.converted_on else r.placement
    return p.hours_per_week if p is not None else None


def _point(point: str, milestone: int | None, found: int, pairs: list[tuple[Decimal, Decimal]],
           promoted: int | None, min_wages: int) -> dict:
    # Fewer wages than `min_wages` (a partner's report): the medians would be one person's or a
    # few people's exact check-in wages, which a partner's timeline never shows (bands only).
    shown = pairs if len(pairs) >= min_wages else []
    growth = [(then - start) / start * 100 for start, then in shown if start > 0]
    return {
        "point": point,
        "milestone_days": milestone,
        "checkins": found,
        "with_wages": len(pairs),
        "median_hourly_at_placement": money(median_money(s for s, _ in shown)),
        "median_hourly_at_checkin": money(median_money(t for _, t in shown)),
        "median_growth_pct": money(cents(statistics.median(growth))) if growth else None,
        "raised": sum(1 for s, t in pairs if t > s),
        "promoted": promoted,
    }


def _wage_pairs(jobs: list[tuple[Placement, Placement]], currency: str) -> list[tuple[Decimal, Decimal]]:
    """(hourly before, hourly after) of the pairs whose both wages are known in `currency`."""
    return [(start, then) for p, c in jobs
            if _in_currency(p, currency) and _in_currency(c, currency)
            and (start := p.hourly_wage) is not None and (then := c.hourly_wage) is not None]


def wage_growth(records: Iterable[ReferralRecord], currency: str = "USD", min_wages: int = 1,
                elsewhere: dict[str, ReferralRecord] | None = None) -> list[dict]:
    """The conversions at another employer (`conversion_elsewhere`: the work-based learning's
    wage against the hire's), the conversion point (`checkins`: the conversions;
    `..._at_checkin`: on the new terms), then each milestone's; a point's medians only over at
    least `min_wages` wages."""
    records = [r for r in records if r.placement is not None]
    elsewhere = pipeline.hires_elsewhere(records) if elsewhere is None else elsewhere
    moved = [(r.placement, elsewhere[r.referral_id].placement) for r in records if r.referral_id in elsewhere]
    converted = [(r.placement, r.conversion.terms) for r in records if r.conversion is not None]
    out = [_point("conversion_elsewhere", None, len(moved), _wage_pairs(moved, currency), None, min_wages),
           _point("conversion", None, len(converted), _wage_pairs(converted, currency), None, min_wages)]
    for milestone in MILESTONES:
        checked = [(r, c) for r in records if (c := _at(r, milestone)) is not None]
        pairs = []
        for r, c in checked:
            p = r.placement
            start, then = p.hourly_wage, c.hourly_wage_over(_hours_on(r, c.checked_on))
            # A check-in's wage without a currency is in USD (the contract's default).
            if start is not None and then is not None and _in_currency(p, currency) and (c.currency or currency) == currency:
                pairs.append((start, then))
        out.append(_point("milestone", milestone, len(checked), pairs, sum(1 for _, c in checked if c.promoted), min_wages))
    return out


def good_jobs(records: Iterable[ReferralRecord], policy: GoodJobPolicy, min_wages: int = 1) -> dict:
    placed = [r for r in records if r.placement is not None]
    elsewhere = pipeline.hires_elsewhere(placed)
    by = {}
    for dimension in DIMENSIONS:
        key = _key(dimension)
        groups: dict[str, list[ReferralRecord]] = defaultdict(list)
        for r in placed:
            groups[key(r)].append(r)
        by[dimension] = [{"group": g, **summarize(groups[g], policy, elsewhere)} for g in sorted(groups)]
    benefits = " and ".join(BENEFIT_NAMES[b] for b in policy.required_benefits) or "no benefit required"
    return {
        "policy": {
            "hourly_threshold": money(policy.hourly_threshold),
            "threshold_source": policy.threshold_source,
            "currency": policy.currency,
            "basic_benefits": benefits + (" (retirement reported separately)" if "retirement" not in
                                          policy.required_benefits else ""),
            "required_benefits": list(policy.required_benefits),
            "require_predictable_schedule": policy.require_predictable_schedule,
            "min_advance_notice_days": policy.min_advance_notice_days,
            "counted_types": list(policy.counted_types),
        },
        "total": summarize(placed, policy, elsewhere),
        "by": by,
        "wage_growth": wage_growth(placed, policy.currency, min_wages, elsewhere),
    }
