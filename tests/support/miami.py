"""Miami's first year as a known dataset (issue 15, "Tests that prove it").

Miami Tech Works reported its first year as 551 residents in training, 137 completed, 47 in
internships and 4 in full-time jobs. `year(run)` makes a made-up coalition that reports exactly
that: three training providers (a college and a bootcamp that send a CSV of their enrollments,
a community organisation that uses the API), six programs, 551 people enrolled once each, 137 of
them completed (most in a program with a credential earned it), some exited with a reason, the
rest still in training; then the providers refer some of their participants to three employers'
openings, and the employers place 47 interns (two of whom they convert to full time) and hire
2 more people full time: 4 full time in all. Other referrals are declined, still interviewing or
never matched, so the funnel has every kind of exit.

Supportive services (bus passes and gas cards, daycare, laptops) come from a community
organisation that registers as a service provider: the providers ask it for 40 of their
participants (the tech hub by enrollment, the college and the bootcamp by referral), and it
delivers 30, declines 4 and has 6 still open (`SERVICE_OUTCOMES`).

Pure and seeded: the same seed gives the same people, dates and fates; `run` only makes the
ids, names of the principals and e-mail addresses unique so one network can hold several runs.
The counts the reports over it must show are derived here (`pipeline_lines`,
`transparency_counts`, `services_summary`, `services_outcomes`),
from the dataset, the way docs/pipeline.md and docs/reports.md define them.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

SEED = 2025
YEAR_START = date(2025, 7, 1)  # the program year: enrollments in its first half
ENROLLED, COMPLETED, INTERNS, FULL_TIME = 551, 137, 47, 4

GIVEN = [
    "Ana",
    "Malik",
    "Priya",
    "Tomás",
    "Keisha",
    "Wei",
    "Fatima",
    "Jordan",
    "Sofia",
    "Dmitri",
    "Aisha",
    "Luis",
    "Mei",
    "Omar",
    "Grace",
    "Kwame",
    "Elena",
    "Tariq",
    "Hana",
    "Noah",
    "Yves",
    "Marisol",
    "Jean",
    "Rosa",
]
FAMILY = [
    "Diaz",
    "Johnson",
    "Patel",
    "Nguyen",
    "Okafor",
    "Kim",
    "Haddad",
    "Rivera",
    "Chen",
    "Williams",
    "Pierre",
    "Mensah",
    "Garcia",
    "Yusuf",
    "Brooks",
    "Sato",
    "Morales",
    "Abebe",
    "Joseph",
    "Reyes",
    "Castillo",
    "Louis",
]
RACES = ["hispanic_or_latino", "black_or_african_american", "white", "asian"]
GENDERS = ["female", "male", "nonbinary", None]
EXIT_REASONS = ["employment", "personal", "financial", "transportation", "childcare", "health"]


class Entry(StrEnum):
    """How a provider reports its enrollments to intake."""

    csv = "csv"  # POST /v1/imports/training with its training CSV adapter (Riverbend's columns)
    api = "api"  # POST /v1/enrollments, one enrollment a request


class Fate(StrEnum):
    """What becomes of a referral."""

    intern = "intern"  # placed in an internship
    converted = "converted"  # placed in an internship, then converted to full time at the same employer
    hired = "hired"  # placed full time
    declined = "declined"  # the employer declines it; nothing else fits, so it is not matched again
    interviewing = "interviewing"  # acknowledged, an interview scheduled, nothing more yet
    unmatched = "unmatched"  # skills no opening requires: never routed


PLACED = (Fate.intern, Fate.converted, Fate.hired)
SERVICE_PROVIDER = "overtown-community-alliance"
SERVICE_TYPES = ("transportation", "childcare", "technology")
SERVICE_REASONS = {
    "transportation": "Bus pass and gas card to reach class and work",
    "childcare": "Daycare during evening classes",
    "technology": "A laptop for online coursework",
}
# Per provider: how the requests end. The community organisation's 18 delivered and 82 not are
# both more than 10 people, so even its own (suppressed) report compares their outcomes.
SERVICE_OUTCOMES = {
    "biscayne-state-college": {"delivered": 6, "declined": 1, "accepted": 1},
    "wynwood-code-academy": {"delivered": 6, "declined": 1, "requested": 1},
    "little-haiti-tech-hub": {"delivered": 18, "declined": 2, "accepted": 2, "requested": 2},
}
# How many referrals meet each fate: 47 interns (2 converted), 2 more hired full time.
FATES = {
    Fate.intern: INTERNS - 2,
    Fate.converted: 2,
    Fate.hired: FULL_TIME - 2,
    Fate.declined: 8,
    Fate.interviewing: 9,
    Fate.unmatched: 4,
}
EXITED_REFERRED = 3  # participants who left training and were referred all the same (never placed here)


@dataclass(frozen=True)
class Provider:
    key: str  # the stable name; `id` carries the run
    name: str
    entry: Entry
    run: str

    @property
    def id(self) -> str:
        return f"{self.key}-{self.run}"


@dataclass(frozen=True)
class Program:
    key: str
    provider: Provider
    name: str
    modality: str
    length_weeks: int
    credential: str | None
    enrollments: int
    completions: int

    @property
    def id(self) -> str:
        return f"{self.key}-{self.provider.run}"

    def body(self) -> dict[str, Any]:
        """POST /v1/programs."""
        body: dict[str, Any] = {
            "program_id": self.id,
            "name": self.name,
            "modality": self.modality,
            "length_weeks": self.length_weeks,
            "cost_to_participant": {"amount": "0"},
            "funding_sources": ["wioa", "good_jobs_challenge"],
            "onet_soc_codes": ["15-1232.00"],
        }
        if self.credential:
            body["credential"] = {"name": self.credential}
        return body


@dataclass(frozen=True)
class Opening:
    key: str
    employer: str  # the employer's id, with the run
    employment_type: str
    title: str
    skill: str  # the one required skill: only the referrals meant for this opening have it
    capacity: int

    def body(self) -> dict[str, Any]:
        """POST /v1/openings."""
        return {
            "title": self.title,
            "onet_soc_code": "15-1232.00",
            "required_skills": [self.skill],
            "capacity": self.capacity,
            "wage": {"amount": "17.50" if self.employment_type == "internship" else "26.00", "unit": "hour"},
            "location": "Miami, FL",
            "employment_type": self.employment_type,
        }


@dataclass(frozen=True)
class Referral:
    fate: Fate
    opening: Opening | None  # None: unmatched
    aggregate_consent: bool
    race_ethnicity: tuple[str, ...]
    gender: str | None
    veteran: bool | None
    demographics: bool  # whether the partner sent any
    degree: str | None


@dataclass(frozen=True)
class Service:
    """A supportive service the participant's provider asks the community organisation for."""

    service_type: str  # transportation | childcare | technology
    amount: str | None  # requested, and delivered when it is delivered: only services that are money
    outcome: str  # delivered | declined | accepted | requested (the last two still open)
    by: str  # enrollment | referral: how the provider names the person

    @property
    def reason(self) -> str:
        return SERVICE_REASONS[self.service_type]


