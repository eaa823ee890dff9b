"""Drives a demo network through a simulated program year, over the services' public HTTP
APIs, as partners and employers would; the same seed gives the same funnel.

Two of the partners are also training providers: they register their programs, then report
their participants' enrollments, progress, completions or exits and credentials on the days
these happen, the bootcamp by the JSON API (`POST /v1/enrollments`), the college's registrar by
uploading its nightly CSV (`POST /v1/imports/training`). Three employers post six openings (one
an internship, one an apprenticeship); three partners refer candidates, about half of them
those completers, each partner its own way through its adapter (deploy/adapters): a nonprofit
and a college upload CSV exports, a bootcamp fires webhooks and publishes to its Kafka topic.
Intake knows a completer referred by any partner as the person who trained (the same e-mail and
phone), so the coalition funnel follows them from enrollment to retention. A community
organisation, given a partner key by the operator, registers as a service provider; half-way
through the bootcamp asks it for bus fare, a laptop or childcare for some participants, and it
accepts and delivers them, or declines one with a reason. Some candidates lack
required skills; employers answer (some later than the stale limit), decline or interview,
offer, place (on the opening's terms: an intern at an intern's wage), convert some interns to
full time, and report retention check-ins at 30, 90 and 180 days. A declined referral is routed
again to another employer (or waits unmatched), and the demo works those too.

What happens on which day comes from `talentloop.demo_plan` (pure, seeded). The network runs
on a simulated clock (plumbing/clock.py): for each day of the plan the demo writes the day's
time into the clock file, does the day's steps one after the other in the plan's order, then
waits until the network has settled (every service shows the day's time, every sweeper
(routing's holds, the gateway's and the support service's stale requests) has swept at it,
no outbox holds anything and every consumer group's lag is 0, as `talentloop lag` reads it).
So the events of a day carry that day's time, business-day deadlines fall when they would, and
nothing depends on how fast the machine is.

Openings get capacities far larger than any run could fill and far apart from each other,
so neither the fair-share hold nor the tie between equally good openings (the one with more
slots left wins) depends on the order routing decides one day's referrals in.

The demo keeps its own tally of what it did, per referral and per participant, counts it with
the funnel's own definitions (services/outcomes/pipeline.py: cumulative stages, one outcome per
referral, people; `pipeline_funnel` from training; the reports' `supportive.summarize`) and
checks the outcomes service's funnel, coalition funnel and service requests against it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import partner_inbound
from plumbing import clock
from plumbing.kafka import KafkaSecurity, client_options, partitions_of
from plumbing.settings import Settings
from services.outcomes import pipeline
from services.outcomes.reports import supportive
from talentloop import demo_plan, samples
from talentloop.credentials import EMPLOYERS, OPERATOR
from talentloop.demo_plan import PARTNERS, TRACKS, TRAINING_PROVIDERS, Plan, Step, Trainee
from talentloop.waiting import until

__all__ = ["OPENINGS", "TRACKS", "DemoResult", "Tally", "run"]

OPENINGS = samples.OPENINGS
# Capacities 6000, 5000, ..., 1000: a tie between two openings goes to the one with more slots
# left (routing.domain._rank), and no run takes 1000 slots, so the order never flips within a
# day; half of each (the fair-share limit while an opening is young) is never reached either.
SLOTS_STEP = 1000
SERVICES = ("intake", "routing", "employer_gateway", "outcomes", "support")
SERVICE_COUNTS = ("requests", "status")  # of the report's supportive services, what a run adds to
AT_ONCE = 8  # requests about different people the demo sends together (a CRM's workers)


@dataclass
class Tally:
    """What the demo did, per referral, counted with the funnel's own definitions
    (services/outcomes/pipeline.py, docs/pipeline.md): the stages each referral reached at any
    employer, the employers that declined it, and where it stands now; each referral is its
    own person (a demo person is referred once). And per participant of a training provider,
    their enrollment as last reported, counted with the referrals of the same people by
    `pipeline.pipeline_funnel` (the coalition funnel from training)."""

    referred: Counter[str] = field(default_factory=Counter)  # partner -> referrals
    partner_of: dict[str, str] = field(default_factory=dict)
    reached: dict[str, set[str]] = field(default_factory=dict)  # referral -> stages with evidence
    exits: dict[str, str] = field(default_factory=dict)  # referral routed once -> unmatched | declined, now
    declined_by: dict[str, set[str]] = field(default_factory=dict)  # referral -> employers that declined it
    employer: dict[str, str] = field(default_factory=dict)  # referral -> the employer it is routed to now
    details: dict[str, set[str]] = field(default_factory=dict)  # referral -> placed's sub-lines that hold
    unmatched_at_first: int = 0  # never routed (the demo never sees their ids)
    stale: int = 0  # referral.stale the demo's plan made due (answered after the limit)
    trainees: dict[str, pipeline.Trainee] = field(default_factory=dict)  # person -> their one enrollment
    referred_people: set[str] = field(default_factory=set)  # people referred, routed or not
    person_of: dict[str, str] = field(default_factory=dict)  # referral -> the person it is about
    employment_types: dict[str, list[str]] = field(default_factory=dict)  # referral -> placed as, converted to
    services: dict[str, supportive.Request] = field(default_factory=dict)  # request id -> as it stands

    def service(self, request_id: str, **now: Any) -> None:
        """A supportive-service request made (all its fields) or changed (those that changed)."""
        before = self.services.get(request_id)
        self.services[request_id] = (dataclasses.replace(before, **now) if before
                                     else supportive.Request(request_id=request_id, **now))

    @property
    def service_counts(self) -> dict[str, Any]:
        """The requests per status, as GET /v1/reports' supportive services count them (`supportive.summarize`)."""
        summary = supportive.summarize(self.services.values())
        return {k: summary[k] for k in SERVICE_COUNTS}

    def trained(self, person: str, record: dict[str, Any]) -> None:
        """A provider reported the person's enrollment as `record` (TalentLoop's terms)."""
        self.trainees[person] = pipeline.Trainee(person, record["status"], bool(record.get("credentials")))

    def add(self, referral_id: str, partner: str, stage: str) -> None:
        self.partner_of[referral_id] = partner
        self.reached.setdefault(referral_id, set()).add(stage)

    def exit(self, referral_id: str, stage: str | None) -> None:
        if stage is None:
            self.exits.pop(referral_id, None)
        else:
            self.exits[referral_id] = stage

    def outcome(self, referral_id: str) -> str:
        """The demo never withdraws a referral nor turns an offer down: placed, or declined and
        routed no more (not matched again, or declined with no attempt left), or in progress."""
        if "placed" in self.reached.get(referral_id, ()):
            return "placed"
        return {"unmatched": "not_matched_after_decline", "declined": "declined"}.get(
            self.exits.get(referral_id, ""), "in_progress")

    def entry(self, rid: str) -> pipeline.Entry:
        outcome, declined = self.outcome(rid), tuple(sorted(self.declined_by.get(rid, ())))
        employer = self.employer.get(rid, pipeline.NO_EMPLOYER)
        return pipeline.Entry(rid, frozenset(self.reached[rid]), outcome, employer, declined,
                              pipeline.flags(outcome, employer, declined, self.details.get(rid, ())))

    def entries(self) -> list[pipeline.Entry]:
        out = [self.entry(rid) for rid in sorted(self.reached)]
        out += [pipeline.Entry(f"never-routed-{i}", frozenset(), "not_matched_never_routed", pipeline.NO_EMPLOYER)
                for i in range(self.unmatched_at_first)]
        return out

    def hires(self) -> list[pipeline.Hire]:
        """Every referral as the coalition funnel counts it, by person (never routed: referred only)."""
        out = []
        for rid, person in sorted(self.person_of.items()):
            e = self.entry(rid)
            out.append(pipeline.Hire(person, e.evidence, e.flags, tuple(self.employment_types.get(rid, ()))))
        out += [pipeline.Hire(p, frozenset()) for p in sorted(self.referred_people - set(self.person_of.values()))]
        return out

    @property
    def summary(self) -> dict[str, Any]:
        """As GET /v1/funnel gives each group (pipeline.summarize's shape)."""
        return pipeline.summarize(self.entries())

    @property
    def pipeline(self) -> dict[str, Any]:
        """As GET /v1/funnel gives `pipeline` (people and enrollments: pipeline.pipeline_funnel's shape)."""
        return pipeline.pipeline_funnel(self.trainees.values(), self.hires())

    @property
    def counts(self) -> dict[str, int]:
        """`summary`'s and `pipeline`'s numbers other than 0 as one flat mapping
        ("referrals.stages.placed": n, ..., "pipeline.people.training.enrolled": n, ...)."""
        return {k: v for k, v in flat({**self.summary, "pipeline": self.pipeline}).items() if v}


