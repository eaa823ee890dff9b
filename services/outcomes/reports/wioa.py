"""WIOA primary indicators of performance, where our records hold the data.

WIOA sec. 116(b)(2)(A); the methods follow TEGL 10-16 (Change 2) and, for effectiveness in
serving employers, the 2024 joint final rule (89 FR 13814), which defines it as Retention with
the Same Employer. Field names map to the DOL Participant Individual Record Layout (PIRL,
ETA-9172; ETA-9170 is the joint WIOA version). The element numbers below were checked against
published PIRL column lists (e.g. "1602 Employed in 2nd Quarter After Exit Quarter (WIOA)"),
not against the DOL spreadsheet itself; see docs/reports.md.

Our records are not UI wage records, so every employment figure is a proxy built from what
employers report to the network (placement, retention check-ins, separation):

- Exit (PIRL 901 "Date of Program Exit") is `training_completed_on`. Records without it are not
  in the exit cohort (they have not exited training, or the partner did not say so); they are
  counted in `not_in_cohort`.
- Employed in the k-th quarter after the exit quarter: a paid placement (an unpaid one, such as
  an unpaid internship, pays no wages, so UI wage records would not show it) started on or before the
  last day of that quarter and employment had not ended before its first day. Employment ends
  on `separated_on` (a separation, or a retention check-in with still_employed = false, at its
  check date). A record with a failed milestone (`retention[m] is False`) and no separation
  date ended at start_date + m days at the latest we can tell: we use that date.
- An indicator is measured for a record only once its window has closed on `as_of` (the end
  of the 2nd or 4th quarter after exit; one year after exit for credentials); earlier, the
  record is counted in `not_yet_measurable` and left out of numerator and denominator.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

from services.outcomes.records import ReferralRecord
from services.outcomes.reports.funnel import NOT_PLACED
from services.outcomes.reports.stats import cents, money, rate

PIRL = {
    "exit": (901, "Date of Program Exit (WIOA)"),
    "employed_q2": (1602, "Employed in 2nd Quarter After Exit Quarter (WIOA)"),
    "employed_q4": (1606, "Employed in 4th Quarter After Exit Quarter (WIOA)"),
    "wages_q2": (1704, "Wages 2nd Quarter After Exit Quarter (WIOA)"),
    "credential_type": (1800, "Type of Recognized Credential (WIOA)"),
    "credential_date": (1801, "Date Attained Recognized Credential (WIOA)"),
    "msg_skills_progression": (1810, "Date of Most Recent Measurable Skill Gains: Skills Progression (WIOA)"),
    "msg_training_milestone": (1809, "Date of Most Recent Measurable Skill Gains: Training Milestone (WIOA)"),
    "retention_same_employer": (1618, "Retention with the same employer in the 2nd Quarter and the 4th Quarter (WIOA)"),
}


def _pirl(*keys: str) -> list[dict]:
    return [{"element": PIRL[k][0], "name": PIRL[k][1]} for k in keys]


# --- calendar quarters ---------------------------------------------------------------------


def quarter_of(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def add_quarters(quarter: tuple[int, int], k: int) -> tuple[int, int]:
    index = quarter[0] * 4 + quarter[1] - 1 + k
    return index // 4, index % 4 + 1


def quarter_start(quarter: tuple[int, int]) -> date:
    return date(quarter[0], 3 * quarter[1] - 2, 1)


def quarter_end(quarter: tuple[int, int]) -> date:
    return quarter_start(add_quarters(quarter, 1)) - timedelta(days=1)


def one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


# --- employment after exit -----------------------------------------------------------------


def employment_ended(record: ReferralRecord) -> date | None:
    """The last day we know the placement lasted to, or None while it lasts."""
    if record.separated_on is not None:
        return record.separated_on
    failed = sorted(m for m, still in record.retention.items() if not still)
    if record.placement is not None and failed:
        return record.placement.start_date + timedelta(days=failed[0])
    return None


def employed_in_quarter_after_exit(record: ReferralRecord, k: int) -> bool:
    if record.placement is None or not record.placement.paid or record.training_completed_on is None:
        return False
    quarter = add_quarters(quarter_of(record.training_completed_on), k)
    ended = employment_ended(record)
    return record.placement.start_date <= quarter_end(quarter) and (ended is None or ended >= quarter_start(quarter))


# A salary's quarter when the hours it pays for are not stated.
QUARTER_OF = {"week": Decimal(13), "month": Decimal(3), "year": Decimal(1) / Decimal(4)}


def quarterly_earnings(record: ReferralRecord) -> Decimal | None:
    """hourly wage x contracted hours per week x 13 weeks; without the hours, a weekly, monthly
    or yearly wage's quarter (x 13, x 3, / 4); None when it cannot be told (an hourly wage
    without hours, a project fee)."""
    p = record.placement
    hourly = p.hourly_wage
    if hourly is not None and p.hours_per_week:
        return cents(hourly * Decimal(str(p.hours_per_week)) * 13)
    if p.wage_unit in QUARTER_OF and p.pay_basis != "project_fee":
        return cents(p.wage_amount * QUARTER_OF[p.wage_unit])
    return None


def _measurable(record: ReferralRecord, k: int, as_of: date | None) -> bool:
    if as_of is None:
        return True
    return quarter_end(add_quarters(quarter_of(record.training_completed_on), k)) <= as_of


def _indicator(key: str, name: str, numerator, denominator, value, method: str, pirl: list[dict], **extra) -> dict:
    return {"indicator": key, "name": name, "numerator": numerator, "denominator": denominator, "value": value,
            "method": method, "pirl": pirl, **extra}


def indicators(records: Iterable[ReferralRecord], as_of: date | None = None) -> dict:
    """The indicators over every record, and (`by`) over the records of each kind of job the
    placed were placed in (`employment_type`; the rest in "(not placed)")."""
    records = list(records)
    groups: dict[str, list[ReferralRecord]] = {}
    for r in records:
        groups.setdefault(r.placement.employment_type if r.placement is not None else NOT_PLACED, []).append(r)
    return {
        **_indicators(records, as_of),
        "by": {"employment_type": [{"group": g, **_indicators(groups[g], as_of)} for g in sorted(groups)]},
    }


def _indicators(records: list[ReferralRecord], as_of: date | None) -> dict:
    cohort = [r for r in records if r.training_completed_on is not None]
    out = []

    for k, nth, key in ((2, "2nd", "employed_q2"), (4, "4th", "employed_q4")):
        measured = [r for r in cohort if _measurable(r, k, as_of)]
        employed = [r for r in measured if employed_in_quarter_after_exit(r, k)]
        out.append(_indicator(
            f"employment_rate_q{k}", f"Employment Rate – {nth} Quarter After Exit",
            len(employed), len(measured), rate(len(employed), len(measured)),
            f"Exiters (training_completed_on) whose paid placement started by the end of the {nth} quarter after the exit"
            " quarter and had not ended before it began, over all exiters whose quarter has closed. Proxy: employer"
            " reports, not UI wage records.",
            _pirl("exit", key), not_yet_measurable=len(cohort) - len(measured), proxy=True,
        ))

    measured = [r for r in cohort if _measurable(r, 2, as_of)]
    employed = [r for r in measured if employed_in_quarter_after_exit(r, 2)]
    earnings = [e for r in employed if r.placement.currency == "USD" and (e := quarterly_earnings(r)) is not None]
    median = cents(statistics.median(earnings)) if earnings else None
    out.append(_indicator(
        "median_earnings_q2", "Median Earnings – 2nd Quarter After Exit",
        len(earnings), len(employed), money(median),
        "Median of hourly_wage x hours_per_week x 13 over exiters employed in the 2nd quarter after exit (USD"
        " placements; without hours, a weekly, monthly or yearly wage's quarter; an hourly wage or project fee"
        " without hours is not counted). Proxy: contracted pay for a full quarter, not wages paid (a part-quarter"
        " or overtime differs).",
        _pirl("exit", "employed_q2", "wages_q2"), not_yet_measurable=len(cohort) - len(measured), proxy=True,
    ))

    measured = [r for r in cohort if as_of is None or one_year_after(r.training_completed_on) <= as_of]
    attained = [
        r for r in measured
        if any(c.status == "completed" and c.awarded_on is not None
               and r.training_completed_on <= c.awarded_on <= one_year_after(r.training_completed_on)
               for c in r.credentials)
    ]
    out.append(_indicator(
        "credential_attainment", "Credential Attainment Rate",
        len(attained), len(measured), rate(len(attained), len(measured)),
        "Exiters with a completed credential awarded on the exit date or within one year after it, over exiters"
        " whose year has passed. Credentials awarded before exit are not counted (we cannot tell them from"
        " credentials held before training), nor completed ones without a date; we do not know whether a"
        " credential is a recognized postsecondary credential (PIRL 1800's type).",
        _pirl("exit", "credential_type", "credential_date"), not_yet_measurable=len(cohort) - len(measured),
        proxy=True,
    ))

    in_training = [r for r in records if r.program is not None or r.training_completed_on is not None]
    gained = [r for r in in_training if r.skills_added > 0]
    out.append(_indicator(
        "measurable_skill_gains", "Measurable Skill Gains",
        len(gained), len(in_training), rate(len(gained), len(in_training)),
        "Referrals with a training program whose partner later added at least one skill (skills_added > 0),"
        " over referrals with a training program. Proxy for the skills-progression and training-milestone"
        " types; no program year window, no documented assessment.",
        _pirl("msg_skills_progression", "msg_training_milestone"), proxy=True,
    ))

    measured = [r for r in cohort if _measurable(r, 4, as_of)]
    employed_q2 = [r for r in measured if employed_in_quarter_after_exit(r, 2)]
    retained = [r for r in employed_q2 if employed_in_quarter_after_exit(r, 4)]
    out.append(_indicator(
        "retention_with_same_employer", "Effectiveness in Serving Employers – Retention with the Same Employer",
        len(retained), len(employed_q2), rate(len(retained), len(employed_q2)),
        "Exiters employed in the 2nd quarter after exit who are employed by the same employer (one placement"
        " per referral) in the 4th quarter, over exiters employed in the 2nd quarter.",
        _pirl("exit", "employed_q2", "employed_q4", "retention_same_employer"),
        not_yet_measurable=len(cohort) - len(measured), proxy=True,
    ))

    per_employer = Counter(r.placement.employer_id for r in records if r.placement is not None)
    repeat = sum(1 for n in per_employer.values() if n > 1)
    out.append(_indicator(
        "repeat_business_customers", "Effectiveness in Serving Employers – Repeat Business Customers (pilot)",
        repeat, len(per_employer), rate(repeat, len(per_employer)),
        "Employers with more than one placement over employers with at least one, all referrals (not only"
        " exiters). A TEGL 10-16 pilot approach (employers using services more than once), no longer the"
        " indicator since the 2024 rule; an employer-level measure with no PIRL element.",
        [], proxy=True,
    ))

    return {
        "as_of": as_of.isoformat() if as_of else None,
        "records": len(records),
        "exit_cohort": len(cohort),
        "not_in_cohort": len(records) - len(cohort),
        "indicators": out,
    }
