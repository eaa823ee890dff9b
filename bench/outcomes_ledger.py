"""Benchmark: the outcomes ledger's ingest and its rebuild, on a stream of >= 1,000,000 events.

    .venv/bin/python bench/outcomes_ledger.py [--referrals 102000] [--seed 7] [--timeout 7200]

Starts a fresh local stack (Kafka, PostgreSQL) in a temporary state directory, first with no
service at all. Generates a seeded lifecycle for `--referrals` referrals, about 9.9 events
each (the default, 102,000 referrals, gives 1,012,589 events with seed 7), built with
`contracts.build` and
keyed exactly as the services publish them (referral id; O*NET-SOC code for skills-gap
observations; opening id for openings), with the envelope attributes and sources of the
service that would emit each event:

- `opening.posted.v1` on talentloop.openings (one opening per 25 referrals, 20 employers);
- `referral.submitted.v2` on talentloop.referrals;
- `referral.routed.v1` (attempt 1), or for ~10% `referral.unmatched.v1`, on talentloop.routing,
  each with its `skills.gap_observed.v1` on talentloop.skills-gap;
- employer actions on talentloop.employer-actions: acknowledged (or, a few, stale and never
  acknowledged), declined (then `referral.routed.v1` attempt 2 to another employer's opening,
  with its gap observation, and the next employer's actions), interview scheduled and
  completed, offer extended (some declined by the candidate), placement reported, retention
  checked at 30, 90 and 180 days (some no longer employed).

Event times are spread over the past two years (retention check-ins are in the past).

Every event is published first, as fast as one idempotent producer (acks=all) takes them:
the publish rate is reported on its own. Only then is the outcomes service started
(`talentloop.network.up(cfg, only=("outcomes",))`); the ingest clock runs from that call
until `SELECT count(*) FROM outcomes.ledger` equals the events published. Progress is polled
every second with `max(seq)` (an index lookup; a 1 s `count(*)` over a 1 GB heap would steal
a core from the service on a small machine) and the exact count is taken once `max(seq)`
reaches the target; every 10 s it prints the consumer groups' lag per topic.

Then it runs `services.outcomes.rebuild.rebuild` (replay of every topic from offset 0 into a
fresh schema, same handlers, no notifications) in this process and compares the content
hashes of the live and rebuilt ledger and projections.

Prints and writes bench/results/outcomes_ledger.json: events published (per type and topic),
publish seconds, ingest seconds and events/s, rebuild seconds and events/s, whether the
hashes are equal, the outcomes service's peak RSS and CPU seconds, the database size (and
per schema), and the machine. Exits 1 if the ingest or rebuild did not finish within
`--timeout` seconds (together), or if the hashes differ.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
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
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts import build, events, topics, vocabulary
from contracts.envelope import Envelope
from plumbing.kafka import CONTENT_TYPE_HEADER, new_producer
from services.outcomes.app import DEFINITION
from services.outcomes.rebuild import rebuild
from talentloop import credentials, network

try:  # run as a script, bench/ is on sys.path; as `python -m bench.outcomes_ledger`, the repository root is
    from common import PeakRss, isolated_network, machine
except ImportError:
    from bench.common import PeakRss, isolated_network, machine

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
            events.SkillsGapObservedV1(
                referral_id=rid,
                partner_id=partner,
                onet_soc_code=o.code,
                opening_id=o.opening_id,
                outcome=outcome,
                held=sorted(held),
                demanded_required=sorted(o.required),
                demanded_preferred=sorted(o.preferred),
                missing_required=sorted(set(o.required) - held),
                missing_preferred=sorted(set(o.preferred) - held),
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


class Lag:
    """The outcomes consumer groups' lag per topic (committed offsets vs end offsets)."""

    def __init__(self, bootstrap: str) -> None:
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
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
            group = topics.consumer_group("outcomes", t.name)
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