def flat(summary: dict[str, Any], prefix: str = "") -> dict[str, int]:
    """A funnel summary's numbers under dotted names."""
    out: dict[str, int] = {}
    for k, v in summary.items():
        if isinstance(v, dict):
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def since(total: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """A summary minus another (the numbers a run added to the ledger's)."""
    return {k: since(v, baseline.get(k, {})) if isinstance(v, dict) else v - baseline.get(k, 0)
            for k, v in total.items()}


def pipeline_numbers(funnel: dict[str, Any]) -> dict[str, Any]:
    """GET /v1/funnel's coalition funnel from training without its lists of names."""
    found = funnel.get("pipeline") or pipeline.empty_pipeline()
    return {k: found[k] for k in pipeline.empty_pipeline()}


async def at_once(calls: Iterable[Awaitable[None]]) -> None:
    """Await `calls` AT_ONCE at a time: each about another person, enrollment or request, so
    their order changes nothing the network counts."""
    limit = asyncio.Semaphore(AT_ONCE)

    async def one(call: Awaitable[None]) -> None:
        async with limit:
            await call

    await asyncio.gather(*(one(c) for c in calls))


def person_key(n: int) -> str:
    """The demo's name of person n, whoever refers or trains them."""
    return f"person-{n}"


@dataclass
class DemoResult:
    tally: Tally
    funnel: dict[str, Any]
    seconds: float
    matches: bool
    run_id: str = ""
    start_day: date | None = None
    last_day: date | None = None
    days: int = 0  # simulated days visited
    stale: int = 0  # referral.stale events of this run's referrals, in the ledger
    median_days: list[dict[str, Any]] = field(default_factory=list)  # the report's, for the run's months
    months: list[str] = field(default_factory=list)
    settle_s: float = 0.0  # of `seconds`, waiting for the network to settle
    services: dict[str, Any] = field(default_factory=dict)  # GET /v1/reports' supportive services, in total
    services_since_start: dict[str, Any] = field(default_factory=dict)  # and their requests, this run
    referrals_from: date | None = None  # the first referral's week (training came before)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def next_run_id(state_dir: Path, seed: int) -> str:
    """`s<seed>r<k>`, k counting this seed's runs in `state_dir`: a reused ledger gets new
    people and idempotency keys, while the fates (seeded by partner and n) stay the same."""
    path = state_dir / "demo-runs.json"
    counts = json.loads(path.read_text()) if path.exists() else {}
    k = counts.get(str(seed), 0) + 1
    counts[str(seed)] = k
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(counts))
    return f"s{seed}r{k}"


