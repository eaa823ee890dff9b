"""Benchmark: routing decisions through the real stack (Kafka, PostgreSQL, the routing service).

    .venv/bin/python bench/routing.py [--referrals 10000] [--openings 5000] [--seed 7] [--scenario mixed]

Starts a fresh local stack and only the routing service in a temporary state directory.
Publishes `--openings` `opening.posted.v1` events (each in one of the vocabulary's
occupations: 2-4 required and 0-3 preferred skills from its typical skills, capacity 1-5,
an hourly wage, one of a few locations, some remote, a few with a mandatory degree) and
waits until routing's catalogue (routing.openings) holds them all. Then publishes
`--referrals` `referral.submitted.v2` events as fast as one idempotent producer can, about
70% of them built to fit some opening (the required skills of one, plus others) and the
rest holding only one skill any opening requires, a quarter naming a target occupation.

`--scenario unmatched` makes most decisions unmatched, as in the pipeline's 100,000-referral
run (whose people fitted openings that were full): the referrals built to fit are built only
from the openings of one occupation (the first opening's), whose slots are gone within the
first thousand or so referrals; the rest wait with "openings that fit are full". Each
unmatched decision looks for its nearest openings and publishes a skills-gap observation for
each. The default, `mixed`, builds them from every opening.

It reads talentloop.routing from the start and takes, per referral, the first
referral.routed or referral.unmatched event. A referral's decision latency is that
record's Kafka timestamp minus its submitted record's (both CreateTime, stamped by the
producers: this script's, and routing's outbox relay, so the latency includes the relay's
polling). The clock stops when every referral has a decision, or after `--timeout`
seconds (default 15 minutes; then it reports what was decided and exits 1).

Prints and writes bench/results/routing.json: referrals, openings, routed, unmatched, the
seconds from the first submit to the last decision, referrals decided per second, p50,
p90, p99 and max decision latency, routing's peak RSS, and the machine. Also the CPU
seconds of routing, PostgreSQL (postmaster and backends) and Kafka from the first submit
to the last decision, and per decision (`cpu_ms_per_decision`): on a shared machine the
rate is mostly the share of the cores the run got, the CPU per decision travels. The load
average at the start and the end, and the commit measured (with any uncommitted files).

`--profile DIR` records routing with py-spy (50 samples/s, non-blocking) and samples
pg_stat_activity every 100 ms while the referrals are decided; summaries in the results,
raw stacks in DIR (bench/pipeline.py's Profiler).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import resource
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import psutil
from aiokafka import AIOKafkaConsumer

from contracts import build, events, topics, vocabulary
from plumbing.kafka import CONTENT_TYPE_HEADER, client_options, new_producer
from talentloop import credentials, network

# Run as a script (`python bench/routing.py`) bench/ is on sys.path, the repository root (where
# `bench` is a package) maybe not: put it there, so the imports read one way either way.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import (  # noqa: E402
    CpuMeter,
    PeakRss,
    end_offset_total,
    isolated_network,
    machine,
    percentile,
    read_from_start,
    source_tree,
    stack_pids,
)
from bench.pipeline import Profiler  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "routing.json"
SOURCE = "/talentloop/bench/routing"
LOCATIONS = ("Springfield, IL", "Riverbend, OR", "Harbor City, CA", "Lakeside, MN", "Capital City, TX")
DECISIONS = {events.ReferralRoutedV1.event_type: "routed", events.ReferralUnmatchedV1.event_type: "unmatched"}
FIT_SHARE = 0.7  # referrals built to fit some opening
TARGET_SHARE = 0.25  # referrals naming a target occupation


# --- made-up, seeded data ------------------------------------------------------------------


@dataclass(frozen=True)
class Posted:
    opening: events.OpeningPostedV1
    required: frozenset[str]


def make_openings(rng: random.Random, n: int) -> list[Posted]:
    occupations = list(vocabulary.occupations().values())
    out = []
    for i in range(n):
        occ = rng.choice(occupations)
        typical = list(occ.typical_skills)
        required = rng.sample(typical, rng.randint(2, 4))
        rest = [s for s in typical if s not in required]
        preferred = rng.sample(rest, min(len(rest), rng.randint(0, 3)))
        degree = rng.choices([None, events.DegreeLevel.associate, events.DegreeLevel.bachelor], [90, 5, 5])[0]
        opening = events.OpeningPostedV1(
            opening_id=f"bench-op-{i:06d}",
            employer_id=rng.choice(credentials.EMPLOYERS),
            title=f"{rng.choice(('Junior', 'Entry-level', 'Associate', 'Apprentice'))} - {occ.title}",
            onet_soc_code=occ.code,
            required_skills=required,
            preferred_skills=preferred,
            capacity=rng.randint(1, 5),
            wage=events.Wage(amount=Decimal(rng.randrange(1800, 4200, 25)) / 100, unit=events.WageUnit.hour),
            location=rng.choice(LOCATIONS),
            remote=rng.random() < 0.2,
            degree_required=degree,
        )
        out.append(Posted(opening, frozenset(required)))
    return out


def skill_ref(rng: random.Random, skill_id: str) -> events.SkillRef:
    skill = vocabulary.skills().skills[skill_id]
    return events.SkillRef(id=skill_id, text=rng.choice((skill.name, *skill.aliases)))


def make_referrals(
    rng: random.Random, n: int, openings: list[Posted], one_occupation: bool = False
) -> list[events.ReferralSubmittedV2]:
    """`one_occupation`: referrals are built to fit only the openings of the first opening's occupation."""
    first = openings[0].opening.onet_soc_code
    fit_pool = [p for p in openings if p.opening.onet_soc_code == first] if one_occupation else openings
    occupations = list(vocabulary.occupations().values())
    typical_anywhere = {s for o in occupations for s in o.typical_skills}
    others = sorted(set(vocabulary.skills().skills) - typical_anywhere)  # no opening requires these
    unknown = ("Forklift operation", "Customer de-escalation", "Spreadsheet macros", "Bilingual Spanish")
    given_at = datetime.now(UTC)
    out = []
    for i in range(n):
        partner = rng.choice(credentials.PARTNERS)
        target_opening = None
        degree = rng.choices([None, *events.DegreeLevel], [40, 25, 30, 4, 1])[0]
        if rng.random() < FIT_SHARE:
            posted = rng.choice(fit_pool)
            o = posted.opening
            occ = vocabulary.occupations()[o.onet_soc_code]
            extra = [s for s in occ.typical_skills if s not in posted.required]
            held = sorted(posted.required) + rng.sample(extra, min(len(extra), rng.randint(1, 3)))
            held += rng.sample(others, rng.randint(0, 1))
            if o.degree_required and (degree is None or degree.rank < o.degree_required.rank):
                degree = o.degree_required
            code = o.onet_soc_code
            if rng.random() < 0.05:
                target_opening = o.opening_id
        else:
            occ = rng.choice(occupations)
            held = [rng.choice(occ.typical_skills), *rng.sample(others, rng.randint(1, 2))]
            code = occ.code
        skills = [skill_ref(rng, s) for s in held]
        if rng.random() < 0.2:
            skills.append(events.SkillRef(id=None, text=rng.choice(unknown)))
        rng.shuffle(skills)
        out.append(
            events.ReferralSubmittedV2(
                referral_id=f"bench-ref-{i:07d}",
                partner_id=partner,
                candidate_id=f"cand-{rng.getrandbits(64):016x}",
                skills=skills,
                skills_vocabulary=vocabulary.skills().version,
                target_onet_soc_code=code if rng.random() < TARGET_SHARE else None,
                target_opening_id=target_opening,
                consent=events.ConsentScope(share_with_employers=True, aggregate_reports=True, given_at=given_at),
                highest_degree=degree,
                location=rng.choice(LOCATIONS) if rng.random() < 0.8 else None,
            )
        )
    return out


