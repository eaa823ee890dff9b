"""The funnel: how many referrals reached each stage, grouped, with conversion and time.

Every number is defined in docs/pipeline.md, by services/outcomes/pipeline.py, which the
API's counts use too. Stages are cumulative: a record counts in a stage when it reached that
stage or any later one (`pipeline.cumulative`; "referred" always: a record exists because its
referral was made, at `referred_at`), so no stage counts more than the one before. A
placement reported without an interview counts as interviewed; `interviews_recorded` counts
the referrals with an interview actually recorded. Each summary also gives the exclusive
outcomes, the flags and the same lines for people (`pipeline.summarize`: `referrals` and
`people`).

- conversion_from_previous = count(stage) / count(previous stage)
- conversion_from_referred = count(stage) / count(referred)
- median days between consecutive stages (and from referred to placed): the median, over the
  records with a recorded time at both stages, of (reached[later] - reached[earlier]) in days
  (a stage counted only because a later one was reached has no time of its own).

Grouped by `employment_type`, the placed are counted by the kind of job they were placed in
(full-time, part-time, internship, micro-internship, apprenticeship); every record without a
placement is in "(not placed)".

Conversions (`conversions`): of the placed in work-based learning (an internship,
micro-internship or apprenticeship), how many were converted into a full-time or part-time hire
at the same employer (placement.converted), to which kind, and the rate. By employment type,
they count in the group of the kind they were placed in (an intern converted to full time is
in "internship"). A hire at another employer after an internship is not counted here yet.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from contracts.events import CONVERTS_FROM, EmploymentKind
from services.outcomes import pipeline
from services.outcomes.records import FUNNEL, ReferralRecord
from services.outcomes.reports.stats import label, median_days, rate

# The kinds of job a conversion starts from (contracts.events.CONVERTS_FROM).
WORK_BASED_LEARNING = tuple(kind.value for kind in EmploymentKind if kind in CONVERTS_FROM)

DIMENSIONS = ("partner", "employer", "program", "occupation", "occupation_detailed", "period", "employment_type")
NOT_PLACED = "(not placed)"  # the employment_type group of records without a placement
SPANS = tuple(zip(FUNNEL, FUNNEL[1:], strict=False)) + (("referred", "placed"),)


def detailed_soc(code: str | None) -> str | None:
    """The 6-digit SOC detailed occupation of an O*NET-SOC code ("15-1252.01" -> "15-1252")."""
    return code.split(".", 1)[0] if code else code


def period_of(record: ReferralRecord, period: str) -> str:
    """The month ("2024-03") or quarter ("2024-Q1") of `referred_at`, in the time zone it carries."""
    day = record.referred_at.date()
    if period == "month":
        return f"{day.year:04d}-{day.month:02d}"
    if period == "quarter":
        return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
    raise ValueError(f"period is month or quarter, not {period!r}")


def key_of(dimension: str, period: str = "month") -> Callable[[ReferralRecord], str]:
    keys: dict[str, Callable[[ReferralRecord], object]] = {
        "partner": lambda r: r.partner_id,
        "employer": lambda r: r.employer_id,
        "program": lambda r: r.program,
        "occupation": lambda r: r.occupation,
        "occupation_detailed": lambda r: detailed_soc(r.occupation),
        "period": lambda r: period_of(r, period),
        "employment_type": lambda r: r.placement.employment_type if r.placement is not None else NOT_PLACED,
    }
    if dimension not in keys:
        raise ValueError(f"unknown dimension {dimension!r}; one of {DIMENSIONS}")
    get = keys[dimension]
    return lambda r: label(get(r))


def reached_at(record: ReferralRecord, stage: str):
    if stage == "referred":
        return record.reached.get("referred", record.referred_at)
    return record.reached.get(stage)


def summarize(records: Iterable[ReferralRecord]) -> dict:
    """One group's funnel: counts, conversions and median days."""
    records = list(records)
    lines = pipeline.summarize(pipeline.of_record(r) for r in records)
    counts = lines["referrals"]["stages"]
    stages = []
    for i, stage in enumerate(FUNNEL):
        previous = counts[FUNNEL[i - 1]] if i else counts[stage]
        stages.append({
            "stage": stage,
            "count": counts[stage],
            "conversion_from_previous": rate(counts[stage], previous) if i else None,
            "conversion_from_referred": rate(counts[stage], counts["referred"]),
        })
    durations = []
    for earlier, later in SPANS:
        days = [
            (reached_at(r, later) - reached_at(r, earlier)).total_seconds() / 86400
            for r in records
            if reached_at(r, earlier) is not None and reached_at(r, later) is not None
        ]
        durations.append({"from": earlier, "to": later, "records": len(days), "median_days": median_days(days)})
    return {"records": len(records), "stages": stages,
            "interviews_recorded": lines["referrals"][pipeline.INTERVIEWS_RECORDED], "median_days": durations,
            "conversions": conversions(records), "referrals": lines["referrals"], "people": lines["people"]}


def conversions(records: list[ReferralRecord]) -> dict:
    """Work-based learning placements converted into full-time or part-time hires."""
    learning = [r for r in records if r.placement is not None and r.placement.employment_type in WORK_BASED_LEARNING]
    converted = [r.conversion for r in records if r.conversion is not None]
    return {
        "work_based_learning": len(learning),
        "converted": len(converted),
        "to_full_time": sum(1 for c in converted if c.to_employment_type == "full_time"),
        "to_part_time": sum(1 for c in converted if c.to_employment_type == "part_time"),
        "conversion_rate": rate(len(converted), len(learning)),
    }


def funnel(records: Iterable[ReferralRecord], by: str | None = None, period: str = "month") -> dict:
    """The funnel in total, or grouped by one of DIMENSIONS (groups sorted by label)."""
    records = list(records)
    if by is None:
        return {"dimension": None, "groups": [], "total": summarize(records)}
    key = key_of(by, period)
    groups: dict[str, list[ReferralRecord]] = defaultdict(list)
    for r in records:
        groups[key(r)].append(r)
    return {
        "dimension": by,
        "period": period if by == "period" else None,
        "groups": [{"group": g, **summarize(groups[g])} for g in sorted(groups)],
        "total": summarize(records),
    }


def funnels(records: Iterable[ReferralRecord], period: str = "month") -> dict:
    """The totals and the funnel by every dimension."""
    records = list(records)
    return {
        "total": summarize(records),
        "by": {dimension: funnel(records, dimension, period)["groups"] for dimension in DIMENSIONS},
        "period": period,
    }