@dataclass(frozen=True)
class Participant:
    n: int
    program: Program
    given: str
    family: str
    email: str
    status: str  # enrolled | completed | exited
    enrolled_on: date
    ended_on: date | None  # completed_on or exited_on
    exit_reason: str | None
    credential_on: date | None
    progress_on: date | None  # a module completed, reported while enrolled
    aggregate_consent: bool
    share_outcomes: bool
    referral: Referral | None
    service: Service | None = None

    @property
    def provider(self) -> Provider:
        return self.program.provider

    @property
    def external_id(self) -> str:
        return f"ENR{self.n:05d}-{self.provider.run}"

    def enrollment(self) -> dict[str, Any]:
        """The enrollment as POST /v1/enrollments takes it."""
        body: dict[str, Any] = {
            "external_id": self.external_id,
            "program_id": self.program.id,
            "status": self.status,
            "candidate": {"given_name": self.given, "family_name": self.family, "email": self.email},
            "enrolled_on": self.enrolled_on.isoformat(),
            "consent": {
                "aggregate_reports": self.aggregate_consent,
                "share_outcomes_with_provider": self.share_outcomes,
                "given_at": _at(self.enrolled_on - timedelta(days=3)),
            },
        }
        if self.status == "completed":
            body["completed_on"] = _iso(self.ended_on)
        if self.status == "exited":
            body |= {"exited_on": _iso(self.ended_on), "exit_reason": self.exit_reason}
        if self.progress_on:
            body["progress"] = {"as_of": self.progress_on.isoformat(), "milestone": "module_completed"}
        if self.credential_on and self.program.credential:
            body["credentials"] = [{"name": self.program.credential, "awarded_on": self.credential_on.isoformat()}]
        return body

    def csv_row(self) -> dict[str, str]:
        """The enrollment as a row of the provider's training CSV (TRAINING_CSV_COLUMNS)."""
        status = {"enrolled": "ACTV", "completed": "CMPL", "exited": "WDRW"}[self.status]
        reasons = {
            "employment": "EMPL",
            "personal": "PERS",
            "financial": "FIN",
            "transportation": "TRAN",
            "childcare": "CHLD",
            "health": "HLTH",
        }
        earned = self.credential_on and self.program.credential
        return {
            "ENROLLMENT_ID": self.external_id,
            "PROGRAM_CODE": self.program.id,
            "FIRST_NM": self.given,
            "LAST_NM": self.family,
            "PERSONAL_EMAIL": self.email,
            "CAMPUS_EMAIL": "",
            "PHONE": "",
            "ENROLL_STATUS": status,
            "ENROLL_DT": _ymd(self.enrolled_on),
            "COMPLETION_DT": _ymd(self.ended_on) if self.status == "completed" else "",
            "WITHDRAW_DT": _ymd(self.ended_on) if self.status == "exited" else "",
            "WITHDRAW_RSN": reasons[self.exit_reason] if self.exit_reason else "",
            "MSG_DT": _ymd(self.progress_on) if self.progress_on else "",
            "MSG_TYPE": "MOD" if self.progress_on else "",
            "AWARD_DESC": self.program.credential if earned else "",
            "AWARD_CTID": "",
            "AWARD_DT": _ymd(self.credential_on) if earned else "",
            "DATA_SHARING": "Y" if self.aggregate_consent else "N",
            "OUTCOME_RELEASE": "Y" if self.share_outcomes else "N",
            "RELEASE_DT": _ymd(self.enrolled_on - timedelta(days=3)),
            "GENDER": "U",
            "VETERAN_IND": "U",
        }

    def referral_body(self) -> dict[str, Any]:
        """The provider's referral of the participant (POST /v1/referrals): the same contact as
        the enrollment's, so the network knows them as the same person."""
        r = self.referral
        assert r is not None
        # One skill: the opening's, or one no opening requires (nothing else could route it elsewhere).
        skills = [r.opening.skill if r.opening else f"zq-miami-unmatched-{self.provider.run}"]
        body: dict[str, Any] = {
            "external_id": f"REF{self.n:05d}-{self.provider.run}",
            "candidate": {"given_name": self.given, "family_name": self.family, "email": self.email},
            "skills": skills,
            "training": {"program": self.program.name, "provider": self.provider.name},
            "location": "Miami, FL",
            "consent": {
                "share_with_employers": True,
                "aggregate_reports": r.aggregate_consent,
                "given_at": _at(self.ended_on or self.enrolled_on),
            },
        }
        if r.opening:
            body["target_onet_soc_code"] = "15-1232.00"
        if r.demographics:
            body["demographics"] = {
                "race_ethnicity": list(r.race_ethnicity),
                "gender": r.gender,
                "veteran_status": r.veteran,
            }
        if r.degree:
            body["highest_degree"] = r.degree
        return body

    def start_date(self) -> date:
        """The first day of the job the referral led to (placed fates)."""
        return (self.ended_on or self.enrolled_on) + timedelta(days=21 + self.n % 30)


