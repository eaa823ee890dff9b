"""The demo's program year as a dated schedule: pure, the same for the same seed.

`plan(seed, referrals, start_day)` says who each partner refers on which business day and
what becomes of each referral, day by day: when the employer answers (in business days; some
later than the stale limit, so `referral.stale` falls when it would), whether it declines,
the interview and its outcome, the offer, the placement with its start date (hires start
together every four weeks), and the
retention check-ins at start + 30, 90 and 180 days (raises, promotions, separations).

Each referral's fate is drawn from `random.Random(f"{seed}-{partner}-{n}")`, never from an id
the network makes up (referral ids are random), so the same seed gives the same fates, in any
run, on any ledger. What the plan cannot know is routing's decision; it plans every routing
attempt a referral could have (attempt k+1 only after attempt k's decline, routed again the
same day), and the driver (talentloop/demo.py) skips the steps of attempts that did not
happen (the referral waited unmatched instead).

Dates are simulated days; every step of a day happens at DAY_TIME (the demo's clock is frozen
for the day), so a referral routed at 15:00 is stale N business days later at 15:00. An answer
never comes exactly on that day, where it would race the stale sweeper: it comes earlier or
at least a business day later.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

PARTNERS = ("northside-tech-collective", "riverbend-community-college", "forge-coding-bootcamp")
MILESTONES = (30, 90, 180)
PER_DAY = 10  # referrals made on one business day (all partners together)
DAY_TIME = time(15, 0)
COHORT_WEEKS = 4  # new hires start on the Monday of every fourth week
MAX_ATTEMPTS = 3  # routing decisions per referral (TALENTLOOP_MAX_ROUTING_ATTEMPTS' default)

# Each partner trains for some tracks; a candidate gets a track's skills plus extras.
TRACKS: dict[str, list[list[str]]] = {
    "northside-tech-collective": [["troubleshooting", "windows", "customer service"], ["testing", "sql", "excel"]],
    "riverbend-community-college": [["networking", "linux", "security+"], ["python", "sql", "pandas"]],
    "forge-coding-bootcamp": [["javascript", "html", "css", "react"], ["python", "git", "docker"]],
}
EXTRAS = ["git", "excel", "aws", "tableau", "selenium", "python", "sql", "communication"]
DECLINE_REASONS = ("position_filled", "requirements_not_met", "no_capacity")

# Step kinds, in the order they happen on one day for one referral.
REFER, STALE_DUE, ACKNOWLEDGE, DECLINE, INTERVIEW, INTERVIEW_OUTCOME, OFFER, PLACE, CHECK_IN = (
    "refer", "stale_due", "acknowledge", "decline", "interview", "interview_outcome", "offer", "place", "check_in")


@dataclass(frozen=True)
class Step:
    """One thing that happens on `day` to partner's n-th referral (at routing attempt
    `attempt`; 0 for the referral itself). `data` is the request's content."""

    day: date
    partner: str
    n: int
    attempt: int
    kind: str
    data: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def at(self) -> datetime:
        return moment(self.day)


@dataclass(frozen=True)
class Calendar:
    """Business days: Monday to Friday, without the holidays (the gateway's stale rule)."""

    holidays: frozenset[date] = frozenset()

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def first_on_or_after(self, day: date) -> date:
        while not self.is_business_day(day):
            day += timedelta(days=1)
        return day

    def add(self, day: date, business_days: int) -> date:
        day = self.first_on_or_after(day)
        for _ in range(business_days):
            day = self.first_on_or_after(day + timedelta(days=1))
        return day


@dataclass(frozen=True)
class Plan:
    seed: int
    referrals: int
    start_day: date
    stale_days: int
    steps: tuple[Step, ...]
    profiles: dict[tuple[str, int], list[str]]  # (partner, n) -> skills

    @property
    def days(self) -> list[date]:
        """Every day something happens (or a deadline falls), in order."""
        return sorted({s.day for s in self.steps})

    @property
    def last_day(self) -> date:
        return max(s.day for s in self.steps)

    def on(self, day: date) -> list[Step]:
        return [s for s in self.steps if s.day == day]


def moment(day: date) -> datetime:
    return datetime.combine(day, DAY_TIME, UTC)


def partner_of(n: int) -> str:
    return PARTNERS[n % len(PARTNERS)]


def skills_of(rng: random.Random, partner: str) -> list[str]:
    """A made-up person's skills: one of the partner's tracks plus extras; some lack a core skill."""
    skills = list(rng.choice(TRACKS[partner]))
    skills += rng.sample(EXTRAS, 2)
    if rng.random() < 0.2:
        skills.pop(rng.randrange(2))
    return sorted(set(skills))


def response_delay(rng: random.Random, stale_days: int) -> int:
    """Business days until the employer answers: mostly within the stale limit, a quarter
    later (never exactly on it, which would race the sweeper)."""
    if rng.random() < 0.25:
        return stale_days + rng.randint(1, 4)
    return rng.randint(max(1, stale_days - 2), max(1, stale_days - 1))


