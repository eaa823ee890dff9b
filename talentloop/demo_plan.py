"""The demo's program year as a dated schedule: pure, the same for the same seed.

`plan(seed, referrals, start_day)` says who trains where before the referrals begin, who each
partner refers on which business day and what becomes of each referral, day by day.

Training: two providers run one cohort each that ends the Friday before the first referral
(every program runs 16 weeks): each participant enrolls on the cohort's first
day, some report progress half-way, and each completes (some earning the program's credential)
or exits with a reason. About half of the people referred are such completers (the same person:
`n` names them), referred by their provider or by another partner; the others trained and were
not referred. The providers report on the days these things happen (`TRAIN` steps).

Supportive services: half-way through, the bootcamp asks a community organisation (a service
provider) for bus fare, a laptop or childcare for some of its participants who go on to
complete (`REQUEST_SERVICE`, naming its enrollment); the organisation answers the same day,
declining one request a year (the first: out of its area) and accepting the others, and
delivers them three business days later (`DELIVER_SERVICE`, with the value when it is money).

Referrals: when the employer answers (in business days; some
later than the stale limit, so `referral.stale` falls when it would), whether it declines,
the interview and its outcome, the offer, the placement with its start date (hires start
together every four weeks), and the
retention check-ins at start + 30, 90 and 180 days (raises, promotions, separations). The job's
kind is the opening's, which only routing decides: each offer, placement and check-in also says
what it is when the opening is an internship (`as_intern`: a lower wage, twelve weeks), and a
conversion to full time eight weeks after the start (`CONVERT`, at the job's full wage) is planned
for some; an intern not converted is no longer employed at the 90-day check-in.

Each referral's fate is drawn from `random.Random(f"{seed}-{partner}-{n}")`, never from an id
the network makes up (referral ids are random), so the same seed gives the same fates, in any
run, on any ledger. What the plan cannot know is routing's decision; it plans every routing
attempt a referral could have (attempt k+1 only after attempt k's decline, routed again the
same day), and the driver (talentloop/demo.py) skips the steps of attempts that did not
happen (the referral waited unmatched instead), and the intern steps of jobs that are not
internships.

Dates are simulated days; every step of a day happens at DAY_TIME (the demo's clock is frozen
for the day), so a referral routed at 15:00 is stale N business days later at 15:00. An answer
never comes exactly on that day, where it would race the stale sweeper: it comes earlier or
at least a business day later.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from plumbing.business_days import BusinessDays
from talentloop.samples import PROGRAMS

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

# Training providers and how each reports its enrollments: Forge by the JSON API, Riverbend's
# registrar by its nightly CSV (deploy/adapters/riverbend-community-college.training.csv.yaml).
TRAINING_PROVIDERS = {"forge-coding-bootcamp": "api", "riverbend-community-college": "csv"}
TRAINED = 0.5  # of the people referred, those who completed a provider's program first
UNREFERRED_PER_REFERRAL = 0.25  # people who trained and were not referred, per referral
UNREFERRED = 500_000  # their n: samples.person(n) is a distinct person for n below 720,000
EXIT_REASONS = ("financial", "transportation", "childcare", "employment", "personal")
INTERN_WEEKS = 12
SERVICE_PROVIDER = {"partner_id": "eastside-community-services", "name": "Eastside Community Services",
                    "service_types": ["transportation", "technology", "childcare"]}
SERVICE_REQUESTER = "forge-coding-bootcamp"  # its API answers each enrollment's id, which a request names
# What a participant may need: (type, reason, amount when it is money).
SERVICES = (("transportation", "bus fare to evening classes", "120.00"), ("technology", "a laptop for coursework", None),
            ("childcare", "daycare during class hours", "300.00"))
DELIVERED_AFTER = 3  # business days from the request
CONVERTED_AFTER = timedelta(weeks=8)  # a converted intern is hired full time eight weeks in

# Step kinds, in the order they happen on one day for one person (TRAIN: a provider reports
# one participant's enrollment as it stands that day; then supportive services; then referrals).
TRAIN, REQUEST_SERVICE, DELIVER_SERVICE = "train", "request_service", "deliver_service"
REFER, STALE_DUE, ACKNOWLEDGE, DECLINE, INTERVIEW, INTERVIEW_OUTCOME, OFFER, PLACE, CONVERT, CHECK_IN = (
    "refer", "stale_due", "acknowledge", "decline", "interview", "interview_outcome", "offer", "place", "convert",
    "check_in")
PHASE = {TRAIN: 0, REQUEST_SERVICE: 1, DELIVER_SERVICE: 1, REFER: 2}  # within a day; the employers' steps: 3


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
class Trainee:
    """Person n's enrollment in one of `provider`'s programs, from the first day to its end."""

    provider: str
    n: int  # a referral's n when `referred`, else UNREFERRED + k
    program_id: str
    enrolled_on: date
    completed: bool  # else exited
    ended_on: date
    exit_reason: str | None
    half_way: date  # progress (module completed) reported then, by some; exits and service requests then
    progress_on: date | None
    credential: str | None  # the program's credential, earned on completion
    aggregate_reports: bool
    share_outcomes: bool
    referred: bool
    service: tuple[str, str, str | None] | None = None  # requested half-way: SERVICES' (type, reason, amount)
    service_declined: str | None = None  # the provider's reason code, when it declines

    @property
    def days(self) -> list[date]:
        """The days the provider reports a change."""
        return sorted({self.enrolled_on, self.ended_on, *([self.progress_on] if self.progress_on else [])})

    def record(self, day: date) -> dict[str, Any]:
        """The enrollment as it stands on `day`, in TalentLoop's terms (samples' shapes map it)."""
        out: dict[str, Any] = {
            "program_id": self.program_id, "status": "enrolled", "enrolled_on": self.enrolled_on.isoformat(),
            "consent": {"aggregate_reports": self.aggregate_reports, "share_outcomes_with_provider": self.share_outcomes,
                        "given_at": f"{self.enrolled_on.isoformat()}T13:00:00+00:00"},
        }
        if self.progress_on and self.progress_on <= day:
            out["progress"] = {"as_of": self.progress_on.isoformat(), "milestone": "module_completed",
                               "percent_complete": 50}
        if self.ended_on <= day:
            if self.completed:
                out |= {"status": "completed", "completed_on": self.ended_on.isoformat()}
                if self.credential:
                    out["credentials"] = [{"name": self.credential, "awarded_on": self.ended_on.isoformat()}]
            else:
                out |= {"status": "exited", "exited_on": self.ended_on.isoformat(), "exit_reason": self.exit_reason}
        return out

    @property
    def status(self) -> str:
        """Where the enrollment ends the year (records.EnrollmentRecord's status)."""
        return "completed" if self.completed else "exited"


def _trainee(rng: random.Random, provider: str, n: int, anchor: date, referred: bool) -> Trainee:
    """A participant in `provider`'s cohort, which ends the Friday before `anchor`: completers
    when `referred` (they are referred after it), else completed or exited half-way."""
    program = rng.choice(PROGRAMS[provider])
    enrolled = anchor - timedelta(weeks=program["length_weeks"])
    half = enrolled + timedelta(weeks=program["length_weeks"] // 2)
    completed = referred or rng.random() < 0.6
    credential = (program.get("credential") or {}).get("name") if completed and rng.random() < 0.7 else None
    return Trainee(
        provider=provider, n=n, program_id=program["program_id"], enrolled_on=enrolled, completed=completed,
        ended_on=anchor - timedelta(days=3) if completed else half,
        exit_reason=None if completed else rng.choice(EXIT_REASONS), half_way=half,
        progress_on=half if completed and rng.random() < 0.6 else None, credential=credential,
        aggregate_reports=rng.random() < 0.85, share_outcomes=rng.random() < 0.7, referred=referred,
        service=rng.choice(SERVICES) if provider == SERVICE_REQUESTER and completed and rng.random() < 0.4 else None,
    )


@dataclass(frozen=True)
class Plan:
    seed: int
    referrals: int
    start_day: date
    stale_days: int
    steps: tuple[Step, ...]
    profiles: dict[tuple[str, int], list[str]]  # (partner, n) -> skills
    trainees: dict[int, Trainee] = field(default_factory=dict)  # n -> their enrollment

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


def _attempt(rng: random.Random, cal: BusinessDays, partner: str, n: int, attempt: int, routed: date,
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
    benefits = {"health": True, "retirement": rng.random() < 0.7, "paid_leave": True}
    # The job's title, occupation and kind are the opening's (the driver adds them).
    terms = {"wage": {"amount": f"{wage:.2f}", "unit": "hour"}, "hours_per_week": 40, "benefits": benefits,
             "start_date": start.isoformat()}
    intern_wage = {"amount": f"{rng.uniform(18, 23):.2f}", "unit": "hour"}
    as_intern = {"wage": intern_wage, "benefits": {"health": False, "retirement": False, "paid_leave": False},
                 "end_date": (start + timedelta(weeks=INTERN_WEEKS)).isoformat()}
    converts = rng.random() < 0.5  # if an intern: hired full time at the job's wage, a raise
    step(offered, OFFER, terms=terms, as_intern=as_intern, expires_on=cal.add(offered, 5).isoformat())
    step(accepted, PLACE, terms=terms, as_intern=as_intern)
    for milestone, keep in zip(MILESTONES, (0.93, 0.88, 0.9), strict=True):
        employed = rng.random() < keep
        if employed and rng.random() < (0.0 if milestone == 30 else 0.35):
            wage = round(wage * (1 + rng.uniform(0.03, 0.08)), 2)  # a raise since the last check-in
        said = {"wage": {"amount": f"{wage:.2f}", "unit": "hour"}, "promoted": milestone == 180 and rng.random() < 0.15}
        # An intern: at the intern's wage until converted; not converted, the internship has
        # ended by the 90-day check-in (and there is no later one).
        intern: dict[str, Any] | None = {"wage": intern_wage} if milestone == 30 and employed else {}
        if milestone >= 90 and not converts:
            intern = {"still_employed": False, "wage": None, "promoted": None} if milestone == 90 else None
        step(start + timedelta(days=milestone), CHECK_IN, milestone_days=milestone, still_employed=employed,
             as_intern=intern, **(said if employed else {}))
        if milestone == 30 and employed and converts:
            step(start + CONVERTED_AFTER, CONVERT, converted_on=(start + CONVERTED_AFTER).isoformat(),
                 employment_type="full_time", **{k: v for k, v in terms.items() if k != "start_date"})
        if not employed:
            break
    return steps, None


def plan(seed: int, referrals: int, start_day: date, *, stale_days: int = 2,
         holidays: Iterable[date] = (), max_attempts: int = MAX_ATTEMPTS) -> Plan:
    """The schedule of `referrals` referrals, the first made on `start_day` (or the next
    business day), PER_DAY a business day, the partners in turn."""
    cal = BusinessDays(holidays=frozenset(holidays))
    steps: list[Step] = []
    profiles: dict[tuple[str, int], list[str]] = {}
    trainees: dict[int, Trainee] = {}
    first = cal.first_on_or_after(start_day)
    anchor = first - timedelta(days=first.weekday())  # the Monday of the program's first week
    for k in range(math.ceil(referrals * UNREFERRED_PER_REFERRAL)):
        rng = random.Random(f"{seed}-trainee-{k}")
        trainees[UNREFERRED + k] = _trainee(rng, rng.choice(list(TRAINING_PROVIDERS)), UNREFERRED + k, anchor, False)
    for n in range(referrals):
        partner = partner_of(n)
        trained = random.Random(f"{seed}-training-{partner}-{n}")
        if trained.random() < TRAINED:  # by the partner itself when it trains, else by either provider
            provider = partner if partner in TRAINING_PROVIDERS else trained.choice(list(TRAINING_PROVIDERS))
            trainees[n] = _trainee(trained, provider, n, anchor, True)
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
    steps += [Step(day, t.provider, t.n, 0, TRAIN) for t in trainees.values() for day in t.days]
    served = sorted(n for n, t in trainees.items() if t.service)
    for n in served:
        t = trainees[n] = dataclasses.replace(trainees[n], service_declined="out_of_area" if n == served[0] else None)
        steps.append(Step(t.half_way, t.provider, n, 0, REQUEST_SERVICE))
        if not t.service_declined:
            steps.append(Step(cal.add(t.half_way, DELIVERED_AFTER), t.provider, n, 0, DELIVER_SERVICE))
    order = {k: i for i, k in enumerate((TRAIN, REQUEST_SERVICE, DELIVER_SERVICE, REFER, STALE_DUE, ACKNOWLEDGE,
                                         INTERVIEW, INTERVIEW_OUTCOME, DECLINE, OFFER, PLACE, CONVERT, CHECK_IN))}
    # Schedule order within a day: the providers' reports, services, the referrals, then by n,
    # each referral's steps as planned.
    indexed = sorted(enumerate(steps), key=lambda p: (p[1].day, PHASE.get(p[1].kind, 3), p[1].n, p[1].attempt,
                                                       order[p[1].kind], p[0]))
    return Plan(seed, referrals, start_day, stale_days, tuple(s for _, s in indexed), profiles,
                dict(sorted(trainees.items())))


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