TRAINING_CSV_COLUMNS = [
    "ENROLLMENT_ID",
    "PROGRAM_CODE",
    "FIRST_NM",
    "LAST_NM",
    "PERSONAL_EMAIL",
    "CAMPUS_EMAIL",
    "PHONE",
    "ENROLL_STATUS",
    "ENROLL_DT",
    "COMPLETION_DT",
    "WITHDRAW_DT",
    "WITHDRAW_RSN",
    "MSG_DT",
    "MSG_TYPE",
    "AWARD_DESC",
    "AWARD_CTID",
    "AWARD_DT",
    "DATA_SHARING",
    "OUTCOME_RELEASE",
    "RELEASE_DT",
    "GENDER",
    "VETERAN_IND",
]


@dataclass(frozen=True)
class Year:
    seed: int
    run: str
    providers: tuple[Provider, ...]
    programs: tuple[Program, ...]
    employers: tuple[str, ...]
    openings: tuple[Opening, ...]
    participants: tuple[Participant, ...]
    service_provider: str  # the community organisation's partner id

    def served(self, provider: Provider | None = None) -> list[Participant]:
        """The participants a service was asked for (by their provider, or by `provider`)."""
        return [p for p in self.participants if p.service and (provider is None or p.provider == provider)]

    def of(self, provider: Provider) -> list[Participant]:
        return [p for p in self.participants if p.provider == provider]

    def referred(self, provider: Provider | None = None) -> list[Participant]:
        return [p for p in self.participants if p.referral and (provider is None or p.provider == provider)]


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _ymd(d: date | None) -> str:
    return d.strftime("%Y%m%d") if d else ""