def matchable(referrals: list[events.ReferralSubmittedV2], openings: list[Posted]) -> int:
    """How many referrals some opening would take on skills, occupation and degree (ignoring
    capacity and fair share): each subset of 2-4 of a referral's skills is looked up among
    the openings' required-skill sets."""
    by_required: dict[frozenset[str], list[tuple[str, int]]] = defaultdict(list)
    for p in openings:
        rank = p.opening.degree_required.rank if p.opening.degree_required else 0
        by_required[p.required].append((p.opening.onet_soc_code, rank))
    fit = 0
    for r in referrals:
        held = sorted(set(r.skill_keys()))
        rank = r.highest_degree.rank if r.highest_degree else 0
        target = r.target_onet_soc_code
        fit += any(
            (target is None or code[:7] == target[:7]) and rank >= need
            for size in (2, 3, 4)
            for subset in itertools.combinations(held, size)
            for code, need in by_required.get(frozenset(subset), ())
        )
    return fit


def record_of(payload: events.Payload, correlation_id: str) -> tuple[bytes, bytes]:
    envelope = build(payload, source=SOURCE, correlation_id=correlation_id)
    return envelope.subject.encode(), envelope.to_bytes()


# --- against the stack ---------------------------------------------------------------------


async def publish(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> tuple[list[float], list[int]]:
    """Send every record as fast as the producer takes them; the wall-clock time each was
    handed to the producer and its Kafka timestamp (CreateTime, ms) from the broker's ack."""
    producer = new_producer(bootstrap, client_id="bench-routing")
    await producer.start()
    try:
        sent_at, futures = [], []
        for key, value in records:
            sent_at.append(time.time())
            futures.append(await producer.send(topic, value, key=key, headers=[CONTENT_TYPE_HEADER]))
        metadata = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent_at, [m.timestamp for m in metadata]


async def count_openings(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM routing.openings")
    finally:
        await conn.close()


async def database_summary(url: str) -> dict:
    conn = await asyncpg.connect(url)
    try:
        outcomes = dict(await conn.fetch("SELECT outcome, count(*) FROM routing.decisions GROUP BY outcome"))
        row = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE routed_count >= capacity) AS full, sum(routed_count) AS taken,"
            " sum(capacity) AS slots FROM routing.openings"
        )
        # decided_at is the deciding transaction's now(): decisions sharing it were one batch.
        sizes = [r["n"] for r in await conn.fetch(
            "SELECT count(*) AS n FROM routing.decisions WHERE decided_at IS NOT NULL GROUP BY decided_at")]
        return {
            "decisions": outcomes, "openings_full": row["full"], "slots_taken": row["taken"], "slots": row["slots"],
            "decision_transactions": len(sizes),
            "decisions_per_transaction": {
                "mean": round(sum(sizes) / len(sizes), 1) if sizes else None, "max": max(sizes, default=None),
                "p50": percentile(sorted(sizes), 50) if sizes else None,
            },
        }
    finally:
        await conn.close()


