"""Benchmark: the outcomes ledger's ingest and its rebuild, on a stream of >= 1,000,000 events,
beside the raw limits of the same broker and database.

    .venv/bin/python bench/outcomes_ledger.py [--referrals 102000] [--seed 7] [--timeout 7200]
        [--raw-rows 200000] [--rebuild-workers N] [--outcomes-processes N] [--profile DIR]
        [--pg-statements] [--out FILE]

Starts a fresh local stack (Kafka, PostgreSQL) in a temporary state directory, first with no
service at all. Generates a seeded lifecycle for `--referrals` referrals, about 9.9 events
each (the default, 102,000 referrals, gives 1,012,589 events with seed 7), built with
`contracts.build` and
keyed exactly as the services publish them (referral id; opening id for openings), with
the envelope attributes and sources of the service that would emit each event:

- `opening.posted.v1` on talentloop.openings (one opening per 25 referrals, 20 employers);
- `referral.submitted.v2` on talentloop.referrals;
- `referral.routed.v1` (attempt 1), or for ~10% `referral.unmatched.v1`, on talentloop.routing,
  each with its `skills.gap_observed.v2` on talentloop.skills-gap (one comparison: the
  opening routed to, or the one nearest);
- employer actions on talentloop.employer-actions: acknowledged (or, a few, stale and never
  acknowledged), declined (then `referral.routed.v1` attempt 2 to another employer's opening,
  with its gap observation, and the next employer's actions), interview scheduled and
  completed, offer extended (some declined by the candidate), placement reported, retention
  checked at 30, 90 and 180 days (some no longer employed).

Event times are spread over the past two years (retention check-ins are in the past).

Every event is published first, as fast as one idempotent producer (acks=all) takes them:
the publish rate is reported on its own. Then, on the idle stack, the raw limits:

- Kafka: one plain aiokafka consumer reads every published record from offset 0 (all
  partitions of the six topics, assigned, 10,000 records a call): records/s. What any
  consumer of these topics on this broker can read at most, decoding nothing.
- PostgreSQL: `--raw-rows` of the stream's events, as the ledger stores them, by asyncpg's
  COPY (copy_records_to_table, 5,000 rows a statement) into a ledger made by outcomes' own
  migrations in a scratch schema (its indexes and trigger included): rows/s.
- Decoding: `Envelope.from_bytes` and `payload_of` (what every consumer does to every record
  before it applies it), on one core, on a sample of 20,000 records: records/s.

Only then is the outcomes service started (`talentloop.network.up(cfg, only=("outcomes",))`),
with `--outcomes-processes N` (default 1) N - 1 more processes of it started just before, on
the same database and broker and in its one consumer group, so the group spreads the
partitions over them (`outcomes_partitions_by_process`: each member's partitions per topic,
at the ingest's end; `outcomes_consumer_counts`: each process's records applied); the ingest
clock runs from that call until `SELECT count(*) FROM outcomes.ledger` equals the events
published (`ingest_events_per_s`; `ingest_events_per_s_from_first_row` leaves out the start,
the group's join and the first fetch). Progress is polled every second with `max(seq)` (an
index lookup; a 1 s `count(*)` over a 1 GB heap would steal a core from the service on a small
machine) and the exact count is taken once `max(seq)` reaches the target; every 10 s it prints
the consumer group's lag per topic. CPU seconds of the service (all its processes: "outcomes";
each one's in `outcomes_cpu_seconds_by_process`), PostgreSQL and Kafka are measured over the
ingest, and per event. pg_stat_activity is sampled every 100 ms meanwhile: what the service's
backends wait for, and the share of them waiting for a referral's advisory lock (a referral's
events come on several topics; two lanes of a process, or two processes, may apply them). After the ingest, per table of
outcomes' schema: rows inserted, updated (heap-only) and deleted, dead rows, and autovacuum's
vacuums and analyzes with their time (pg_stat_user_tables), and PostgreSQL's CPU seconds by
client (the service's backends, autovacuum workers, ...; sampled every second, so a short
autovacuum run may be missed); with `--pg-statements` (pg_stat_statements loaded, a restart of
the fresh stack's PostgreSQL) the ingest's statements ranked. `--profile DIR` samples the
service with py-spy meanwhile and reports the functions most often on top of its stack (and
the rebuild's processes, in its passes and hashing, into DIR/rebuild.txt).

Then it runs `services.outcomes.rebuild.rebuild` (replay of every topic from offset 0 into a
fresh schema, `--rebuild-workers` processes, by default one per CPU and per 40,000 records,
`rebuild.default_workers`; no notifications) in this process and compares the content hashes of the live and rebuilt ledger and projections. CPU
seconds of the rebuild (this process and its workers), PostgreSQL and Kafka are measured over
its passes (not the hashing), and per event.

Prints and writes `--out` (default bench/results/outcomes_ledger.json): events published (per type and topic),
publish seconds, the raw limits, ingest seconds and events/s (and as a share of the raw
Kafka read and of COPY), CPU seconds per process and per event, what PostgreSQL's backends
waited for, rebuild seconds, events/s, seconds per pass and CPU seconds per process and per event, whether the hashes are equal, the outcomes service's peak RSS, the database size (and
per schema), and the machine with its load average before and after. Exits 1 if the ingest
or rebuild did not finish within `--timeout` seconds (together), or if the hashes differ.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts import build, events, payload_of, topics, vocabulary
from contracts.envelope import Envelope
from deploy.processes import pid_alive, remember_child, terminate
from plumbing import db
from plumbing.kafka import CONTENT_TYPE_HEADER, KafkaSecurity, client_options, new_producer, partitions_of
from services.outcomes import store
from services.outcomes.app import DEFINITION
from services.outcomes.rebuild import rebuild
from talentloop import credentials, network

# Run as a script (`python bench/outcomes_ledger.py`) bench/ is on sys.path, the repository root (where
# `bench` is a package) maybe not: put it there, so the imports read one way either way.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import (  # noqa: E402
    BackendCpu,
    CpuMeter,
    PeakRss,
    enable_pg_stat_statements,
    isolated_network,
    machine,
    stack_pids,
    statement_profile,
)

RESULTS = Path(__file__).parent / "results" / "outcomes_ledger.json"
INTAKE, ROUTING, GATEWAY = "/talentloop/intake", "/talentloop/routing", "/talentloop/employer-gateway"
EMPLOYERS = (*credentials.EMPLOYERS, *(f"bench-employer-{i:02d}" for i in range(17)))
LOCATIONS = ("Springfield, IL", "Riverbend, OR", "Harbor City, CA", "Lakeside, MN", "Capital City, TX")
REFERRALS_PER_OPENING = 25


# --- made-up, seeded event stream -----------------------------------------------------------


@dataclass(frozen=True)
class Opening:
    opening_id: str
    employer_id: str
    code: str
    title: str
    required: tuple[str, ...]
    preferred: tuple[str, ...]
    wage: events.Wage


@dataclass
class Stream:
    """Records to publish: (topic, key, value), and what they are."""

    records: list[tuple[str, bytes, bytes]]
    types: Counter[str]
    referrals: int
    openings: int


class Builder:
    def __init__(self, seed: int, referrals: int) -> None:
        self.rng = random.Random(seed)
        self.uuid_rng = random.Random(seed + 1)
        self.records: list[tuple[str, bytes, bytes]] = []
        self.types: Counter[str] = Counter()
        self.n = referrals
        self.start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=730)
        self.occupations = list(vocabulary.occupations().values())
        self.skills = vocabulary.skills()
        self.vocab_version = self.skills.version

    def emit(
        self,
        payload: events.Payload,
        *,
        source: str,
        at: datetime,
        correlation_id: str,
        causation_id: str | None = None,
    ) -> Envelope:
        env = build(payload, source=source, correlation_id=correlation_id, causation_id=causation_id, time=at)
        env = env.model_copy(update={"id": uuid.UUID(int=self.uuid_rng.getrandbits(128), version=4)})  # seeded
        self.records.append((type(payload).topic.name, env.subject.encode(), env.to_bytes()))
        self.types[env.type] += 1
        return env

    # openings ---------------------------------------------------------------------------

    def openings(self) -> list[Opening]:
        rng, out = self.rng, []
        for i in range(max(10, self.n // REFERRALS_PER_OPENING)):
            occ = rng.choice(self.occupations)
            typical = list(occ.typical_skills)
            required = rng.sample(typical, rng.randint(2, 4))
            rest = [s for s in typical if s not in required]
            preferred = rng.sample(rest, min(len(rest), rng.randint(0, 3)))
            o = Opening(
                opening_id=f"bench-op-{i:06d}",
                employer_id=rng.choice(EMPLOYERS),
                code=occ.code,
                title=f"{rng.choice(('Junior', 'Entry-level', 'Associate', 'Apprentice'))} {occ.title}",
                required=tuple(required),
                preferred=tuple(preferred),
                wage=events.Wage(amount=Decimal(rng.randrange(1800, 4200, 25)) / 100, unit=events.WageUnit.hour),
            )
            posted = events.OpeningPostedV1(
                opening_id=o.opening_id,
                employer_id=o.employer_id,
                title=o.title,
                onet_soc_code=o.code,
                required_skills=list(o.required),
                preferred_skills=list(o.preferred),
                capacity=rng.randint(5, 60),
                wage=o.wage,
                location=rng.choice(LOCATIONS),
                remote=rng.random() < 0.2,
            )
            at = self.start + timedelta(days=rng.uniform(0, 365))
            self.emit(posted, source=GATEWAY, at=at, correlation_id=f"bench-opening-{i}")
            out.append(o)
        return out

    # one referral's lifecycle -------------------------------------------------------------

    def referral(self, i: int, openings: list[Opening]) -> None:
        rng = self.rng
        rid = f"bench-ref-{i:07d}"
        partner = rng.choice(credentials.PARTNERS)
        candidate = f"cand-{rng.getrandbits(64):016x}"
        corr = f"bench-{rid}"
        t = self.start + timedelta(days=365 * i / self.n, seconds=rng.uniform(0, 3600))
        first = rng.choice(openings)
        occ = vocabulary.occupations()[first.code]
        held = set(first.required) | set(rng.sample(occ.typical_skills, rng.randint(1, 3)))
        if rng.random() < 0.10:  # will be unmatched: lacks a required skill
            held.discard(first.required[0])
            held = held or {rng.choice([s for s in occ.typical_skills if s not in first.required])}
        skills = []
        for s in sorted(held):
            skill = self.skills.skills[s]
            skills.append(events.SkillRef(id=s, text=rng.choice((skill.name, *skill.aliases))))
        if rng.random() < 0.2:
            skills.append(events.SkillRef(id=None, text=rng.choice(("Forklift operation", "Bilingual Spanish"))))
        submitted = self.emit(
            events.ReferralSubmittedV2(
                referral_id=rid,
                partner_id=partner,
                candidate_id=candidate,
                skills=skills,
                skills_vocabulary=self.vocab_version,
                credentials=[events.Credential(name="CompTIA A+", status="completed")] if rng.random() < 0.3 else [],
                training=events.Training(program="Full-stack web development", provider=partner)
                if rng.random() < 0.6
                else None,
                target_onet_soc_code=first.code if rng.random() < 0.25 else None,
                consent=events.ConsentScope(share_with_employers=True, aggregate_reports=rng.random() < 0.8, given_at=t),
                highest_degree=rng.choices([None, events.DegreeLevel.associate, events.DegreeLevel.bachelor], [60, 25, 15])[0],
                location=rng.choice(LOCATIONS),
            ),
            source=INTAKE,
            at=t,
            correlation_id=corr,
        )
        common = {"referral_id": rid, "partner_id": partner, "candidate_id": candidate}
        t += timedelta(seconds=rng.uniform(1, 30))
        if not set(first.required) <= held:
            missing = sorted(set(first.required) - held)
            self.emit(
                events.ReferralUnmatchedV1(
                    **common,
                    reason="no_opening_fits",
                    missing_skills=missing,
                    nearest=[events.NearestOpening(opening_id=first.opening_id, employer_id=first.employer_id,
                                                   missing_skills=missing)],
                ),
                source=ROUTING, at=t, correlation_id=corr, causation_id=str(submitted.id),
            )
            self.gap(rid, partner, held, first, events.GapOutcome.unmatched, t, corr, submitted)
            return
        opening, attempt = first, 1
        while True:
            routed = self.emit(
                events.ReferralRoutedV1(
                    **common,
                    opening_id=opening.opening_id,
                    employer_id=opening.employer_id,
                    score=round(rng.uniform(0.55, 1.0), 3),
                    matched_skills=sorted(set(opening.required) & held),
                    missing_skills=sorted(set(opening.preferred) - held),
                    candidate_skills=sorted(held),
                    explanation=f"Has every required skill of {opening.title}",
                    attempt=attempt,
                ),
                source=ROUTING, at=t, correlation_id=corr, causation_id=str(submitted.id),
            )
            self.gap(rid, partner, held, opening, events.GapOutcome.routed, t, corr, submitted)
            declined = self.employer(rid, opening, t, routed)
            if declined is None or attempt == 2:
                return
            # Declined: routed again, to another employer's opening the candidate fits.
            others = [o for o in rng.sample(openings, min(len(openings), 40))
                      if o.employer_id != opening.employer_id]
            if not others:
                return
            opening, attempt = others[0], 2
            held |= set(opening.required)  # (made to fit: the stream need not re-run matching)
            t = declined + timedelta(minutes=rng.uniform(1, 60))

    def gap(self, rid: str, partner: str, held: set[str], o: Opening, outcome: events.GapOutcome, t: datetime,
            corr: str, cause: Envelope) -> None:
        self.emit(
            events.SkillsGapObservedV2(
                referral_id=rid,
                partner_id=partner,
                outcome=outcome,
                held=sorted(held),
                comparisons=[events.GapComparison(
                    onet_soc_code=o.code,
                    opening_id=o.opening_id,
                    missing_required=sorted(set(o.required) - held),
                    missing_preferred=sorted(set(o.preferred) - held),
                )],
            ),
            source=ROUTING, at=t, correlation_id=corr, causation_id=str(cause.id),
        )

    def employer(self, rid: str, o: Opening, t: datetime, routed: Envelope) -> datetime | None:
        """The employer's actions on a routed referral; the decline's time if it declined."""
        rng = self.rng
        ids = {"referral_id": rid, "employer_id": o.employer_id, "opening_id": o.opening_id}

        def act(payload: events.Payload, at: datetime) -> None:
            self.emit(payload, source=GATEWAY, at=at, correlation_id=str(uuid.UUID(int=rng.getrandbits(128))))

        def decline(reason: events.DeclineReason, at: datetime) -> datetime:
            act(events.ReferralDeclinedV1(**ids, reason=reason), at)
            return at

        t += timedelta(hours=rng.uniform(2, 60))
        if rng.random() < 0.05:  # never acknowledged
            act(events.ReferralStaleV1(**ids, routed_at=routed.time, business_days=2), t)
            return None
        if rng.random() < 0.06:
            return decline(rng.choice([events.DeclineReason.no_capacity, events.DeclineReason.position_filled]), t)
        act(events.ReferralAcknowledgedV1(**ids), t)
        t += timedelta(days=rng.uniform(1, 7))
        if rng.random() < 0.2:
            return decline(events.DeclineReason.requirements_not_met, t)
        if rng.random() < 0.08:
            return None  # acknowledged, nothing further yet
        iid = f"iv-{rng.getrandbits(48):012x}"
        when = t + timedelta(days=rng.uniform(2, 10))
        act(events.InterviewScheduledV1(**ids, interview_id=iid, scheduled_for=when,
                                        mode=rng.choice(list(events.InterviewMode))), t)
        t = when + timedelta(hours=rng.uniform(1, 48))
        outcome = rng.choices(list(events.InterviewOutcome), [70, 20, 10])[0]
        act(events.InterviewCompletedV1(**ids, interview_id=iid, outcome=outcome), t)
        if outcome is not events.InterviewOutcome.advanced:
            return decline(events.DeclineReason.not_selected_after_interview, t + timedelta(days=1))
        t += timedelta(days=rng.uniform(1, 10))
        start = (t + timedelta(days=rng.randint(7, 30))).date()
        terms = {
            "job_title": o.title, "onet_soc_code": o.code, "wage": o.wage,
            "hours_per_week": rng.choice([40.0, 40.0, 35.0, 20.0]),
            "employment_type": rng.choices(list(events.EmploymentType), [80, 10, 5, 5])[0],
            "benefits": events.Benefits(health=rng.random() < 0.8, retirement=rng.random() < 0.5,
                                        paid_leave=rng.random() < 0.7),
            "start_date": start,
        }
        oid = f"of-{rng.getrandbits(48):012x}"
        act(events.OfferExtendedV1(**ids, offer_id=oid, **terms, expires_on=start - timedelta(days=3)), t)
        t += timedelta(days=rng.uniform(1, 5))
        if rng.random() < 0.1:
            act(events.OfferDeclinedV1(**ids, offer_id=oid, reason=events.OfferDeclineReason.compensation), t)
            return None
        act(events.PlacementReportedV1(**ids, **terms), t)
        for days in events.RETENTION_MILESTONES:
            checked = start + timedelta(days=days + rng.randint(0, 5))
            if checked >= date.today():
                break
            still = rng.random() < 0.9
            act(events.RetentionCheckedV1(**ids, milestone_days=days, still_employed=still, checked_on=checked),
                datetime(checked.year, checked.month, checked.day, 15, tzinfo=UTC))
            if not still:
                break
        return None


def make_stream(seed: int, referrals: int) -> Stream:
    b = Builder(seed, referrals)
    openings = b.openings()
    for i in range(referrals):
        b.referral(i, openings)
    return Stream(b.records, b.types, referrals, len(openings))


# --- against the stack ------------------------------------------------------------------------


async def publish(bootstrap: str, records: list[tuple[str, bytes, bytes]]) -> float:
    """Send every record as fast as the producer takes them (acks=all, idempotent); seconds
    until the last ack."""
    producer = new_producer(bootstrap, client_id="bench-outcomes-ledger")
    await producer.start()
    try:
        t0 = time.monotonic()
        pending = []
        for n, (topic, key, value) in enumerate(records, 1):
            pending.append(await producer.send(topic, value, key=key, headers=[CONTENT_TYPE_HEADER]))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
            if n % 200_000 == 0:
                print(f"  published {n} of {len(records)} ({n / (time.monotonic() - t0):.0f}/s)", flush=True)
        await asyncio.gather(*pending)
        return time.monotonic() - t0
    finally:
        await producer.stop()


# --- the raw limits -----------------------------------------------------------------------------


async def raw_consume(bootstrap: str, expected: int) -> dict:
    """Every record of the six topics from offset 0 by one plain consumer, nothing decoded."""
    consumer = AIOKafkaConsumer(**client_options(bootstrap), enable_auto_commit=False,
                                max_partition_fetch_bytes=8 * 2**20)
    await consumer.start()
    try:
        tps = await partitions_of(consumer, [t.name for t in DEFINITION.consumes])
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        t0, got = time.monotonic(), 0
        while got < expected:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            got += sum(len(v) for v in batches.values())
            if time.monotonic() - t0 > 600:
                raise TimeoutError(f"read {got} of {expected} records in 600 s")
        seconds = time.monotonic() - t0
    finally:
        await consumer.stop()
    return {"records": got, "seconds": round(seconds, 2), "records_per_s": round(got / seconds, 1)}


def ledger_rows(values: list[bytes]) -> list[tuple]:
    """The events as the ledger stores them (store.LEDGER_COPY's columns)."""
    rows = []
    for value in values:
        env = Envelope.from_bytes(value)
        payload = payload_of(env)
        rid = getattr(payload, "referral_id", None) or env.subject
        rows.append((env.id, env.type, rid, env.partnerid, env.employerid, env.time, type(payload).topic.name,
                     env.model_dump_json(exclude_none=True)))
    return rows


async def raw_copy(url: str, rows: list[tuple]) -> dict:
    """The rows by COPY into a ledger made by outcomes' migrations (indexes, trigger) in a scratch schema."""
    schema = "bench_raw_ledger"
    conn = await asyncpg.connect(url)
    await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    await conn.close()
    pool = await db.create_pool(url, schema, max_size=1)
    try:
        await db.migrate(pool, DEFINITION.migrations)
        async with pool.acquire() as conn:
            t0 = time.monotonic()
            for start in range(0, len(rows), 5000):
                await conn.copy_records_to_table("ledger", columns=store.LEDGER_COPY, records=rows[start:start + 5000])
            seconds = time.monotonic() - t0
            stored = await conn.fetchval("SELECT count(*) FROM ledger")
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await pool.close()
    return {"rows": stored, "seconds": round(seconds, 2), "rows_per_s": round(stored / seconds, 1),
            "into": "a ledger made by outcomes' migrations (its 3 indexes, unique event id, trigger)"}


def raw_decode(values: list[bytes]) -> dict:
    """Envelope.from_bytes and payload_of, on this one core (CPU seconds)."""
    t0 = time.process_time()
    for value in values:
        payload_of(Envelope.from_bytes(value))
    seconds = time.process_time() - t0
    return {"records": len(values), "cpu_seconds": round(seconds, 2), "records_per_cpu_s": round(len(values) / seconds, 1)}


class MoreOutcomes:
    """`--outcomes-processes N`: N - 1 outcomes processes beside the network's own, on the same
    database and broker and in its one consumer group (`topics.consumer_group("outcomes")`), each
    on a port of its own; this benchmark's children (no pid file the network reads), stopped by
    their pid at its end. Started just before the network's own, on the ingest's clock: the first
    member to join holds every partition until the others join, a rebalance a few seconds in (a
    batch applied but not yet committed then is read again by its new owner and found in the
    ledger: counted `duplicate`)."""

    def __init__(self, cfg: network.NetworkConfig, net: network.Network, extra: int, logs: Path) -> None:
        env = {
            **os.environ,
            **network.service_env(cfg, net.bootstrap, net.database_url),
            **(own.env() if (own := net.kafka_principals.get("outcomes")) else {}),
        }
        logs.mkdir(parents=True, exist_ok=True)
        self.ports = [network.free_port() for _ in range(extra)]
        self.procs: list[subprocess.Popen[bytes]] = []
        for port in self.ports:
            with (logs / f"outcomes-{port}.log").open("ab") as log:
                proc = subprocess.Popen([sys.executable, "-m", "services.outcomes.main"],
                                        env={**env, "TALENTLOOP_HTTP_PORT": str(port)}, stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            remember_child(proc)
            self.procs.append(proc)

    def health(self) -> list[dict | None]:
        out = []
        for port in self.ports:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2.0)
                out.append(r.json() if r.status_code == 200 else None)
            except httpx.HTTPError:
                out.append(None)
        return out

    def wait_healthy(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while None in self.health():
            if any(not pid_alive(p.pid) for p in self.procs) or time.monotonic() > deadline:
                raise RuntimeError(f"an extra outcomes process did not start (logs: outcomes-<port>.log in {self.ports})")
            time.sleep(0.2)

    def stop(self) -> None:
        for proc in self.procs:
            if pid_alive(proc.pid):
                terminate(proc.pid, 20.0)


def group_assignment(bootstrap: str) -> list[dict[str, int]]:
    """The outcomes group's members' partitions, per topic (librdkafka's describe: aiokafka's
    cannot decode a Kafka 4 broker's answer), one dict per member."""
    from confluent_kafka.admin import AdminClient  # noqa: PLC0415 - only with several processes

    admin = AdminClient({"bootstrap.servers": bootstrap, **KafkaSecurity.from_env().librdkafka()})
    group = topics.consumer_group("outcomes")
    found = admin.describe_consumer_groups([group], request_timeout=10)[group].result()
    return [dict(sorted(Counter(tp.topic.removeprefix("talentloop.") for tp in m.assignment.topic_partitions).items()))
            for m in found.members if m.assignment]


IDLE = ("EpollSelector.select", "Condition.wait", "_worker", "Event.wait", "SimpleQueue.get")
ROOT = str(Path(__file__).resolve().parent.parent) + "/"


def _frame(raw: str) -> str:
    """`function (file)` of py-spy's `function (path:line)`, the path from the repository or site-packages."""
    name, _, where = raw[:-1].rpartition(" (")
    path = where.rsplit(":", 1)[0].removeprefix(ROOT).split("site-packages/")[-1]
    return f"{name} ({path})"


class Spy:
    """py-spy on a process (raw collapsed stacks), summarized by the functions on top of the stack."""

    def __init__(self, folder: Path, pid: int, name: str = "outcomes", subprocesses: bool = False) -> None:
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(spy).exists():
            raise SystemExit("--profile needs py-spy (.venv/bin/pip install py-spy)")
        folder.mkdir(parents=True, exist_ok=True)
        self.out = folder / f"{name}.txt"
        self.proc = subprocess.Popen([spy, "record", "--nonblocking", "--format", "raw", "--rate", "50", "--pid",
                                      str(pid), "-o", str(self.out), *(["--subprocesses"] if subprocesses else [])],
                                     stdout=subprocess.DEVNULL, stderr=(folder / f"{name}.py-spy.log").open("w"))

    def stop(self, top: int = 25) -> dict:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        total = 0
        for line in self.out.read_text().splitlines() if self.out.exists() else []:
            stack, _, n = line.rpartition(" ")
            frames = [_frame(f) for f in stack.split(";") if f.endswith(")")]
            if not frames or frames[-1].startswith(IDLE):
                continue  # a thread waiting
            count = int(n)
            total += count
            own[frames[-1]] += count
            for f in set(frames):
                if f.split("(")[-1].startswith(("services/", "plumbing/", "contracts/")):
                    inclusive[f] += count
        share = lambda c: [(f, round(n / max(1, total), 3)) for f, n in c.most_common(top)]  # noqa: E731
        return {"file": str(self.out), "busy_samples": total, "self": share(own), "inclusive_own_code": share(inclusive)}


class Lag:
    """The outcomes consumer groups' lag per topic (committed offsets vs end offsets)."""

    def __init__(self, bootstrap: str) -> None:
        self.admin = AIOKafkaAdminClient(**client_options(bootstrap))
        self.consumer = AIOKafkaConsumer(**client_options(bootstrap), enable_auto_commit=False)
        self.tps: list[TopicPartition] = []
        self.ends: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()
        await self.consumer._client.force_metadata_update()  # noqa: SLF001 - metadata for topics not subscribed
        self.tps = [TopicPartition(t.name, p) for t in DEFINITION.consumes
                    for p in sorted(self.consumer.partitions_for_topic(t.name) or ())]
        self.ends = await self.consumer.end_offsets(self.tps)

    async def remaining(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in DEFINITION.consumes:
            group = topics.consumer_group("outcomes")  # one group for all its topics
            try:
                committed = await self.admin.list_consumer_group_offsets(group)
            except Exception:  # noqa: BLE001 - the group may not exist yet
                committed = {}
            left = sum(self.ends[tp] - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0)
                       for tp in self.tps if tp.topic == t.name)
            out[t.name.removeprefix("talentloop.")] = left
        return out

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.admin.close()


class Activity:
    """pg_stat_activity every 100 ms: what the service's backends (every client backend but
    this sampler's and the progress poll's: only outcomes runs) are doing, by wait event."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.waits: Counter[str] = Counter()
        self.samples = 0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            while True:
                rows = await conn.fetch(
                    "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS w, count(*) AS n"
                    " FROM pg_stat_activity WHERE backend_type = 'client backend' AND state = 'active'"
                    " AND pid <> pg_backend_pid() AND query NOT LIKE '%outcomes.ledger%' GROUP BY 1")
                self.samples += 1
                self.waits.update({r["w"]: r["n"] for r in rows})
                await asyncio.sleep(0.1)
        finally:
            await conn.close()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> dict:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        active = sum(self.waits.values())
        return {
            "samples": self.samples,
            "active_backend_samples": active,
            "mean_active_backends": round(active / max(1, self.samples), 2),
            "share_by_wait": {w: round(n / max(1, active), 3) for w, n in self.waits.most_common(12)},
            # the outcomes.referral advisory locks are the only advisory locks taken here
            "share_waiting_for_referral_locks": round(self.waits["Lock:advisory"] / max(1, active), 3),
        }


async def wait_ingest(url: str, bootstrap: str, target: int, t0: float,
                      deadline: float) -> tuple[bool, float, int, dict, float | None]:
    """Poll until the ledger holds `target` rows; (complete, seconds since t0, ledger rows, what
    PostgreSQL's backends did, seconds since t0 until the ledger held a first row: the start,
    the group's join and the first fetch, a fixed cost that the rate over a small history shows)."""
    conn = await asyncpg.connect(url)
    lag = Lag(bootstrap)
    await lag.start()
    activity = Activity(url)
    activity.start()
    try:
        last_lag, last_count, rows, last, first = 0.0, 0.0, 0, (t0, 0), None
        while time.monotonic() < deadline:
            now = time.monotonic()
            try:
                top = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM outcomes.ledger")
            except asyncpg.UndefinedTableError:
                top = 0  # the service has not migrated yet
            if top and first is None:
                first = now - t0
            if top >= target and now - last_count >= 5:
                last_count = now
                rows = await conn.fetchval("SELECT count(*) FROM outcomes.ledger")
                if rows >= target:
                    return True, time.monotonic() - t0, rows, await activity.stop(), first
            if now - last_lag >= 10:
                rate = (top - last[1]) / (now - last[0]) if now > last[0] else 0
                last_lag, last = now, (now, top)
                left = {k: v for k, v in (await lag.remaining()).items() if v}
                print(f"  {now - t0:6.0f} s: ledger max(seq) {top} of {target} ({rate:.0f}/s over the last 10 s);"
                      f" left per topic {left}", flush=True)
            await asyncio.sleep(1.0)
        rows = await conn.fetchval("SELECT count(*) FROM outcomes.ledger")
        return rows >= target, time.monotonic() - t0, rows, await activity.stop(), first
    finally:
        await activity.stop()
        await lag.stop()
        await conn.close()


async def measured_ingest(url: str, bootstrap: str, target: int, t0: float, deadline: float,
                          pg_statements: bool) -> tuple[tuple[bool, float, int, dict, float | None], dict, dict | None]:
    """`wait_ingest`, with PostgreSQL's CPU seconds by client over it (the service's
    backends, autovacuum, ...) and, with `pg_statements`, its statements ranked."""
    backends = BackendCpu(url, query_ids=pg_statements)
    await backends.mark()
    sampling = asyncio.create_task(backends.run())
    try:
        waited = await wait_ingest(url, bootstrap, target, t0, deadline)
    finally:
        backends.stop()
        await sampling
    statements = None
    if pg_statements:
        conn = await asyncpg.connect(url)
        try:
            statements = await statement_profile(conn, max(1, waited[2]), backends.query_clients, top=20)
            statements.pop("all", None)
        finally:
            await conn.close()
    return waited, backends.since_mark(), statements


async def reset_statements(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT pg_stat_statements_reset()")
    finally:
        await conn.close()


async def table_activity(url: str) -> dict:
    """What was done to outcomes' tables and what autovacuum did to them (pg_stat_user_tables;
    vacuum and analyze times, in ms of wall time, from PostgreSQL 18)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT pg_stat_force_next_flush()")
        columns = {r["attname"] for r in await conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'pg_stat_user_tables'::regclass")}
        wanted = ["n_tup_ins", "n_tup_upd", "n_tup_hot_upd", "n_tup_del", "n_dead_tup", "autovacuum_count",
                  "autoanalyze_count", "total_autovacuum_time", "total_autoanalyze_time"]
        got = [c for c in wanted if c in columns]
        rows = await conn.fetch(f"SELECT relname, {', '.join(got)} FROM pg_stat_user_tables"
                                " WHERE schemaname = 'outcomes' ORDER BY relname")
        return {r["relname"]: {c: round(r[c]) if isinstance(r[c], float) else r[c] for c in got}
                for r in rows if r["n_tup_ins"] or r["n_tup_upd"]}
    finally:
        await conn.close()


async def sizes(url: str) -> dict:
    conn = await asyncpg.connect(url)
    try:
        db = await conn.fetchval("SELECT pg_database_size(current_database())")
        per_schema = dict(await conn.fetch(
            "SELECT n.nspname, sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm')"
            " AND n.nspname IN ('outcomes', 'outcomes_rebuild') GROUP BY 1"))
        tables = dict(await conn.fetch(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = 'outcomes' AND c.relkind = 'r' ORDER BY 2 DESC LIMIT 6"))
        outbox = await conn.fetchval("SELECT count(*) FROM outcomes.outbox")
        deadlocks = await conn.fetchval("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        facts = await conn.fetchval("SELECT count(*) FROM outcomes.referral_facts")
        mb = 2**20
        return {
            "database_mb": round(db / mb, 1),
            "schemas_mb": {k: round(v / mb, 1) for k, v in per_schema.items()},
            "outcomes_tables_mb": {k: round(v / mb, 1) for k, v in tables.items()},
            "referral_facts_rows": facts,
            "status_changed_events_in_outbox": outbox,
            "deadlocks_detected": deadlocks,  # (each rolled a batch back: a fault, applied again)
        }
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--referrals", type=int, default=102_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=7200, help="seconds for ingest and rebuild together")
    parser.add_argument("--raw-rows", type=int, default=200_000, help="rows for the raw COPY (at most the events)")
    parser.add_argument("--rebuild-workers", type=int, default=None, help="processes for the rebuild (default: CPUs)")
    parser.add_argument("--outcomes-processes", type=int, default=1,
                        help="outcomes processes in its one consumer group for the ingest (default 1)")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy the service during the ingest into DIR")
    parser.add_argument("--pg-statements", action="store_true",
                        help="load pg_stat_statements (restarts the fresh stack's PostgreSQL) and rank the ingest's statements")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    args = parser.parse_args()
    load_at_start = [round(x, 2) for x in os.getloadavg()]

    t = time.monotonic()
    stream = make_stream(args.seed, args.referrals)
    n = len(stream.records)
    by_topic = Counter(topic for topic, _, _ in stream.records)
    print(f"made {n} events for {stream.referrals} referrals and {stream.openings} openings "
          f"({n / stream.referrals:.2f} per referral) in {time.monotonic() - t:.1f} s", flush=True)

    started = time.monotonic()
    complete = False
    with tempfile.TemporaryDirectory(prefix="tl-bench-") as tmp:
        cfg = isolated_network(Path(tmp))
        try:
            net = network.up(cfg, only=())  # the stack and its topics; no service yet
            print(f"stack up in {net.timings['total_s']} s", flush=True)
            if args.pg_statements:
                enable_pg_stat_statements(cfg, net.database_url)

            publish_s = asyncio.run(publish(net.bootstrap, stream.records))
            print(f"published {n} events in {publish_s:.1f} s ({n / publish_s:.0f}/s)", flush=True)
            values = [value for _, _, value in stream.records]
            del stream.records  # the rebuild reads them back from Kafka
            raw = {"kafka_consume": asyncio.run(raw_consume(net.bootstrap, n))}
            sample = random.Random(args.seed).sample(values, min(len(values), max(args.raw_rows, 20_000)))
            del values
            raw["decode"] = raw_decode(sample[:20_000])
            raw["postgres_copy"] = asyncio.run(raw_copy(net.database_url, ledger_rows(sample[:args.raw_rows])))
            del sample
            print(f"raw limits: Kafka read {raw['kafka_consume']['records_per_s']:.0f} records/s; COPY into the ledger"
                  f" {raw['postgres_copy']['rows_per_s']:.0f} rows/s; decoding {raw['decode']['records_per_cpu_s']:.0f}"
                  " records per CPU second", flush=True)

            outcomes = next(s for s in cfg.services() if s.name == "outcomes")
            if args.pg_statements:
                asyncio.run(reset_statements(net.database_url))
            t0 = time.monotonic()
            deadline = t0 + args.timeout
            more = MoreOutcomes(cfg, net, args.outcomes_processes - 1, Path(tmp) / "logs")
            network.up(cfg, only=("outcomes",))
            more.wait_healthy()
            healthy_s = time.monotonic() - t0
            print(f"{args.outcomes_processes} outcomes process(es) started, healthy after {healthy_s:.1f} s;"
                  " ingesting", flush=True)
            # Each process by its name ("outcomes", then "outcomes-2", ...); "outcomes" in the
            # figures below is all of them together.
            pids = {"outcomes": outcomes.pid(), **{f"outcomes-{i + 2}": p.pid for i, p in enumerate(more.procs)}}
            rsses = {name: PeakRss(pid) for name, pid in pids.items()}
            for rss in rsses.values():
                rss.start()
            cpu = CpuMeter({**stack_pids(cfg), **pids}, own_only=tuple(pids))
            cpu.mark()
            spies = {name: Spy(args.profile, pid, name) for name, pid in pids.items()} if args.profile else {}
            (ingested, ingest_s, rows, activity, first_row_s), pg_clients, statements = asyncio.run(
                measured_ingest(net.database_url, net.bootstrap, n, t0, deadline, args.pg_statements))
            ingest_cpu = cpu.since_mark()
            assignment = group_assignment(net.bootstrap) if more.procs else None
            profiles = {name: spy.stop() for name, spy in spies.items()}
            profile = profiles.get("outcomes")
            by_process = {name: ingest_cpu.pop(name) for name in pids}
            ingest_cpu["outcomes"] = service_cpu = round(sum(by_process.values()), 2)
            for rss in rsses.values():
                rss.running = False
                rss.join()
            health = outcomes.healthy() or {}
            counts = [health.get("consumer"), *[(h or {}).get("consumer") for h in more.health()]]
            more.stop()
            print(f"ingest {'complete' if ingested else 'INCOMPLETE'}: {rows} of {n} ledger rows in {ingest_s:.1f} s"
                  f" ({rows / ingest_s:.0f} events/s)", flush=True)
            tables = asyncio.run(table_activity(net.database_url))  # before the rebuild adds its own

            rebuilt, rebuild_cpu, rebuild_profile = None, {}, None
            if ingested:
                print("rebuilding", flush=True)
                remaining = max(1.0, deadline - time.monotonic())
                # The rebuild runs here, in worker processes of this one (Result.cpu_seconds
                # counts them), beside the stack: PostgreSQL and Kafka measured over the passes.
                stack = CpuMeter(stack_pids(cfg))
                stack.mark()
                # (this process and its workers; the live service is idle by now)
                rebuild_spy = Spy(args.profile, os.getpid(), "rebuild", subprocesses=True) if args.profile else None
                try:
                    rebuilt = asyncio.run(asyncio.wait_for(
                        rebuild(net.bootstrap, net.database_url, workers=args.rebuild_workers,
                                replayed=lambda: rebuild_cpu.update(stack.since_mark())), remaining))
                except TimeoutError:
                    print(f"rebuild did not finish within the timeout ({remaining:.0f} s left)", file=sys.stderr)
                finally:
                    rebuild_profile = rebuild_spy.stop() if rebuild_spy else None
            db = asyncio.run(sizes(net.database_url))
        finally:
            if "more" in locals():
                more.stop()
            network.discard(cfg)

    complete = ingested and rebuilt is not None
    result = {
        "benchmark": "outcomes ledger: ingest (Kafka -> outcomes -> PostgreSQL) and rebuild from Kafka",
        "complete": complete,
        "referrals": stream.referrals,
        "openings": stream.openings,
        "events_published": n,
        "events_by_topic": dict(by_topic.most_common()),
        "events_by_type": dict(stream.types.most_common()),
        "publish_seconds": round(publish_s, 2),
        "publish_events_per_s": round(n / publish_s, 1),
        "raw": raw,
        "ingest_seconds": round(ingest_s, 2),
        "ingest_events_per_s": round(rows / ingest_s, 1),
        # From the ledger's first row to its last (polled each second): the rate without the
        # start; none for an ingest that took under 10 s from there (the poll's second is too coarse).
        "ingest_first_row_seconds": round(first_row_s, 1) if first_row_s is not None else None,
        "ingest_events_per_s_from_first_row": round(rows / (ingest_s - first_row_s), 1)
        if first_row_s is not None and ingest_s - first_row_s >= 10 else None,
        "ingest_share_of_raw_kafka_read": round(rows / ingest_s / raw["kafka_consume"]["records_per_s"], 3),
        "ingest_share_of_raw_copy": round(rows / ingest_s / raw["postgres_copy"]["rows_per_s"], 3),
        "ingest_ledger_rows": rows,
        "ingest_cpu_seconds": ingest_cpu,
        "ingest_cpu_us_per_event": {k: round(1e6 * v / max(1, rows)) for k, v in ingest_cpu.items()},
        "ingest_postgres_activity": activity,
        "ingest_postgres_tables": tables,
        "ingest_postgres_cpu_by_client": pg_clients,
        "ingest_postgres_cpu_us_per_event_by_client": {k: round(1e6 * v / max(1, rows)) for k, v in pg_clients.items()},
        **({"ingest_pg_statements": statements} if statements else {}),
        "outcomes_healthy_after_s": round(healthy_s, 2),
        "outcomes_processes": args.outcomes_processes,
        "outcomes_cpu_seconds": round(service_cpu, 1),
        "outcomes_cpu_seconds_by_process": by_process,
        "outcomes_profile": profile,
        **({"outcomes_profiles_of_other_processes": {k: v for k, v in profiles.items() if k != "outcomes"}}
           if len(profiles) > 1 else {}),
        "outcomes_consumer_counts": counts[0] if len(counts) == 1 else counts,
        **({"outcomes_partitions_by_process": assignment} if assignment is not None else {}),
        "outcomes_peak_rss_mb": round(rsses["outcomes"].peak / 2**20, 1),
        **({"outcomes_peak_rss_mb_by_process": {k: round(v.peak / 2**20, 1) for k, v in rsses.items()}}
           if len(rsses) > 1 else {}),
        "rebuild_seconds": round(rebuilt.seconds, 2) if rebuilt else None,
        "rebuild_events": rebuilt.events if rebuilt else None,
        "rebuild_events_per_s": round(rebuilt.per_second, 1) if rebuilt else None,
        "rebuild_skipped": dict(rebuilt.skipped) if rebuilt else None,
        "rebuild_passes_seconds": {k: round(v, 2) for k, v in rebuilt.passes.items()} if rebuilt else None,
        "rebuild_workers": rebuilt.workers if rebuilt else None,
        "rebuild_cpu_seconds": {"outcomes": round(rebuilt.cpu_seconds, 1), **rebuild_cpu} if rebuilt else None,
        "rebuild_cpu_us_per_event": {k: round(1e6 * v / max(1, rebuilt.events)) for k, v in
                                     {"outcomes": rebuilt.cpu_seconds, **rebuild_cpu}.items()} if rebuilt else None,
        "rebuild_share_of_raw_kafka_read": round(rebuilt.per_second / raw["kafka_consume"]["records_per_s"], 3)
        if rebuilt else None,
        "rebuild_profile": rebuild_profile,
        "hashes_equal": rebuilt.equal if rebuilt else False,
        "hashes": rebuilt.hashes if rebuilt else None,
        "postgres": db,
        "seed": args.seed,
        "bench_process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10, 1),
        "total_wall_seconds": round(time.monotonic() - started, 1),
        "machine": machine(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(
        f"{n} events: published in {result['publish_seconds']} s ({result['publish_events_per_s']}/s); ingested in "
        f"{result['ingest_seconds']} s ({result['ingest_events_per_s']}/s; CPU us/event "
        f"{result['ingest_cpu_us_per_event']}); rebuilt in {result['rebuild_seconds']} s "
        f"({result['rebuild_events_per_s']}/s; CPU us/event {result['rebuild_cpu_us_per_event']}); hashes equal: {result['hashes_equal']}; outcomes peak RSS "
        f"{result['outcomes_peak_rss_mb']} MiB; database {db['database_mb']} MiB; written to {args.out}"
    )
    if not complete:
        print("did not finish within --timeout", file=sys.stderr)
        sys.exit(1)
    if not result["hashes_equal"]:
        print("live and rebuilt hashes differ", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