def candidate(plan: Plan, partner: str, n: int, day: date, run_id: str) -> samples.Person:
    """A made-up person with the plan's skills, trained and consenting before the day referred
    (those who completed a provider's program: that program, on that day)."""
    base = samples.person(n, run=run_id)
    trainee = plan.trainees.get(n)
    training = {"program": program_name(trainee), "completed": trainee.ended_on} if trainee else {
        "completed": day - timedelta(days=20)}
    # No target occupation: routing may send them to any opening their skills fit.
    return dataclasses.replace(base, skills=plan.profiles[(partner, n)], soc="", consent_on=day - timedelta(days=5),
                               **training)


def program_name(trainee: Trainee) -> str:
    return next(p["name"] for p in samples.PROGRAMS[trainee.provider] if p["program_id"] == trainee.program_id)


def enrollment_id(trainee: Trainee, run_id: str) -> str:
    """The provider's own reference of the enrollment."""
    if trainee.provider == "riverbend-community-college":
        return f"RBE{run_id.upper()}{trainee.n:07d}"
    return f"fg-enr-{run_id}-{trainee.n:06d}"


def external_id(partner: str, n: int, run_id: str) -> str:
    """The partner's own id of the person (samples' record shapes), as intake keeps it."""
    return {"northside-tech-collective": f"003{run_id}{n:08d}",
            "riverbend-community-college": f"RB{run_id.upper()}{n:07d}",
            "forge-coding-bootcamp": f"fg-{run_id}-{n:06d}"}[partner]


class LagReader:
    """Every consumer group's lag as `talentloop lag` reads it (committed offsets against the
    end of each partition; a group with nothing committed lags from the beginning), over one
    admin client and one consumer kept open: the demo asks once or twice a simulated day, and
    `Operations.lag` connects anew each time (about a second)."""

    def __init__(
        self, bootstrap: str, groups: dict[str, tuple[str, ...]], security: KafkaSecurity | None = None
    ) -> None:
        self.bootstrap, self.groups, self.security = bootstrap, groups, security  # group -> its topics
        self.admin: AIOKafkaAdminClient | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.tps: dict[str, list[TopicPartition]] = {}

    async def __aenter__(self) -> LagReader:
        options = client_options(self.bootstrap, self.security)
        self.admin = AIOKafkaAdminClient(**options, client_id="talentloop-demo")
        await self.admin.start()
        self.consumer = AIOKafkaConsumer(**options, enable_auto_commit=False)
        await self.consumer.start()
        for topic in {t for topics in self.groups.values() for t in topics}:
            self.tps[topic] = await partitions_of(self.consumer, [topic])
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
        if self.admin is not None:
            await self.admin.close()

    async def __call__(self) -> int:
        assert self.admin is not None and self.consumer is not None
        every = [tp for tps in self.tps.values() for tp in tps]
        ends = await self.consumer.end_offsets(every)
        begins = await self.consumer.beginning_offsets(every)
        groups = list(self.groups.items())
        committed = await asyncio.gather(*(self.admin.list_consumer_group_offsets(g) for g, _ in groups))
        total = 0
        for (_, topics), offsets in zip(groups, committed, strict=True):
            for tp in (tp for topic in topics for tp in self.tps[topic]):
                meta = offsets.get(tp)
                done = meta.offset if meta is not None and meta.offset >= 0 else begins[tp]
                total += max(0, ends[tp] - done)
        return total


class Network:
    """The demo's view of the running network: HTTP, the clock file and the settled test."""

    def __init__(self, http: httpx.AsyncClient, urls: dict[str, str], keys: dict[str, str], clock_file: Path,
                 lag: Callable[[], Awaitable[int]]) -> None:
        self.http, self.urls, self.keys, self.clock_file, self.lag = http, urls, keys, clock_file, lag
        self.settles = 0
        self.settle_s = 0.0  # waiting for the network, of the demo's time

    def auth(self, who: str) -> dict[str, str]:
        return _auth(self.keys[who])

    async def health(self) -> dict[str, dict[str, Any]]:
        answers = await asyncio.gather(*(self.http.get(f"{self.urls[s]}/health") for s in SERVICES))
        return {s: r.json() if r.status_code == 200 else {} for s, r in zip(SERVICES, answers, strict=True)}

    async def close_openings(self) -> int:
        """The demo employers close every opening they have open (at the system's time), and
        the network settles: routing takes none of them any more. Returns how many."""
        closed = 0
        for employer in EMPLOYERS:
            r = await self.http.get(f"{self.urls['employer_gateway']}/v1/openings", headers=self.auth(f"employer:{employer}"))
            r.raise_for_status()
            for o in r.json():
                if o["state"] == "open":
                    c = await self.http.post(f"{self.urls['employer_gateway']}/v1/openings/{o['opening_id']}/close",
                                             json={"reason": "closed"}, headers=self.auth(f"employer:{employer}"))
                    c.raise_for_status()
                    closed += 1
        await self.settled(None)
        return closed

    async def set_clock(self, at: datetime | None) -> None:
        if at is None:
            clock.clear(self.clock_file)
        else:
            clock.write(self.clock_file, at)

    async def settled(self, at: datetime | None, timeout: float = 120.0) -> None:
        """Wait until the network has done everything the day's steps (and the clock) set off."""

        async def check() -> bool | None:
            before = await self.health()
            if not _quiet(before, at):
                return None
            if await self.lag():
                return None
            after = await self.health()
            # Nothing published in between: the lag seen covers everything there is.
            same = all(before[s].get("published") == after[s].get("published") for s in SERVICES)
            return True if same and _quiet(after, at) else None

        t0 = time.monotonic()
        await until("the network to settle", check, timeout=timeout, every=0.05)
        self.settles += 1
        self.settle_s += time.monotonic() - t0