class Decisions:
    """Reads talentloop.routing from offset 0: the first decision event per referral."""

    def __init__(self, bootstrap: str, wanted: set[str]) -> None:
        self.consumer = AIOKafkaConsumer(
            **client_options(bootstrap),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=8 * 2**20,
        )
        self.wanted = wanted
        self.first: dict[str, tuple[int, str]] = {}  # referral id -> (Kafka timestamp ms, routed|unmatched)
        self.events = 0
        self.repeats = 0  # decision events for a referral already decided (re-routing, duplicates)
        self.reasons: Counter[str] = Counter()  # why the first decisions were unmatched

    async def start(self) -> None:
        await self.consumer.start()
        await read_from_start(self.consumer, topics.ROUTING.name)

    async def poll(self) -> None:
        batches = await self.consumer.getmany(timeout_ms=200, max_records=5000)
        for records in batches.values():
            for rec in records:
                doc = json.loads(rec.value)
                kind = DECISIONS.get(doc.get("type"))
                if kind is None:
                    continue
                self.events += 1
                key = rec.key.decode()
                if key not in self.wanted:
                    continue
                if key in self.first:
                    self.repeats += 1
                else:
                    self.first[key] = (rec.timestamp, kind)
                    if kind == "unmatched":
                        self.reasons[doc["data"].get("reason", "?")] += 1

    async def stop(self) -> None:
        await self.consumer.stop()