def _at(d: date) -> str:
    return datetime.combine(d, time(15, 0), UTC).isoformat()


def _providers(run: str) -> tuple[Provider, Provider, Provider]:
    return (
        Provider("biscayne-state-college", "Biscayne State College", Entry.csv, run),
        Provider("wynwood-code-academy", "Wynwood Code Academy", Entry.csv, run),
        Provider("little-haiti-tech-hub", "Little Haiti Tech Hub", Entry.api, run),
    )


def _programs(college: Provider, bootcamp: Provider, hub: Provider) -> tuple[Program, ...]:
    # (enrollments, completions) add up to 551 and 137; the cloud pilot is small on purpose:
    # the college's report must combine it with another group rather than name it.
    return (
        Program("bsc-it-support", college, "IT Support Specialist", "in_person", 16, "CompTIA A+", 140, 36),
        Program("bsc-cybersecurity", college, "Cybersecurity Fundamentals", "hybrid", 20, "CompTIA Security+", 95, 22),
        Program(
            "bsc-cloud-pilot", college, "Cloud Computing Pilot", "online", 10, "AWS Certified Cloud Practitioner", 8, 3
        ),
        Program("wca-full-stack", bootcamp, "Full-Stack Web Development", "hybrid", 24, None, 120, 34),
        Program("wca-data", bootcamp, "Data Analytics", "online", 14, "Google Data Analytics Certificate", 88, 21),
        Program("lhth-digital", hub, "Digital Skills for Work", "in_person", 8, None, 100, 21),
    )


def _openings(run: str) -> tuple[Opening, ...]:
    """Internships at three employers and full-time jobs at two. Only the referrals meant for an
    opening hold its skill, and it has room for more than twice what any one provider sends it:
    while an opening is young routing gives one partner at most half its slots (fair share)."""
    health, bank, port = (f"{e}-{run}" for e in ("biscayne-health", "brickell-fintech", "port-logistics"))
    return (
        Opening("intern-health", health, "internship", "IT Support Intern", f"zq-miami-helpdesk-{run}", 60),
        Opening("intern-bank", bank, "internship", "Security Operations Intern", f"zq-miami-soc-{run}", 60),
        Opening("intern-port", port, "internship", "Data Intern", f"zq-miami-data-{run}", 60),
        Opening("ft-bank", bank, "full_time", "Junior Support Engineer", f"zq-miami-support-{run}", 10),
        Opening("ft-port", port, "full_time", "Junior Data Analyst", f"zq-miami-analyst-{run}", 10),
    )