async def wait_ingest(url: str, bootstrap: str, target: int, t0: float, deadline: float) -> tuple[bool, float, int]:
    """Poll until the ledger holds `target` rows; (complete, seconds since t0, ledger rows)."""
    conn = await asyncpg.connect(url)
    lag = Lag(bootstrap)
    await lag.start()
    try:
        last_lag, last_count, rows, last = 0.0, 0.0, 0, (t0, 0)
        while time.monotonic() < deadline:
            now = time.monotonic()
            try:
                top = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM outcomes.ledger")
            except asyncpg.UndefinedTableError:
                top = 0  # the service has not migrated yet
            if top >= target and now - last_count >= 5:
                last_count = now
                rows = await conn.fetchval("SELECT count(*) FROM outcomes.ledger")
                if rows >= target:
                    return True, time.monotonic() - t0, rows
            if now - last_lag >= 10:
                rate = (top - last[1]) / (now - last[0]) if now > last[0] else 0
                last_lag, last = now, (now, top)
                left = {k: v for k, v in (await lag.remaining()).items() if v}
                print(f"  {now - t0:6.0f} s: ledger max(seq) {top} of {target} ({rate:.0f}/s over the last 10 s);"
                      f" left per topic {left}", flush=True)
            await asyncio.sleep(1.0)
        rows = await conn.fetchval("SELECT count(*) FROM outcomes.ledger")
        return rows >= target, time.monotonic() - t0, rows
    finally:
        await lag.stop()
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
        facts = await conn.fetchval("SELECT count(*) FROM outcomes.referral_facts")
        mb = 2**20
        return {
            "database_mb": round(db / mb, 1),
            "schemas_mb": {k: round(v / mb, 1) for k, v in per_schema.items()},
            "outcomes_tables_mb": {k: round(v / mb, 1) for k, v in tables.items()},
            "referral_facts_rows": facts,
            "status_changed_events_in_outbox": outbox,
        }
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--referrals", type=int, default=102_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=7200, help="seconds for ingest and rebuild together")
    args = parser.parse_args()

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

            publish_s = asyncio.run(publish(net.bootstrap, stream.records))
            print(f"published {n} events in {publish_s:.1f} s ({n / publish_s:.0f}/s)", flush=True)
            del stream.records  # the rebuild reads them back from Kafka

            outcomes = next(s for s in cfg.services() if s.name == "outcomes")
            t0 = time.monotonic()
            deadline = t0 + args.timeout
            network.up(cfg, only=("outcomes",))
            healthy_s = time.monotonic() - t0
            print(f"outcomes started, healthy after {healthy_s:.1f} s; ingesting", flush=True)
            proc = psutil.Process(outcomes.pid())
            rss = PeakRss(proc.pid)
            rss.start()
            cpu0 = sum(proc.cpu_times()[:2])
            ingested, ingest_s, rows = asyncio.run(wait_ingest(net.database_url, net.bootstrap, n, t0, deadline))
            service_cpu = sum(proc.cpu_times()[:2]) - cpu0
            rss.running = False
            rss.join()
            health = outcomes.healthy() or {}
            print(f"ingest {'complete' if ingested else 'INCOMPLETE'}: {rows} of {n} ledger rows in {ingest_s:.1f} s"
                  f" ({rows / ingest_s:.0f} events/s)", flush=True)

            rebuilt = None
            if ingested:
                print("rebuilding", flush=True)
                remaining = max(1.0, deadline - time.monotonic())
                try:
                    rebuilt = asyncio.run(asyncio.wait_for(rebuild(net.bootstrap, net.database_url), remaining))
                except TimeoutError:
                    print(f"rebuild did not finish within the timeout ({remaining:.0f} s left)", file=sys.stderr)
            db = asyncio.run(sizes(net.database_url))
        finally:
            network.down(cfg)

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
        "ingest_seconds": round(ingest_s, 2),
        "ingest_events_per_s": round(rows / ingest_s, 1),
        "ingest_ledger_rows": rows,
        "outcomes_healthy_after_s": round(healthy_s, 2),
        "outcomes_cpu_seconds": round(service_cpu, 1),
        "outcomes_consumer_counts": health.get("consumer"),
        "outcomes_peak_rss_mb": round(rss.peak / 2**20, 1),
        "rebuild_seconds": round(rebuilt.seconds, 2) if rebuilt else None,
        "rebuild_events": rebuilt.events if rebuilt else None,
        "rebuild_events_per_s": round(rebuilt.per_second, 1) if rebuilt else None,
        "rebuild_skipped": dict(rebuilt.skipped) if rebuilt else None,
        "hashes_equal": rebuilt.equal if rebuilt else False,
        "hashes": rebuilt.hashes if rebuilt else None,
        "postgres": db,
        "seed": args.seed,
        "bench_process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10, 1),
        "total_wall_seconds": round(time.monotonic() - started, 1),
        "machine": machine(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(
        f"{n} events: published in {result['publish_seconds']} s ({result['publish_events_per_s']}/s); ingested in "
        f"{result['ingest_seconds']} s ({result['ingest_events_per_s']}/s); rebuilt in {result['rebuild_seconds']} s "
        f"({result['rebuild_events_per_s']}/s); hashes equal: {result['hashes_equal']}; outcomes peak RSS "
        f"{result['outcomes_peak_rss_mb']} MiB; database {db['database_mb']} MiB; written to {RESULTS}"
    )
    if not complete:
        print("did not finish within --timeout", file=sys.stderr)
        sys.exit(1)
    if not result["hashes_equal"]:
        print("live and rebuilt hashes differ", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
