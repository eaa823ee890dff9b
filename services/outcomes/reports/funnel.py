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

Suppression (`threshold`, set for reports a non-operator reads; docs/reports.md, "Funnel
suppression"): the unit is the group, not the cell. A group of a dimension is published only
if it counts more than `threshold` people; the smaller groups are combined into one row
(SMALL_GROUPS, never named one by one), and while that row counts `threshold` people or fewer
the smallest published group joins it. What is left of the combined row at `threshold` people
or fewer (and the total, when it is that small) is suppressed: every count None and
`suppressed` true. Median days are given only over more than `threshold` records (the count of
records still given), as the wage growth's medians in a partner's report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from services.outcomes import pipeline
from services.outcomes.records import FUNNEL, ReferralRecord
from services.outcomes.reports.groups import SMALL_GROUPS as SMALL_GROUPS  # where render and tests name it
from services.outcomes.reports.groups import people, suppressed_groups
from services.outcomes.reports.stats import label, median_days, rate

WORK_BASED_LEARNING = pipeline.WORK_BASED_LEARNING  # the kinds of job a conversion starts from

DIMENSIONS = ("partner", "employer", "program", "occupation", "occupation_detailed", "period", "employment_type")
NOT_PLACED = "(not placed)"  # the employment_type group of records without a placement
SPANS = tuple(zip(FUNNEL, FUNNEL[1:], strict=False)) + (("referred", "placed"),)

# Every line the funnel prints, with a short definition and where docs/pipeline.md gives it in
# full: (section, line, definition). The rendered CSV and HTML carry them.
PIPELINE = "docs/pipeline.md"
_STAGES_DOC = f"{PIPELINE}#stages-cumulative"
_OUTCOMES_DOC = f"{PIPELINE}#outcomes-exclusive"
STAGE_DEFINITIONS = {
    "referred": "every referral the ledger knows",
    "routed": "routed to an employer at any attempt, or any employer acted on it",
    "acknowledged": "acknowledged, interviewed, offered or placed",
    "interviewed": "an interview recorded, or a later stage reached",
    "offered": "an offer (or its refusal), or placed",
    "placed": "a placement, conversion, retention check-in or separation",
    "retained_90_days": "a check-in at 90 days or later said still employed",
}
OUTCOME_DEFINITIONS = {
    "placed": "hired, whatever happened after",
    "in_progress": "with an employer now: in review, interviewing or offered",
    "pending": "waits for its first routing decision",
    "offer_declined": "the candidate turned the current employer's offer down",
    "declined": "the current employer declined it and no new routing decision followed",
    "not_matched_after_decline": "no opening fits it now; an employer had it before",
    "not_matched_never_routed": "no opening has fitted it yet; no employer ever had it",
    "withdrawn": "withdrawn by the partner (or erased) before any hire",
}
PLACED_DEFINITIONS = {
    "retained_90_days": "of the placed: still employed at a check-in at 90 days or later",
    "retained_180_days": "of the placed: still employed at a check-in of the hire's employer at 180 days or later",
    "separated": "of the placed: a separation, or a check-in saying no longer employed",
}
FLAG_DEFINITIONS = {
    pipeline.DECLINED_AT_LEAST_ONCE: "some employer declined it (a person: one of their referrals), at any attempt",
    pipeline.DECLINED_THEN_PLACED: "referrals: declined by one employer, placed by another",
    pipeline.DECLINED_THEN_PLACED_ELSEWHERE: "people: one employer declined them, another placed them",
}


def lines_of(summary: dict) -> list[dict[str, Any]]:
    """Every line of a group's summary, in order, as (section, line, referrals, people,
    definition) rows: the stages, interviews recorded, the exclusive outcomes, placed's
    sub-lines, the flags. A line that exists for one side only has None on the other (as every
    count of a suppressed summary)."""
    refs, people = summary["referrals"], summary["people"]
    out = [{"section": "stage", "line": s, "referrals": refs["stages"][s], "people": people["stages"][s],
            "definition": f"{STAGE_DEFINITIONS[s]} ({_STAGES_DOC})"} for s in FUNNEL]
    out.append({"section": "interviews_recorded", "line": pipeline.INTERVIEWS_RECORDED,
                "referrals": refs[pipeline.INTERVIEWS_RECORDED], "people": people[pipeline.INTERVIEWS_RECORDED],
                "definition": f"an interview actually recorded (at most interviewed; {_STAGES_DOC})"})
    out += [{"section": "outcome", "line": o, "referrals": refs["outcomes"][o], "people": people["outcomes"][o],
             "definition": f"{OUTCOME_DEFINITIONS[o]} ({_OUTCOMES_DOC})"}
            for o in pipeline.OUTCOMES]
    out += [{"section": "placed", "line": d, "referrals": refs["placed"][d], "people": people["placed"][d],
             "definition": f"{PLACED_DEFINITIONS[d]} ({_OUTCOMES_DOC})"} for d in pipeline.PLACED_DETAILS]
    for flag in dict.fromkeys(pipeline.REFERRAL_FLAGS + pipeline.PEOPLE_FLAGS):
        out.append({"section": "flag", "line": flag, "referrals": refs["flags"].get(flag),
                    "people": people["flags"].get(flag), "definition": f"{FLAG_DEFINITIONS[flag]} ({_OUTCOMES_DOC})"})
    return out


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


def _person(r: ReferralRecord) -> str:
    return r.person_key or f"referral:{r.referral_id}"


def people_of(records: Iterable[ReferralRecord]) -> int:
    """How many people (`pipeline.of_record`'s person_key) the records are about."""
    return people(records, _person)


def _blank(value: Any) -> Any:
    """The same shape with every count, rate and median None (labels kept)."""
    if isinstance(value, dict):
        return {k: v if k in ("stage", "from", "to") else _blank(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v) for v in value]
    return None


def summarize(records: Iterable[ReferralRecord], threshold: int | None = None,
              elsewhere: dict[str, ReferralRecord] | None = None) -> dict:
    """One group's funnel: counts, conversions and median days. With a `threshold` (a
    suppressed report): suppressed whole when it counts 1 to `threshold` people, and median days
    only over more than `threshold` records. `elsewhere`: the report's conversions at another
    employer (`pipeline.hires_elsewhere` over all its records; by default over these)."""
    records = list(records)
    if threshold is not None and 1 <= people_of(records) <= threshold:
        return {**_blank(summarize(records, elsewhere=elsewhere)), "suppressed": True}
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
        shown = threshold is None or len(days) > threshold
        durations.append({"from": earlier, "to": later, "records": len(days),
                          "median_days": median_days(days) if shown else None})
    return {"suppressed": False, "records": len(records), "stages": stages,
            "interviews_recorded": lines["referrals"][pipeline.INTERVIEWS_RECORDED], "median_days": durations,
            "conversions": conversions(records, elsewhere), "referrals": lines["referrals"], "people": lines["people"]}


def conversions(records: list[ReferralRecord], elsewhere: dict[str, ReferralRecord] | None = None) -> dict:
    """Work-based learning placements converted into full-time or part-time hires at the same
    employer (placement.converted) and at another one (`elsewhere`: pipeline.hires_elsewhere over
    every record of the report, by default over `records`), counted on the work-based learning
    referral, so in its groups."""
    elsewhere = pipeline.hires_elsewhere(records) if elsewhere is None else elsewhere
    learning = [r for r in records if r.placement is not None and r.placement.employment_type in WORK_BASED_LEARNING]
    converted = [r.conversion for r in records if r.conversion is not None]
    moved = [elsewhere[r.referral_id].placement for r in learning if r.referral_id in elsewhere]
    return {
        "work_based_learning": len(learning),
        "converted": len(converted),
        "to_full_time": sum(1 for c in converted if c.to_employment_type == "full_time"),
        "to_part_time": sum(1 for c in converted if c.to_employment_type == "part_time"),
        "conversion_rate": rate(len(converted), len(learning)),
        "converted_elsewhere": len(moved),
        "elsewhere_to_full_time": sum(1 for p in moved if p.employment_type == "full_time"),
        "elsewhere_to_part_time": sum(1 for p in moved if p.employment_type == "part_time"),
        "converted_any": len(converted) + len(moved),
        "conversion_rate_any": rate(len(converted) + len(moved), len(learning)),
    }


def funnel(records: Iterable[ReferralRecord], by: str | None = None, period: str = "month",
           threshold: int | None = None) -> dict:
    """The funnel in total, or grouped by one of DIMENSIONS (groups sorted by label). With a
    `threshold`, suppressed by groups (the module's docstring): the groups of more than
    `threshold` people, then SMALL_GROUPS if there were smaller ones."""
    records = list(records)
    elsewhere = pipeline.hires_elsewhere(records)
    if by is None:
        return {"dimension": None, "groups": [], "total": summarize(records, threshold, elsewhere)}
    key = key_of(by, period)
    shown = [{"group": g, **summarize(rs, threshold, elsewhere)}
             for g, rs in suppressed_groups(records, lambda r: (key(r),), _person, threshold)]
    return {
        "dimension": by,
        "period": period if by == "period" else None,
        "groups": shown,
        "total": summarize(records, threshold, elsewhere),
    }


def funnels(records: Iterable[ReferralRecord], period: str = "month", threshold: int | None = None) -> dict:
    """The totals and the funnel by every dimension (suppressed by groups with a `threshold`)."""
    records = list(records)
    return {
        "total": summarize(records, threshold, pipeline.hires_elsewhere(records)),
        "by": {dimension: funnel(records, dimension, period, threshold)["groups"] for dimension in DIMENSIONS},
        "period": period,
        "suppression_threshold": threshold,
        "definitions": PIPELINE,
    }