def year(run: str, seed: int = SEED) -> Year:
    """The dataset: the same for the same seed, its ids and addresses marked with `run`."""
    rng = random.Random(seed)
    providers = _providers(run)
    programs = _programs(*providers)
    openings = _openings(run)
    people: list[dict[str, Any]] = []
    for program in programs:
        done = set(rng.sample(range(program.enrollments), program.completions))
        for i in range(program.enrollments):
            n = len(people)
            enrolled_on = YEAR_START + timedelta(days=rng.randrange(180))
            status, ended_on, reason, credential_on, progress_on = "enrolled", None, None, None, None
            if i in done:
                status, ended_on = "completed", enrolled_on + timedelta(weeks=program.length_weeks)
                if program.credential and rng.random() < 0.85:
                    credential_on = ended_on + timedelta(days=rng.randrange(3, 30))
            elif rng.random() < 0.3:
                status, ended_on = "exited", enrolled_on + timedelta(days=rng.randrange(7, 7 * program.length_weeks))
                reason = rng.choice(EXIT_REASONS)
            elif rng.random() < 0.4:
                progress_on = enrolled_on + timedelta(days=rng.randrange(14, 60))
            given, family = rng.choice(GIVEN), rng.choice(FAMILY)
            people.append(
                {
                    "n": n,
                    "program": program,
                    "given": given,
                    "family": family,
                    "email": f"{given.lower()}.{family.lower()}.{n}.{run}@miami.example.org".replace("á", "a"),
                    "status": status,
                    "enrolled_on": enrolled_on,
                    "ended_on": ended_on,
                    "exit_reason": reason,
                    "credential_on": credential_on,
                    "progress_on": progress_on,
                    "aggregate_consent": rng.random() < 0.9,
                    "share_outcomes": rng.random() < 0.7,
                    "referral": None,
                }
            )
    completers = [p for p in people if p["status"] == "completed"]
    leavers = [p for p in people if p["status"] == "exited"]
    chosen = rng.sample(completers, sum(FATES.values()) - EXITED_REFERRED) + rng.sample(leavers, EXITED_REFERRED)
    # Leavers are never placed here: they take the last fates (unmatched).
    order = [f for f in Fate for _ in range(FATES[f])]
    for person, fate in zip(chosen, order, strict=True):
        person["referral"] = _referral(rng, person["program"], fate, openings)
    _services(rng, providers, people)
    return Year(
        seed,
        run,
        providers,
        programs,
        tuple(o.employer for o in openings[:3]),
        openings,
        tuple(Participant(**p) for p in people),
        f"{SERVICE_PROVIDER}-{run}",
    )


def _services(rng: random.Random, providers: tuple[Provider, ...], people: list[dict[str, Any]]) -> None:
    """Each provider's service requests: the community organisation (which enrolls through the
    API, so it holds its enrollment ids) asks for any of its participants by enrollment, the
    others for participants they referred, by referral."""
    for provider in providers:
        outcomes = [o for o, n in SERVICE_OUTCOMES[provider.key].items() for _ in range(n)]
        by = "enrollment" if provider.entry is Entry.api else "referral"
        mine = [p for p in people if p["program"].provider == provider and (by == "enrollment" or p["referral"])]
        for person, outcome in zip(rng.sample(mine, len(outcomes)), outcomes, strict=True):
            kind = rng.choice(("transportation", "transportation", "childcare", "technology"))
            amount = {"transportation": rng.choice(("50.00", "112.50")), "childcare": "400.00"}.get(kind)
            person["service"] = Service(kind, amount, outcome, by)


def _referral(rng: random.Random, program: Program, fate: Fate, openings: tuple[Opening, ...]) -> Referral:
    interns, full_time = openings[:3], openings[3:]
    opening = {Fate.hired: rng.choice(full_time), Fate.unmatched: None}.get(fate, rng.choice(interns))
    demographics = rng.random() < 0.85
    races = tuple(rng.sample(RACES, 2)) if rng.random() < 0.1 else (rng.choice(RACES),)
    return Referral(
        fate=fate,
        opening=opening,
        aggregate_consent=rng.random() < 0.9,
        race_ethnicity=races if demographics else (),
        gender=rng.choice(GENDERS) if demographics else None,
        veteran=(rng.random() < 0.07) if demographics else None,
        demographics=demographics,
        degree="associate" if program.key.startswith("bsc-") and rng.random() < 0.3 else None,  # the college's
    )


# --- what a funnel over it must show ------------------------------------------------------------

# The furthest referral stage (pipeline.STAGES) each fate reaches.
REACHED = {
    Fate.intern: "placed",
    Fate.converted: "placed",
    Fate.hired: "placed",
    Fate.declined: "routed",
    Fate.interviewing: "interviewed",
    Fate.unmatched: "referred",
}
STAGES = (
    "referred",
    "routed",
    "acknowledged",
    "interviewed",
    "offered",
    "placed",
    "retained_90_days",
    "retained_180_days",
)
KINDS = {Fate.intern: ("internship",), Fate.converted: ("internship", "full_time"), Fate.hired: ("full_time",)}
EMPLOYMENT_TYPES = ("full_time", "part_time", "apprenticeship", "internship", "micro_internship")