def _quiet(health: dict[str, dict[str, Any]], at: datetime | None) -> bool:
    for name in SERVICES:
        h = health.get(name) or {}
        if h.get("outbox_backlog", 1) or h.get("status") != "ok":
            return False
        if at is not None and h.get("clock") != f"simulated {at.isoformat()}":
            return False
    if at is None:
        return True
    swept = {"routing": "holds", "employer_gateway": "stale", "support": "stale"}
    for service, sweeper in swept.items():
        last = health[service].get("swept_at", {}).get(sweeper)
        if last is None or datetime.fromisoformat(last) < at:
            return False
    return True


def last_played_day() -> date:
    """The last day whose DAY_TIME has passed by the system clock: a year ending on it dates no
    step after now."""
    now = datetime.now(UTC)
    return now.date() - timedelta(days=0 if now.timetz() >= demo_plan.DAY_TIME.replace(tzinfo=UTC) else 1)


async def run(urls: dict[str, str], keys: dict[str, str], referrals: int = 100, seed: int = 7,
              bootstrap: str | None = None, kafka_security: KafkaSecurity | None = None, *,
              clock_file: Path, lag: Callable[[], Awaitable[int]], state_dir: Path,
              today: date | None = None, progress: Callable[[str], None] | None = None) -> DemoResult:
    """Play the seed's program year on the network at `urls` (started with TALENTLOOP_CLOCK_FILE
    = `clock_file`); `lag` sums every consumer group's lag (talentloop.ops_cli's `lag`)."""
    settings = Settings()
    today = today or last_played_day()
    holidays = [date.fromisoformat(d.strip()) for d in settings.holidays.split(",") if d.strip()]
    kw = {"stale_days": settings.stale_business_days, "holidays": holidays,
          "max_attempts": settings.max_routing_attempts}
    start = demo_plan.start_for(seed, referrals, today, **kw)
    plan = demo_plan.plan(seed, referrals, start, **kw)
    run_id = next_run_id(state_dir, seed)
    started = time.monotonic()
    say = progress or (lambda _: None)
    async with httpx.AsyncClient(timeout=30.0) as http:
        net = Network(http, urls, keys, clock_file, lag)
        driver = Driver(net, plan, run_id, bootstrap, kafka_security, settings.max_routing_attempts)
        try:
            await driver.prepare(say)
            for i, day in enumerate(plan.days):
                if i % 10 == 0:
                    say(f"  {day} (day {i + 1} of {len(plan.days)})")
                await driver.day(day)
            final, matches = await driver.compare()
            report, services_match = await driver.compare_services()
            services = report["services"]["total"]
            stale = await driver.stale_in_ledger()
            months, medians = driver.medians(report)
        finally:
            await driver.close()
            await net.set_clock(None)  # the system clock again (the year ends at or before today)
    return DemoResult(driver.tally, final, time.monotonic() - started, matches and services_match, run_id,
                      plan.days[0], plan.last_day, len(plan.days), stale, medians, months, net.settle_s,
                      referrals_from=plan.start_day, services=services,
                      services_since_start=since(driver.service_part(services), driver.baseline_services))