async def run(
    net: network.Network,
    pids: dict[str, int],
    openings: list[Posted],
    referrals: list[events.ReferralSubmittedV2],
    timeout: float,
    profile: Path | None = None,
) -> dict:
    routing_pid = pids["routing"]
    run_id = f"bench-routing-{int(time.time())}"

    # 1. the catalogue
    t0 = time.monotonic()
    await publish(net.bootstrap, topics.OPENINGS.name, [record_of(p.opening, run_id) for p in openings])
    t_published = time.monotonic() - t0
    while (loaded := await count_openings(net.database_url)) < len(openings):
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"routing's catalogue holds {loaded} of {len(openings)} openings after {timeout:.0f} s")
        await asyncio.sleep(0.2)
    t_catalogue = time.monotonic() - t0
    print(
        f"{len(openings)} openings published in {t_published:.1f} s, all in routing's catalogue after {t_catalogue:.1f} s"
    )

    # 2. the referrals, and their decisions as they come
    records = [record_of(r, run_id) for r in referrals]  # serialized before the clock starts
    decisions = Decisions(net.bootstrap, {r.referral_id for r in referrals})
    await decisions.start()
    proc = psutil.Process(routing_pid)
    profiler = Profiler(profile, {"routing": routing_pid}, net.database_url) if profile else None
    if profiler:
        profiler.start()
    cpu = CpuMeter(pids)
    cpu.mark()
    w0 = time.monotonic()
    sent_at, submitted_ts = await publish(net.bootstrap, topics.REFERRALS.name, records)
    t_submit = time.monotonic() - w0
    print(f"{len(records)} referrals submitted in {t_submit:.1f} s ({len(records) / t_submit:.0f}/s)")
    deadline = w0 + timeout
    last_report = w0
    while len(decisions.first) < len(referrals) and time.monotonic() < deadline:
        await decisions.poll()
        if time.monotonic() - last_report >= 10:
            last_report = time.monotonic()
            print(f"  {time.monotonic() - w0:6.0f} s: {len(decisions.first)} of {len(referrals)} decided")
        if not proc.is_running():
            print("routing exited", file=sys.stderr)
            break
    wall = time.monotonic() - w0
    cpu_seconds = cpu.since_mark()
    profiled = await profiler.stop() if profiler else None
    for _ in range(5):  # a little longer: duplicates or re-routings shortly after the last decision
        await decisions.poll()
    deadletters = await end_offset_total(decisions.consumer, topics.dead_letter_topic("routing"))
    await decisions.stop()

    submitted = {r.referral_id: ts for r, ts in zip(referrals, submitted_ts, strict=True)}
    latencies = sorted(ts - submitted[rid] for rid, (ts, _) in decisions.first.items())
    kinds = [kind for _, kind in decisions.first.values()]
    first_submit = min(submitted_ts)
    last_decision = max((ts for ts, _ in decisions.first.values()), default=first_submit)
    span = (last_decision - first_submit) / 1000
    return {
        "complete": len(decisions.first) == len(referrals),
        "referrals": len(referrals),
        "openings": len(openings),
        "decided": len(decisions.first),
        "routed": kinds.count("routed"),
        "unmatched": kinds.count("unmatched"),
        "seconds": round(span, 2),
        "referrals_decided_per_s": round(len(decisions.first) / span, 1) if span > 0 else None,
        "latency_ms": {
            "p50": percentile(latencies, 50),
            "p90": percentile(latencies, 90),
            "p99": percentile(latencies, 99),
            "max": latencies[-1] if latencies else None,
            "min": latencies[0] if latencies else None,
        },
        "submit_seconds": round(t_submit, 2),
        "submit_send_spread_s": round(sent_at[-1] - sent_at[0], 2),
        "wait_wall_seconds": round(wall, 2),
        "openings_publish_seconds": round(t_published, 2),
        "openings_catalogue_seconds": round(t_catalogue, 2),
        "cpu_seconds": cpu_seconds,
        "cpu_ms_per_decision": {
            name: round(1000 * secs / len(decisions.first), 3) if decisions.first else None
            for name, secs in cpu_seconds.items()
        },
        "decision_events_seen": decisions.events,
        "unmatched_reasons": dict(decisions.reasons.most_common()),
        "repeat_decisions": decisions.repeats,
        "deadletters": deadletters,
        "database": await database_summary(net.database_url),
        **({"profile": profiled} if profiled else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--referrals", type=int, default=10_000)
    parser.add_argument("--openings", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--scenario", choices=("mixed", "unmatched"), default="mixed",
        help="mixed: referrals fit openings across the catalogue; unmatched: they fit only a few, soon full",
    )
    parser.add_argument("--timeout", type=float, default=15 * 60, help="seconds to wait for the decisions")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy routing and sample pg_stat_activity")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    args = parser.parse_args()
    load_start = psutil.getloadavg()

    rng = random.Random(args.seed)
    t = time.monotonic()
    openings = make_openings(rng, args.openings)
    referrals = make_referrals(rng, args.referrals, openings, one_occupation=args.scenario == "unmatched")
    fit = matchable(referrals, openings)
    print(
        f"made {len(openings)} openings ({sum(p.opening.capacity for p in openings)} slots) and {len(referrals)} "
        f"referrals ({fit} = {100 * fit / len(referrals):.0f}% fit some opening) in {time.monotonic() - t:.1f} s"
    )

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tl-bench-") as tmp:
        home = Path(tmp)
        cfg = isolated_network(home)
        try:
            net = network.up(cfg, only=("routing",))
            print(f"stack and routing up in {net.timings['total_s']} s")
            routing = next(s for s in cfg.services() if s.name == "routing")
            rss = PeakRss(routing.pid())
            rss.start()
            pids = {**stack_pids(cfg), "routing": routing.pid()}
            measured = asyncio.run(run(net, pids, openings, referrals, args.timeout, args.profile))
            rss.running = False
            rss.join()
        finally:
            network.discard(cfg)

    result = {
        "benchmark": "routing decisions, end to end (Kafka -> routing -> PostgreSQL -> outbox -> Kafka)",
        **measured,
        "referrals_fitting_some_opening": fit,
        "slots": sum(p.opening.capacity for p in openings),
        "seed": args.seed,
        "scenario": args.scenario,
        "routing_peak_rss_mb": round(rss.peak / 2**20, 1),
        "client_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10, 1),
        "total_wall_seconds": round(time.monotonic() - started, 1),
        "machine": machine(),
        "load_average": {"start": [round(x, 2) for x in load_start], "end": [round(x, 2) for x in psutil.getloadavg()]},
        "source": source_tree(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    lat = result["latency_ms"]
    print(
        f"{result['decided']} of {result['referrals']} decided ({result['routed']} routed, {result['unmatched']} "
        f"unmatched) in {result['seconds']} s: {result['referrals_decided_per_s']}/s; latency p50 {lat['p50']} ms, "
        f"p99 {lat['p99']} ms; CPU ms/decision {result['cpu_ms_per_decision']}; routing peak RSS "
        f"{result['routing_peak_rss_mb']} MiB; written to {args.out}"
    )
    if not result["complete"]:
        print(
            f"gave up after {args.timeout:.0f} s with {result['referrals'] - result['decided']} referrals undecided",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