def _attempt(rng: random.Random, cal: Calendar, partner: str, n: int, attempt: int, routed: date,
             stale_days: int, anchor: date) -> tuple[list[Step], date | None]:
    """The steps of one routing attempt routed on `routed`; and the day it was declined (the
    next attempt is routed then), or None when it ends otherwise."""
    steps: list[Step] = []

    def step(day: date, kind: str, **data: Any) -> None:
        steps.append(Step(day, partner, n, attempt, kind, data))

    delay = response_delay(rng, stale_days)
    if delay > stale_days:
        step(cal.add(routed, stale_days), STALE_DUE)  # the driver visits the day, the sweeper marks it
    answered = cal.add(routed, delay)
    if rng.random() < 0.15:
        step(answered, DECLINE, reason=rng.choice(DECLINE_REASONS))
        return steps, answered
    step(answered, ACKNOWLEDGE)
    if rng.random() < 0.25:
        return steps, None  # still in review at the end of the year
    booked = cal.add(answered, rng.randint(1, 3))
    held = cal.add(booked, rng.randint(1, 3))
    step(booked, INTERVIEW, scheduled_for=moment(held).replace(hour=10).isoformat(), mode=rng.choice(["video", "in_person", "phone"]))
    if rng.random() < 0.4:
        step(held, INTERVIEW_OUTCOME, outcome="not_selected")
        step(held, DECLINE, reason="not_selected_after_interview")
        return steps, held
    step(held, INTERVIEW_OUTCOME, outcome="advanced")
    offered = cal.add(held, rng.randint(1, 4))
    accepted = cal.add(offered, rng.randint(1, 5))
    # New hires start together, on the Monday of every fourth week of the program (fewer days
    # with check-ins, so a year takes fewer settled days), at least a week after accepting.
    weeks = -(-(accepted + timedelta(days=7) - anchor).days // (7 * COHORT_WEEKS))
    start = anchor + timedelta(weeks=COHORT_WEEKS * weeks)
    wage = round(rng.uniform(24, 42), 2)
    terms = {
        "job_title": "Junior Technologist", "onet_soc_code": "15-1252.00",
        "wage": {"amount": f"{wage:.2f}", "unit": "hour"}, "hours_per_week": 40,
        "employment_type": rng.choice(["full_time", "full_time", "apprenticeship"]),
        "benefits": {"health": True, "retirement": rng.random() < 0.7, "paid_leave": True},
        "start_date": start.isoformat(),
    }
    step(offered, OFFER, terms=terms, expires_on=cal.add(offered, 5).isoformat())
    step(accepted, PLACE, terms=terms)
    for milestone, keep in zip(MILESTONES, (0.93, 0.88, 0.9), strict=True):
        employed = rng.random() < keep
        if employed and rng.random() < (0.0 if milestone == 30 else 0.35):
            wage = round(wage * (1 + rng.uniform(0.03, 0.08)), 2)  # a raise since the last check-in
        said = {"wage": {"amount": f"{wage:.2f}", "unit": "hour"}, "promoted": milestone == 180 and rng.random() < 0.15}
        step(start + timedelta(days=milestone), CHECK_IN, milestone_days=milestone, still_employed=employed,
             **(said if employed else {}))
        if not employed:
            break
    return steps, None


def plan(seed: int, referrals: int, start_day: date, *, stale_days: int = 2,
         holidays: Iterable[date] = (), max_attempts: int = MAX_ATTEMPTS) -> Plan:
    """The schedule of `referrals` referrals, the first made on `start_day` (or the next
    business day), PER_DAY a business day, the partners in turn."""
    cal = Calendar(frozenset(holidays))
    steps: list[Step] = []
    profiles: dict[tuple[str, int], list[str]] = {}
    first = cal.first_on_or_after(start_day)
    anchor = first - timedelta(days=first.weekday())  # the Monday of the program's first week
    for n in range(referrals):
        partner = partner_of(n)
        rng = random.Random(f"{seed}-{partner}-{n}")
        profiles[(partner, n)] = skills_of(rng, partner)
        referred = cal.add(first, n // PER_DAY)
        steps.append(Step(referred, partner, n, 0, REFER))
        routed: date | None = referred
        for attempt in range(1, max_attempts + 1):
            if routed is None:
                break
            more, routed = _attempt(rng, cal, partner, n, attempt, routed, stale_days, anchor)
            steps += more
    order = {k: i for i, k in enumerate((REFER, STALE_DUE, ACKNOWLEDGE, INTERVIEW, INTERVIEW_OUTCOME, DECLINE, OFFER,
                                         PLACE, CHECK_IN))}
    # Schedule order within a day: by partner and n, each referral's steps as planned.
    indexed = sorted(enumerate(steps), key=lambda p: (p[1].day, p[1].kind != REFER, p[1].n, p[1].attempt,
                                                       order[p[1].kind], p[0]))
    return Plan(seed, referrals, start_day, stale_days, tuple(s for _, s in indexed), profiles)


def start_for(seed: int, referrals: int, today: date, **kw: Any) -> date:
    """The Monday to start on so that the year's last step falls on or before `today` (the
    system clock keeps running for API keys and idempotency records: nothing may be dated
    after them). Whole weeks only, so the weekdays, hence the funnel, never change."""
    reference = today - timedelta(days=today.weekday())
    span = plan(seed, referrals, reference, **kw).last_day - reference
    start = reference - timedelta(days=math.ceil(span.days / 7) * 7)
    while plan(seed, referrals, start, **kw).last_day > today:  # holidays may stretch a year
        start -= timedelta(days=7)
    return start