class Driver:
    """One run of a plan: its referrals' ids as they are learnt, and what each employer did."""

    def __init__(self, net: Network, plan: Plan, run_id: str, bootstrap: str | None,
                 kafka_security: KafkaSecurity | None, max_attempts: int) -> None:
        self.net, self.plan, self.run_id = net, plan, run_id
        self.bootstrap, self.kafka_security, self.max_attempts = bootstrap, kafka_security, max_attempts
        self.tally = Tally()
        self.people = {external_id(p, n, run_id): (p, n) for p, n in plan.profiles}
        self.ids: dict[tuple[str, int], str] = {}  # (partner, n) -> referral id
        self.foreign: set[str] = set()  # in the demo's inboxes, not this run's (earlier runs)
        self.at: dict[tuple[str, int], tuple[int, str]] = {}  # -> (attempt, employer) it is routed to now
        self.waiting: dict[tuple[str, int], int] = {}  # declined at attempt k, not seen routed again yet
        self.interviews: dict[tuple[str, int, int], str] = {}
        self.opening: dict[tuple[str, int], str] = {}  # -> the opening it is routed to now
        self.postings: dict[str, dict[str, Any]] = {}  # opening id -> its OPENINGS entry
        self.baseline: dict[str, Any] = {}
        self.baseline_pipeline: dict[str, Any] = {}
        self.baseline_services: dict[str, Any] = {}
        self.enrollment_ids: dict[int, str] = {}  # n -> Forge's enrollment of them, as intake answered
        self.service_requests: dict[int, str] = {}  # n -> the request made for them
        self.producer: AIOKafkaProducer | None = None

    async def close(self) -> None:
        if self.producer is not None:
            await self.producer.stop()

    async def funnel(self) -> dict[str, Any]:
        """The funnel's totals counted since the demo began (the ledger may hold earlier runs)."""
        r = await self.net.http.get(f"{self.net.urls['outcomes']}/v1/funnel", headers=self.net.auth(f"operator:{OPERATOR}"))
        r.raise_for_status()
        doc = r.json()
        doc["since_start"] = since(doc["total"], self.baseline)
        doc["pipeline_since_start"] = since(pipeline_numbers(doc), self.baseline_pipeline)
        return doc

    async def prepare(self, say: Callable[[str], None]) -> None:
        """Close what the employers left open (earlier runs), then on the year's first day the
        training providers register their programs (restated as they were, after an earlier run)
        and the employers post this year's openings; the funnel's baseline is taken once routing
        has reconsidered waiting referrals."""
        net = self.net
        await net.set_clock(None)
        await net.close_openings()
        first = self.plan.days[0]
        at = demo_plan.moment(first)
        await net.set_clock(at)
        say(f"  the year runs from {self.plan.days[0]} to {self.plan.last_day} ({len(self.plan.days)} days with steps;"
            f" referrals from {self.plan.start_day})")
        for provider in TRAINING_PROVIDERS:
            for program in samples.PROGRAMS[provider]:
                r = await net.http.post(f"{net.urls['intake']}/v1/programs", json=program,
                                        headers={**net.auth(f"partner:{provider}"),
                                                 "Idempotency-Key": f"demo-{self.run_id}-{program['program_id']}"})
                r.raise_for_status()
        await self.join_service_provider()
        opening_ids = []
        for i, (employer, post) in enumerate((e, p) for e, posts in OPENINGS.items() for p in posts):
            r = await net.http.post(f"{net.urls['employer_gateway']}/v1/openings",
                                    json=samples.opening_body(post, SLOTS_STEP * (6 - i)),
                                    headers={**net.auth(f"employer:{employer}"),
                                             "Idempotency-Key": f"demo-{self.run_id}-{post['title']}"})
            r.raise_for_status()
            opening_ids.append(r.json()["opening_id"])
            self.postings[opening_ids[-1]] = post

        async def catalogue_ready() -> bool | None:
            r = await net.http.get(f"{net.urls['routing']}/v1/openings", headers=net.auth(f"operator:{OPERATOR}"))
            known = {o["opening_id"] for o in r.json()}
            return True if set(opening_ids) <= known else None

        await until("routing to see every opening", catalogue_ready)
        await net.settled(at)
        before = await self.funnel()
        self.baseline, self.baseline_pipeline = before["total"], pipeline_numbers(before)
        self.baseline_services = self.service_part((await self.report())["services"]["total"])

    async def day(self, day: date) -> None:
        at = demo_plan.moment(day)
        await self.net.set_clock(at)
        steps = self.plan.on(day)
        train = [self.plan.trainees[s.n] for s in steps if s.kind == demo_plan.TRAIN]
        if train:
            await self.train(day, train)
        await at_once(self.support(s) for s in steps if s.kind in (demo_plan.REQUEST_SERVICE, demo_plan.DELIVER_SERVICE))
        refer = [s for s in steps if s.kind == demo_plan.REFER]
        if refer:
            await self.refer(day, refer)
        for s in steps:
            if demo_plan.PHASE.get(s.kind) is None and s.kind != demo_plan.STALE_DUE:
                await self.act(s)
            elif s.kind == demo_plan.STALE_DUE and self.at.get((s.partner, s.n), (0, ""))[0] == s.attempt:
                self.tally.stale += 1
        await self.net.settled(at)
        # Routing decides only after a referral or a decline: only then are there new inbox items.
        if refer or self.waiting:
            await self.learn_routing()

    async def join_service_provider(self) -> None:
        """The operator gives the community organisation a partner key (for a day: each run
        makes its own), and it enters the support service's directory (restated after a run)."""
        net, org = self.net, demo_plan.SERVICE_PROVIDER
        who = f"partner:{org['partner_id']}"
        r = await net.http.post(f"{net.urls['intake']}/v1/keys", headers=net.auth(f"operator:{OPERATOR}"), json={
            "principal": {"kind": "partner", "id": org["partner_id"]}, "label": f"demo run {self.run_id}",
            "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()})
        r.raise_for_status()
        net.keys = {**net.keys, who: r.json()["key"]}
        r = await net.http.post(f"{net.urls['support']}/v1/service-provider",
                                json={"name": org["name"], "service_types": org["service_types"]},
                                headers={**net.auth(who), "Idempotency-Key": f"demo-{self.run_id}-directory"})
        r.raise_for_status()

    # --- training providers ----------------------------------------------------------------

    async def train(self, day: date, trainees: list[Trainee]) -> None:
        """The day's reports of the enrollments that changed: Forge posts each one to the JSON API;
        Riverbend's registrar uploads its whole term as it stands (a row that adds nothing to what
        it reported before publishes nothing: a duplicate in the import's summary)."""
        net, run_id = self.net, self.run_id
        forge, riverbend = "forge-coding-bootcamp", "riverbend-community-college"

        async def report(t: Trainee) -> None:
            body = samples.enrollment_body(samples.person(t.n, run=run_id), t.record(day), enrollment_id(t, run_id))
            r = await net.http.post(f"{net.urls['intake']}/v1/enrollments", json=body,
                                    headers={**net.auth(f"partner:{forge}"),
                                             "Idempotency-Key": f"demo-{run_id}-enrollment-{t.n}-{day}"})
            if r.status_code >= 400:
                raise httpx.HTTPStatusError(f"{forge}'s enrollment: {r.status_code} {r.text[:300]}", request=r.request,
                                            response=r)
            self.enrollment_ids[t.n] = r.json()["enrollment_id"]
            self.tally.trained(person_key(t.n), body)

        await at_once(report(t) for t in trainees if t.provider == forge)
        if any(t.provider == riverbend for t in trainees):
            term = [t for t in self.plan.trainees.values() if t.provider == riverbend and t.enrolled_on <= day]
            text = samples.csv_text(samples.RIVERBEND_TRAINING_COLUMNS, [
                samples.riverbend_training_row(samples.person(t.n, run=run_id), t.record(day), enrollment_id(t, run_id))
                for t in term])
            r = await net.http.post(f"{net.urls['intake']}/v1/imports/training",
                                    files={"file": (f"{riverbend}-enrollments-{day}.csv", text.encode(), "text/csv")},
                                    headers={**net.auth(f"partner:{riverbend}"),
                                             "Idempotency-Key": f"demo-{run_id}-{riverbend}-training-{day}"})
            r.raise_for_status()
            if r.json()["rejected"] or r.json()["rows"] != len(term):
                raise RuntimeError(f"intake refused some of {riverbend}'s enrollment rows: {r.text[:500]}")
            for t in term:
                self.tally.trained(person_key(t.n), t.record(day))

    # --- supportive services ---------------------------------------------------------------

    async def support(self, s: Step) -> None:
        """The bootcamp asks the community organisation for a participant's service, naming its
        enrollment, and the organisation answers at once (accepts, or declines with a reason); or
        the organisation reports the service delivered, with its value when it is money."""
        net, t, org = self.net, self.plan.trainees[s.n], demo_plan.SERVICE_PROVIDER["partner_id"]
        assert t.service is not None
        kind, reason, amount = t.service
        base = f"{net.urls['support']}/v1/service-requests"

        async def post(path: str, who: str, body: dict[str, Any] | None, step: str) -> dict[str, Any]:
            r = await net.http.post(f"{base}{path}", json=body, headers={
                **net.auth(f"partner:{who}"), "Idempotency-Key": f"demo-{self.run_id}-service-{s.n}-{step}"})
            if r.status_code >= 400:
                raise httpx.HTTPStatusError(f"{s}: {r.status_code} {r.text[:300]}", request=r.request, response=r)
            return r.json()

        money = {"amount": amount, "currency": "USD"} if amount else None
        if s.kind == demo_plan.REQUEST_SERVICE:
            made = await post("", t.provider, {"provider_id": org, "service_type": kind, "reason": reason,
                                               "enrollment_id": self.enrollment_ids[s.n],
                                               **({"amount_requested": money} if money else {})}, "request")
            rid = self.service_requests[s.n] = made["request_id"]
            self.tally.service(rid, requester_id=t.provider, provider_id=org, person_key=person_key(s.n),
                               service_type=kind, status="requested", partner_status="requested",
                               requested_at=s.at, amount_requested=Decimal(amount) if amount else None,
                               currency="USD" if amount else None)
            if t.service_declined:
                await post(f"/{rid}/decline", org, {"reason_code": t.service_declined}, "decline")
                self.tally.service(rid, status="declined", partner_status="declined")
            else:
                await post(f"/{rid}/accept", org, None, "accept")
                self.tally.service(rid, status="accepted", partner_status="accepted")
        else:
            rid = self.service_requests[s.n]
            await post(f"/{rid}/deliver", org, {"delivered_on": s.day.isoformat(), **({"value": money} if money else {})},
                       "deliver")
            self.tally.service(rid, status="delivered", partner_status="delivered", delivered_on=s.day,
                               value_delivered=Decimal(amount) if amount else None)

    # --- partners --------------------------------------------------------------------------

    async def refer(self, day: date, steps: list[Step]) -> None:
        """The day's referrals, each partner its own way, one partner after the other: Northside
        and Riverbend upload CSV exports, Forge's CRM fires webhooks and publishes the rest to its
        Kafka topic (as Forge's own Kafka principal when it is given)."""
        net, run_id = self.net, self.run_id
        people = {p: [candidate(self.plan, p, s.n, day, run_id) for s in steps if s.partner == p] for p in PARTNERS}
        self.tally.referred_people.update(person_key(s.n) for s in steps)
        for partner, shape, columns in (("northside-tech-collective", samples.northside_row, samples.NORTHSIDE_COLUMNS),
                                        ("riverbend-community-college", samples.riverbend_row, samples.RIVERBEND_COLUMNS)):
            if not people[partner]:
                continue
            text = samples.csv_text(columns, [shape(p, run_id) for p in people[partner]])
            r = await net.http.post(f"{net.urls['intake']}/v1/imports",
                                    files={"file": (f"{partner}.csv", text.encode(), "text/csv")},
                                    headers={**net.auth(f"partner:{partner}"),
                                             "Idempotency-Key": f"demo-{run_id}-{partner}-{day}"})
            r.raise_for_status()
            if r.json()["accepted"] != len(people[partner]):
                raise RuntimeError(f"intake refused some of {partner}'s rows: {r.text[:500]}")
            self.tally.referred[partner] += r.json()["accepted"]
        forge = "forge-coding-bootcamp"
        by_kafka = people[forge][1::2] if self.bootstrap else []
        for p in people[forge]:
            if p in by_kafka:
                continue
            r = await net.http.post(f"{net.urls['intake']}/v1/webhooks/referrals", json=samples.forge_payload(p, run_id),
                                    headers={**net.auth(f"partner:{forge}"), "Idempotency-Key": f"demo-{run_id}-{p.n}"})
            r.raise_for_status()
            self.tally.referred[forge] += 1
        if by_kafka:
            if self.producer is None:
                self.producer = AIOKafkaProducer(**client_options(self.bootstrap, self.kafka_security),
                                                 enable_idempotence=True)
                await self.producer.start()
            for p in by_kafka:
                await self.producer.send(partner_inbound(forge), json.dumps(samples.forge_payload(p, run_id)).encode(),
                                         key=f"{run_id}-{p.n}".encode())
            await self.producer.flush()
            self.tally.referred[forge] += len(by_kafka)

    async def who(self, referral_id: str, partner: str) -> tuple[str, int] | None:
        """Which of this run's people a referral in an inbox is (its partner's own id), if any."""
        if partner not in PARTNERS:
            return None
        r = await self.net.http.get(f"{self.net.urls['intake']}/v1/referrals/{referral_id}",
                                    headers=self.net.auth(f"partner:{partner}"))
        if r.status_code != 200:
            return None
        return self.people.get(r.json()["external_id"])

    async def learn_routing(self) -> None:
        """Who was routed (again) to which employer today: the employers' new inbox items."""
        net = self.net
        known = {v: k for k, v in self.ids.items()}
        for employer in EMPLOYERS:
            after = None
            while True:
                params = {"limit": 100, "status": "routed", **({"after": after} if after else {})}
                r = await net.http.get(f"{net.urls['employer_gateway']}/v1/referrals", params=params,
                                       headers=net.auth(f"employer:{employer}"))
                r.raise_for_status()
                page = r.json()
                for item in page["items"]:
                    rid = item["referral_id"]
                    if rid in self.foreign:
                        continue
                    person = known.get(rid)
                    if person is None:
                        person = await self.who(rid, item["partner_id"])
                        if person is None:
                            self.foreign.add(rid)
                            continue
                        self.ids[person] = known[rid] = rid
                    if self.at.get(person, (0, ""))[0] < item["attempt"]:
                        self.at[person] = (item["attempt"], employer)
                        self.opening[person] = item["opening_id"]
                        self.tally.person_of[rid] = person_key(person[1])
                        self.waiting.pop(person, None)
                        self.tally.add(rid, item["partner_id"], "routed")
                        self.tally.employer[rid] = employer
                        self.tally.exit(rid, None)
                if page["next_after"] is None:
                    break
                after = page["next_after"]
        # A referral declined today and not routed again: it waits unmatched.
        for person, attempt in list(self.waiting.items()):
            if attempt < self.max_attempts:
                self.tally.exit(self.ids[person], "unmatched")
            del self.waiting[person]
        self.tally.unmatched_at_first = sum(self.tally.referred.values()) - len(self.ids)

    # --- employers -------------------------------------------------------------------------

    def terms(self, person: tuple[str, int], data: dict[str, Any]) -> dict[str, Any]:
        """An offer's or a placement's terms: the plan's, on the opening's title, occupation and
        kind (an internship on the intern's terms)."""
        post = self.postings[self.opening[person]]
        kind = {k: post[k] for k in ("employment_type", "apprenticeship_registered") if k in post}
        intern = data["as_intern"] if post["employment_type"] == "internship" else {}
        return {**data["terms"], "job_title": post["title"], "onet_soc_code": post["onet_soc_code"], **kind, **intern}

    def check_in(self, person: tuple[str, int], data: dict[str, Any]) -> dict[str, Any] | None:
        """A check-in as the plan says, an intern's as it says for interns (None: there is none)."""
        said = {k: v for k, v in data.items() if k != "as_intern"}
        if self.postings[self.opening[person]]["employment_type"] != "internship":
            return said
        if data["as_intern"] is None:
            return None
        return {k: v for k, v in {**said, **data["as_intern"]}.items() if v is not None}

    async def act(self, s: Step) -> None:
        """An employer's step on a referral, when the referral is routed to it at that attempt."""
        person = (s.partner, s.n)
        attempt, employer = self.at.get(person, (0, ""))
        if attempt != s.attempt:
            return  # that attempt never happened (unmatched, or not declined before)
        post_kind = self.postings[self.opening[person]]["employment_type"]
        said = self.check_in(person, s.data) if s.kind == demo_plan.CHECK_IN else None
        if (s.kind == demo_plan.CONVERT and post_kind != "internship") or (s.kind == demo_plan.CHECK_IN and said is None):
            return  # not an intern, or an intern whose internship has ended
        rid = self.ids[person]
        net = self.net
        base = f"{net.urls['employer_gateway']}/v1/referrals/{rid}"

        async def post(path: str, body: dict | None = None) -> dict:
            r = await net.http.post(f"{base}{path}", json=body,
                                    headers={**net.auth(f"employer:{employer}"),
                                             "Idempotency-Key": f"demo-{self.run_id}-{rid}-{s.attempt}-{s.kind}"
                                                              f"{s.data.get('milestone_days', '')}"})
            if r.status_code >= 400:
                raise httpx.HTTPStatusError(f"{s}: {r.status_code} {r.text[:300]}", request=r.request, response=r)
            return r.json()

        stage = None
        if s.kind == demo_plan.ACKNOWLEDGE:
            await post("/acknowledge")
            stage = "acknowledged"
        elif s.kind == demo_plan.DECLINE:
            await post("/decline", {"reason": s.data["reason"]})
            # Routed again later today, or not (then unmatched; with no attempt left, declined).
            self.tally.exit(rid, "declined")
            self.tally.declined_by.setdefault(rid, set()).add(employer)
            if s.attempt < self.max_attempts:
                self.waiting[person] = s.attempt
        elif s.kind == demo_plan.INTERVIEW:
            interview = await post("/interviews", s.data)
            self.interviews[(s.partner, s.n, s.attempt)] = interview["interview_id"]
            stage = "interviewed"
        elif s.kind == demo_plan.INTERVIEW_OUTCOME:
            iid = self.interviews[(s.partner, s.n, s.attempt)]
            await post(f"/interviews/{iid}/outcome", {"outcome": s.data["outcome"]})
        elif s.kind == demo_plan.OFFER:
            await post("/offers", {**self.terms(person, s.data), "expires_on": s.data["expires_on"]})
            stage = "offered"
        elif s.kind == demo_plan.PLACE:
            terms = self.terms(person, s.data)
            await post("/placement", terms)
            stage = "placed"
            self.tally.exit(rid, None)
            self.tally.employment_types[rid] = [terms["employment_type"]]
        elif s.kind == demo_plan.CONVERT:  # at the same employer, on the job the internship leads to
            opening = self.postings[self.opening[person]]
            await post("/conversion", {**s.data, "job_title": opening["hired_as"], "onet_soc_code": opening["onet_soc_code"]})
            self.tally.employment_types[rid].append(s.data["employment_type"])
        elif s.kind == demo_plan.CHECK_IN:
            assert said is not None
            await post("/retention", {**said, "checked_on": s.day.isoformat()})
            days, employed = said["milestone_days"], said["still_employed"]
            held = self.tally.details.setdefault(rid, set())
            if employed and days >= 90:
                stage = "retained_90_days"
                held.add("retained_90_days")
            if employed and days >= 180:
                held.add("retained_180_days")
            if not employed:
                held.add("separated")
        if stage is not None:
            self.tally.add(rid, s.partner, stage)

    # --- the results -----------------------------------------------------------------------

    async def compare(self) -> tuple[dict[str, Any], bool]:
        expected = self.tally.counts

        async def caught_up() -> dict[str, Any] | None:
            f = await self.funnel()
            found = flat({**f["since_start"], "pipeline": f["pipeline_since_start"]})
            return f if {k: v for k, v in found.items() if v} == expected else None

        try:
            return await until("the ledger to record every step", caught_up, timeout=30.0), True
        except TimeoutError:
            return await self.funnel(), False

    async def report(self) -> dict[str, Any]:
        """GET /v1/reports, as the operator (the whole ledger)."""
        r = await self.net.http.get(f"{self.net.urls['outcomes']}/v1/reports",
                                    headers=self.net.auth(f"operator:{OPERATOR}"))
        r.raise_for_status()
        return r.json()

    @staticmethod
    def service_part(total: dict[str, Any]) -> dict[str, Any]:
        return {k: total[k] for k in SERVICE_COUNTS}

    async def compare_services(self) -> tuple[dict[str, Any], bool]:
        """The report's supportive services against the demo's tally, as `compare` does the funnel;
        and the report they were read from."""
        expected = self.tally.service_counts

        async def caught_up() -> dict[str, Any] | None:
            report = await self.report()
            done = since(self.service_part(report["services"]["total"]), self.baseline_services) == expected
            return report if done else None

        try:
            return await until("the reports to count every service request", caught_up, timeout=30.0), True
        except TimeoutError:
            return await self.report(), False

    async def stale_in_ledger(self) -> int:
        """referral.stale events of this run's referrals, as their timelines show them."""
        n = 0
        for rid in self.ids.values():
            r = await self.net.http.get(f"{self.net.urls['outcomes']}/v1/referrals/{rid}/timeline",
                                        headers=self.net.auth(f"operator:{OPERATOR}"))
            r.raise_for_status()
            n += sum(1 for e in r.json()["events"] if e["type"].startswith("referral.stale."))
        return n

    def medians(self, report: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
        """The funnel report's median days between stages, for the months this run referred in
        (another run of the same year counts there too; other referrals of the ledger do not)."""
        months = sorted({f"{d.year:04d}-{d.month:02d}" for d in self.plan.days
                         if any(s.kind == demo_plan.REFER for s in self.plan.on(d))})
        groups = {g["group"]: g for g in report["funnel"]["by"]["period"]}
        return months, [{"month": m, **d} for m in months if m in groups for d in groups[m]["median_days"]]