def pipeline_lines(participants: Iterable[Participant]) -> dict[tuple[str, str], int]:
    """(section, line) -> people, as GET /v1/funnel's pipeline and the reports' coalition funnel
    count them (docs/pipeline.md, "From training"): everyone here is enrolled once and referred
    at most once, by the provider that enrolled them."""
    ps = list(participants)
    lines = {
        ("training", "enrolled"): len(ps),
        ("training", "completed_training"): sum(p.status == "completed" for p in ps),
        ("training", "credential_earned"): sum(p.credential_on is not None for p in ps),
        ("training", "completions_recorded"): sum(p.status == "completed" for p in ps),
    }
    reached = [STAGES.index(REACHED[p.referral.fate]) for p in ps if p.referral]
    lines |= {("jobs", s): sum(r >= i for r in reached) for i, s in enumerate(STAGES)}
    kinds = Counter(k for p in ps if p.referral for k in KINDS.get(p.referral.fate, ()))
    lines |= {("placed_by_type", k): kinds[k] for k in EMPLOYMENT_TYPES}
    return lines


TRANSPARENCY = {
    "race_ethnicity": (
        "american_indian_or_alaska_native",
        "asian",
        "black_or_african_american",
        "hispanic_or_latino",
        "middle_eastern_or_north_african",
        "native_hawaiian_or_pacific_islander",
        "white",
        "two_or_more",
        "not_reported",
    ),
    "gender": ("female", "male", "nonbinary", "self_described", "not_reported"),
    "veteran_status": ("veteran", "not_veteran", "not_reported"),
    "training": ("degree", "non_degree"),
}


def _category(dimension: str, r: Referral) -> str:
    if dimension == "race_ethnicity":
        return (
            "not_reported"
            if not r.race_ethnicity
            else ("two_or_more" if len(r.race_ethnicity) > 1 else r.race_ethnicity[0])
        )
    if dimension == "gender":
        return r.gender or "not_reported"
    if dimension == "veteran_status":
        return "not_reported" if r.veteran is None else ("veteran" if r.veteran else "not_veteran")
    return "degree" if r.degree else "non_degree"


def transparency_counts(participants: Iterable[Participant], dimension: str) -> list[list[int]]:
    """[placed, not placed] per category of the dimension (TRANSPARENCY's order), over the
    referrals counted in the transparency tables: with consent to aggregate reports and with
    demographics (docs/reports.md, "Transparency")."""
    counted = [
        p.referral for p in participants if p.referral and p.referral.aggregate_consent and p.referral.demographics
    ]
    return [
        [
            sum(1 for r in counted if _category(dimension, r) == c and r.fate in PLACED),
            sum(1 for r in counted if _category(dimension, r) == c and r.fate not in PLACED),
        ]
        for c in TRANSPARENCY[dimension]
    ]


def services_summary(participants: Iterable[Participant]) -> dict[str, Any]:
    """The supportive-services report's summary over these participants' requests (docs/reports.md,
    "Supportive services"), as far as the dataset decides it: requests by status, the fulfilment
    rate (delivered / settled: every request ended or open, none stale yet) and money per currency."""
    services = [p.service for p in participants if p.service]
    statuses = Counter(s.outcome for s in services)
    settled = sum(statuses[s] for s in ("delivered", "declined"))

    def total(amounts: list[str | None]) -> list[dict[str, str]]:
        known = [Decimal(a) for a in amounts if a is not None]
        return [{"currency": "USD", "amount": f"{sum(known):.2f}"}] if known else []

    return {
        "requests": len(services),
        "status": {s: statuses[s] for s in ("requested", "accepted", "declined", "delivered", "cancelled")},
        "stale_open": 0,
        "settled": settled,
        "fulfilment_rate": round(statuses["delivered"] / settled, 4) if settled else None,
        "value_delivered": total([s.amount for s in services if s.outcome == "delivered"]),
        "amount_requested": total([s.amount for s in services]),
    }


def services_outcomes(participants: Iterable[Participant]) -> dict[str, dict[str, int]]:
    """People who received a delivered service against those who did not, among these
    participants (everyone here is enrolled): how many completed training and were placed."""
    sides: dict[str, list[Participant]] = {"received": [], "not_received": []}
    for p in participants:
        sides["received" if p.service and p.service.outcome == "delivered" else "not_received"].append(p)
    return {
        side: {
            "people": len(ps),
            "enrolled": len(ps),
            "completed_training": sum(p.status == "completed" for p in ps),
            "placed": sum(bool(p.referral) and p.referral.fate in PLACED for p in ps),
        }
        for side, ps in sides.items()
    }
