"""Benchmark: the whole pipeline on one fresh stack, beside the raw limits of the same broker and database.

    .venv/bin/python bench/pipeline.py [--referrals 100000] [--openings 5000] [--offered-rate 500]
        [--offered-seconds 20] [--raw-records 100000] [--capacity-max 40] [--seed 7]
        [--small] [--profile DIR] [--timeout 3600] [--out PATH]

One run, in a temporary state directory on free ports (bench/common.isolated_network):

1. The stack alone (Kafka, PostgreSQL, the network's topics; no service yet). The raw limits:
   - Kafka: `--raw-records` JSON records of `--record-bytes` (700) bytes, keyed like referrals,
     produced onto a topic with the event topics' partition count by one producer set up as
     ours (plumbing.kafka.new_producer: idempotent, acks=all, linger 5 ms) as fast as it takes
     them, then consumed from offset 0 by one consumer. Produce/s, consume/s, and the round
     trip: records / (produce seconds + consume seconds).
   - PostgreSQL: the same number of rows through asyncpg's COPY (copy_records_to_table) into a
     table shaped like the outcomes ledger (bigserial key, unique uuid, text columns, the
     record as jsonb, one secondary index). Rows/s.
2. The four services (intake, routing, employer_gateway, outcomes) as processes. `--openings`
   openings are posted through the gateway's API (`POST /v1/openings`, the demo employers in
   turn, 8 at a time) across the vocabulary's 19 occupations; those in the occupations of the
   sample partners' tracks (talentloop.samples.TRACKS, about 6 in 19) require 2-3 of the
   track's skills, so the CSV's people can fit them; capacity 1..`--capacity-max`. Then it
   waits until routing's catalogue and outcomes hold them all (set-up, not timed).
3. The pipeline: a registrar CSV (Riverbend's adapter) of `--referrals` made-up people is
   imported through intake's API with the client of `talentloop import`. From the start of the
   upload the clock runs until every accepted referral is
   - in intake (rows of intake.referrals),
   - decided by routing, routed or unmatched (its decision event in routing's outbox, written in
     the decision's transaction),
   - in the gateway, the routed ones (rows of employer_gateway.referrals),
   - projected in the outcomes ledger (its referral.routed/unmatched event in outcomes.ledger),
   polled every `--poll` seconds (default scales with the size, 0.2 to 1 s; each poll reads only
   the rows added since the last, see `SeqWatcher`). Each stage is given
   as seconds and referrals/s from the start of the import, and as a sustained rate from the
   rows' own database timestamps (10th to 90th percentile of the stage's rows). The pipeline's
   rate is the referrals over the slowest stage's seconds; the ratio to the raw Kafka round
   trip is that rate over the round trip's records/s.
4. Offered load: `--offered-rate` referrals/s for `--offered-seconds`, each through
   `POST /v1/referrals` (TalentLoop's own JSON, another partner) on a fixed schedule (open
   loop: a slow answer does not delay the next request; 64 connections, a request in flight on
   each), and the time each referral's decision event appears in outcomes.ledger (the decisions
   recorded since the last look, every 50 ms, by the ledger's seq, from a little below the
   highest seen). Latency p50/p90/p99/max
   from the request's scheduled time (what a partner waits for under that load), and from the
   moment it was sent; the API's own answer times; the rate achieved.

Throughout: the peak RSS of each service process (sampled every 50 ms), the CPU seconds of
each service, PostgreSQL (postmaster and backends), Kafka and this script during the pipeline
stage, and the load average (os.getloadavg) at the start and the end: the numbers are only
as good as the machine was quiet.

`--profile DIR` also records each service with py-spy (`pip install py-spy`; 50 samples/s,
`--nonblocking` so the services are not paused; raw collapsed
stacks in DIR/<service>.txt, summarized into the results) and samples pg_stat_activity every
100 ms (which statements are running, by service) during the pipeline stage, and again during
the offered load (DIR/offered/).

PostgreSQL's CPU during the pipeline stage is also split by the connection its backends served
(`application_name`: each service's pool, the benchmark), and `--pg-statements` loads
pg_stat_statements (a restart of the fresh stack's PostgreSQL, before any service starts) and
ranks the statements of the pipeline stage by execution time, with calls and ms per referral
and the service each belongs to. `--auto-explain MS` (with `--pg-statements`) also logs the plan
of every statement slower than MS milliseconds (auto_explain, no parameters) and keeps
PostgreSQL's log beside the results (`<out>.postgres.log`): the plans pg_stat_statements
does not show, such as a prepared statement's generic plan made on a nearly empty table.

`--small` runs a tiny size (300 referrals, 50 openings, 100/s offered for 3 s, 5,000 raw
records; flags given explicitly win) in well under a minute, for CI
(tests/e2e/test_bench_pipeline.py).

Prints and writes `--out` (default bench/results/pipeline.json). Exits 1 if a stage did not
finish within `--timeout` seconds or an offered referral never reached the ledger.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import psutil
import uvloop
from aiokafka import AIOKafkaConsumer

from contracts import events, topics, vocabulary
from deploy.topics import TopicSpec, create_topics
from plumbing.kafka import CONTENT_TYPE_HEADER, client_options, new_producer
from talentloop import credentials, importer, network, samples

# Run as a script (`python bench/pipeline.py`) bench/ is on sys.path, the repository root (where
# `bench` is a package) maybe not: put it there, so the imports read one way either way.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import lean_http  # noqa: E402
from bench.common import (  # noqa: E402
    BackendCpu,
    CpuMeter,
    PeakRss,
    enable_pg_stat_statements,
    isolated_network,
    keep_plans,
    machine,
    open_loop,
    percentile,
    read_from_start,
    source_tree,
    stack_pids,
    statement_profile,
)

RESULTS = Path(__file__).parent / "results" / "pipeline.json"
SERVICES = network.CONSUMERS  # intake, routing, employer_gateway, outcomes
CSV_PARTNER = "riverbend-community-college"  # the registrar CSV's adapter
API_PARTNER = "forge-coding-bootcamp"  # the offered load's referrals, in TalentLoop's own JSON
DECISION_TYPES = [events.ReferralRoutedV1.event_type, events.ReferralUnmatchedV1.event_type]
RAW_TOPIC = "bench.raw-round-trip"
IN_FLIGHT = 64  # the offered load's connections, a request out on each at most
PATH = "/v1/referrals"
LEDGER_POLL_S, SWEEP_S = 0.05, 2.0  # the offered load's looks for new decisions, and for missed ones
# Ledger rows below the highest seq seen that each look reads again: outcomes applies two batches
# at once (its consume loop's lanes, 500 records each), so a row may commit below one seen.
LEDGER_WINDOW = 2_000
LOCATIONS = ("Springfield, IL", "Riverbend, OR", "Harbor City, CA", "Lakeside, MN", "Capital City, TX")
SMALL = {
    "referrals": 300, "openings": 50, "offered_rate": 100.0, "offered_seconds": 3.0, "raw_records": 5000,
    "idle_seconds": 1.0,
}
FULL = {
    "referrals": 100_000, "openings": 5_000, "offered_rate": 500.0, "offered_seconds": 20.0, "raw_records": 100_000,
    "idle_seconds": 5.0,
}


# --- made-up, seeded input ------------------------------------------------------------------------


def opening_bodies(rng: random.Random, n: int, capacity_max: int) -> list[dict]:
    """Openings across every occupation of the vocabulary, as bench/routing.py makes them
    (2-4 of the occupation's typical skills required); in the occupations of the sample
    partners' tracks (talentloop.samples.TRACKS) they require 2-3 of the track's first four
    skills instead, so the CSV's people can fit them (samples.person drops one of the first
    two for a fifth of them)."""
    tracks = {soc: skills for skills, _, soc in samples.TRACKS}
    occupations = list(vocabulary.occupations().values())
    names = vocabulary.skills().skills
    out = []
    for i in range(n):
        occ = rng.choice(occupations)
        if occ.code in tracks:
            pool = tracks[occ.code]
            required = rng.sample(pool[:4], rng.randint(2, 3))
        else:
            pool = [names[s].name for s in occ.typical_skills]
            required = rng.sample(pool, rng.randint(2, 4))
        rest = [s for s in pool if s not in required]
        out.append({
            "title": f"{rng.choice(('Junior', 'Entry-level', 'Associate', 'Apprentice'))} {occ.title} #{i}",
            "onet_soc_code": occ.code,
            "required_skills": required,
            "preferred_skills": rng.sample(rest, min(len(rest), rng.randint(0, 2))),
            "capacity": rng.randint(1, capacity_max),
            "wage": {"amount": f"{rng.randrange(1800, 4200, 25) / 100:.2f}", "unit": "hour"},
            "location": rng.choice(LOCATIONS),
            "remote": rng.random() < 0.2,
        })
    return out


def referral_body(n: int, given_at: datetime) -> bytes:
    """One person as TalentLoop's own JSON (`POST /v1/referrals`), serialized before the clock runs."""
    p = samples.person(n, run="offered")
    return json.dumps({
        "external_id": f"offered-{n:07d}",
        "candidate": {"given_name": p.given, "family_name": p.family, "email": p.email, "phone": p.phone},
        "skills": p.skills,
        "credentials": [{"name": p.cert, "status": "completed"}] if p.cert else [],
        "training": {"program": p.program, "provider": "Forge Coding Bootcamp"},
        "target_onet_soc_code": p.soc,
        "consent": {"share_with_employers": True, "aggregate_reports": n % 2 == 0, "given_at": given_at.isoformat()},
    }).encode()


def raw_value(i: int, size: int) -> bytes:
    """A JSON record of exactly `size` bytes (at least the envelope's skeleton), like an event."""
    doc = {
        "specversion": "1.0", "id": str(uuid.UUID(int=i, version=4)), "source": "/talentloop/bench/raw",
        "type": "bench.raw.v1", "subject": f"raw-{i:08d}", "time": "2026-01-01T00:00:00Z",
        "datacontenttype": "application/json", "data": {"pad": ""},
    }
    skeleton = len(json.dumps(doc, separators=(",", ":")).encode())
    doc["data"]["pad"] = "x" * max(0, size - skeleton)
    return json.dumps(doc, separators=(",", ":")).encode()


# --- 1. the raw limits ------------------------------------------------------------------------------


async def raw_kafka(bootstrap: str, n: int, size: int) -> dict:
    await create_topics(bootstrap, [TopicSpec(RAW_TOPIC, partitions=topics.REFERRALS.partitions)])
    records = [(f"raw-{i:08d}".encode(), raw_value(i, size)) for i in range(n)]
    producer = new_producer(bootstrap, client_id="bench-raw")
    await producer.start()
    try:
        t0 = time.monotonic()
        pending = []
        for key, value in records:
            pending.append(await producer.send(RAW_TOPIC, value, key=key, headers=[CONTENT_TYPE_HEADER]))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        produce_s = time.monotonic() - t0
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(**client_options(bootstrap), enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        await read_from_start(consumer, RAW_TOPIC)
        t0 = time.monotonic()
        got = 0
        while got < n:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            got += sum(len(v) for v in batches.values())
            if time.monotonic() - t0 > 300:
                raise TimeoutError(f"consumed {got} of {n} raw records in 300 s")
        consume_s = time.monotonic() - t0
    finally:
        await consumer.stop()
    return {
        "records": n,
        "record_bytes": len(records[0][1]),
        "partitions": topics.REFERRALS.partitions,
        "produce_seconds": round(produce_s, 2),
        "produce_per_s": round(n / produce_s, 1),
        "consume_seconds": round(consume_s, 2),
        "consume_per_s": round(n / consume_s, 1),
        "round_trip_per_s": round(n / (produce_s + consume_s), 1),
    }


async def raw_copy(url: str, n: int, size: int) -> dict:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "DROP SCHEMA IF EXISTS bench_raw CASCADE; CREATE SCHEMA bench_raw;"
            " CREATE TABLE bench_raw.ledger (seq bigserial PRIMARY KEY, event_id uuid NOT NULL UNIQUE,"
            " event_type text NOT NULL, referral_id text NOT NULL, partner_id text, occurred_at timestamptz NOT NULL,"
            " recorded_at timestamptz NOT NULL DEFAULT now(), envelope jsonb NOT NULL);"
            " CREATE INDEX ON bench_raw.ledger (referral_id, occurred_at, seq);"
        )
        at = datetime.now(UTC)
        rows = [
            (uuid.UUID(int=i + 1, version=4), "bench.raw.v1", f"raw-{i:08d}", CSV_PARTNER, at, raw_value(i, size).decode())
            for i in range(n)
        ]
        t0 = time.monotonic()
        await conn.copy_records_to_table(
            "ledger", schema_name="bench_raw", records=rows,
            columns=["event_id", "event_type", "referral_id", "partner_id", "occurred_at", "envelope"],
        )
        copy_s = time.monotonic() - t0
        stored = await conn.fetchval("SELECT count(*) FROM bench_raw.ledger")
        await conn.execute("DROP SCHEMA bench_raw CASCADE")
    finally:
        await conn.close()
    return {"rows": stored, "seconds": round(copy_s, 3), "rows_per_s": round(n / copy_s, 1)}


# --- 2. openings ---------------------------------------------------------------------------------------


async def post_openings(base: str, keys: dict[str, str], bodies: list[dict], concurrency: int = 8) -> None:
    employers = list(keys)
    queue: asyncio.Queue[tuple[int, dict]] = asyncio.Queue()
    for item in enumerate(bodies):
        queue.put_nowait(item)

    async def worker(http: httpx.AsyncClient) -> None:
        while True:
            try:
                i, body = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            employer = employers[i % len(employers)]
            r = await http.post(
                f"{base}/v1/openings", json=body,
                headers={"Authorization": f"Bearer {keys[employer]}", "Idempotency-Key": f"bench-opening-{i}"},
            )
            if r.status_code != 201:
                raise RuntimeError(f"POST /v1/openings answered {r.status_code}: {r.text[:500]}")

    async with httpx.AsyncClient(timeout=60.0) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))


async def wait_openings(url: str, n: int, timeout: float) -> None:
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            routing = await conn.fetchval("SELECT count(*) FROM routing.openings")
            outcomes = await conn.fetchval("SELECT count(*) FROM outcomes.openings")
            if routing >= n and outcomes >= n:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"after {timeout:.0f} s routing holds {routing} and outcomes {outcomes} of {n} openings")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


# --- 3. the pipeline -------------------------------------------------------------------------------


class SeqWatcher:
    """The referrals a table has rows for, read forward by a sequence column (an index range
    scan, so a poll costs the database little however large the table grows).

    Reads from a little below the highest value seen: a sequence value is taken at insert and
    several transactions insert at once, so a row may commit after a higher one was already
    read. `WINDOW` rows is far more than the transactions in flight can hold (a consumer's
    transaction is one partition's batch, at most 500 records and their events)."""

    WINDOW = 5_000

    def __init__(self, conn: asyncpg.Connection, sql: str, *args: object) -> None:
        self.conn = conn
        self.sql = sql  # selects (seq, referral_id) WHERE seq > $1, further arguments from $2
        self.args = args
        self.top = 0
        self.seen: set[str] = set()

    async def poll(self) -> int:
        rows = await self.conn.fetch(self.sql, max(0, self.top - self.WINDOW), *self.args)
        for r in rows:
            self.top = max(self.top, r["seq"])
            self.seen.add(r["referral_id"])
        return len(self.seen)


def watchers(conn: asyncpg.Connection) -> dict[str, SeqWatcher]:
    """Per stage after intake, what shows a referral through it. Routing: a decision commits
    with its referral.routed or referral.unmatched event in routing's outbox (one transaction),
    and the outbox, unlike routing.decisions, has an increasing id to read forward by."""
    return {
        "routing": SeqWatcher(
            conn, "SELECT id AS seq, key AS referral_id FROM routing.outbox WHERE id > $1 AND topic = $2",
            topics.ROUTING.name,
        ),
        "employer_gateway": SeqWatcher(
            conn, "SELECT seq, referral_id FROM employer_gateway.referrals WHERE seq > $1 AND partner_id = $2",
            CSV_PARTNER,
        ),
        "outcomes": SeqWatcher(
            conn, "SELECT seq, referral_id FROM outcomes.ledger WHERE seq > $1 AND event_type = ANY($2::text[])",
            DECISION_TYPES,
        ),
    }


# The relays' claim reads the outbox's primary key above its cursor, and the published mark is
# heap-only since plumbing/sql/013 (which dropped the partial index of unpublished rows): the
# heap-only share of the marks and each index's entries read show what a claim and a mark cost
# (docs/performance.md). `outbox_pkey`'s reads mix the claim's, the mark's and this benchmark's.
TABLE_STATS = """
SELECT t.schemaname AS schema, t.relname AS tbl, t.n_tup_ins, t.n_tup_upd, t.n_tup_hot_upd, t.n_dead_tup,
       t.autovacuum_count, t.autoanalyze_count, pg_total_relation_size(t.relid) AS bytes,
       coalesce(jsonb_object_agg(i.indexrelname, jsonb_build_array(i.idx_scan, i.idx_tup_read, i.idx_tup_fetch))
                FILTER (WHERE i.indexrelname IS NOT NULL), '{}') AS indexes
FROM pg_stat_user_tables t LEFT JOIN pg_stat_user_indexes i ON i.relid = t.relid
WHERE t.schemaname = ANY($1::text[]) AND t.relname IN ('outbox', 'inbox')
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
"""


# Autovacuum's time by table (PostgreSQL 18's counters; none before): which tables its share
# of PostgreSQL's CPU goes to.
AUTOVACUUM = """
SELECT schemaname || '.' || relname AS tbl, autovacuum_count + autoanalyze_count AS runs,
       total_autovacuum_time + total_autoanalyze_time AS ms
FROM pg_stat_user_tables WHERE schemaname = ANY($1::text[])
"""


async def table_stats(conn: asyncpg.Connection) -> dict[str, dict]:
    rows = await conn.fetch(TABLE_STATS, list(SERVICES))
    out = {f"{r['schema']}.{r['tbl']}": {**dict(r), "indexes": json.loads(r["indexes"])} for r in rows}
    with contextlib.suppress(asyncpg.UndefinedColumnError):
        out["_autovacuum"] = {r["tbl"]: (r["runs"], r["ms"]) for r in await conn.fetch(AUTOVACUUM, list(SERVICES))}
    return out


def table_stats_delta(before: dict[str, dict], after: dict[str, dict], n: int) -> dict[str, dict]:
    """Per service outbox and inbox during the stage: rows written and marked, how many of the
    marks were heap-only, autovacuum runs, size at the end, and per index its scans and
    entries read (and entries read per scan)."""
    out: dict[str, dict] = {}
    if "_autovacuum" in after:
        was = before.get("_autovacuum", {})
        spent = {t: (runs - was.get(t, (0, 0))[0], ms - was.get(t, (0, 0))[1]) for t, (runs, ms) in after["_autovacuum"].items()}
        # every service table autovacuum or autoanalyze ran on: runs and ms a referral, most first
        out["_autovacuum_ms_per_referral"] = {
            t: {"runs": runs, "ms_per_referral": round(ms / n, 4)}
            for t, (runs, ms) in sorted(spent.items(), key=lambda kv: -kv[1][1]) if runs
        }
    for name, a in sorted(after.items()):
        if name.startswith("_"):
            continue
        b = before.get(name, {})
        counters = {k: a[k] - b.get(k, 0) for k in ("n_tup_ins", "n_tup_upd", "n_tup_hot_upd", "autovacuum_count")}
        indexes = {}
        for index, (scans, read, fetched) in sorted(a["indexes"].items()):
            s0, r0, f0 = b.get("indexes", {}).get(index, (0, 0, 0))
            scans, read, fetched = scans - s0, read - r0, fetched - f0
            indexes[index] = {
                "scans": scans, "entries_read": read, "heap_fetches": fetched,
                "entries_read_per_scan": round(read / scans, 1) if scans else None,
                "entries_read_per_referral": round(read / n, 2),
            }
        out[name] = {**counters, "n_dead_tup_end": a["n_dead_tup"], "mb_end": round(a["bytes"] / 2**20, 1),
                     "indexes": indexes}
    return out


async def count(conn: asyncpg.Connection, sql: str, *args: object) -> int:
    return int(await conn.fetchval(sql, *args))


async def sustained(conn: asyncpg.Connection, sql: str, *args: object) -> dict:
    """Rate between the 10th and 90th percentile of a stage's row timestamps (its own database
    clock: each row's transaction start), and the span from the first to the last row."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, extract(epoch FROM min(ts)) AS first, extract(epoch FROM max(ts)) AS last,"
        " extract(epoch FROM percentile_disc(0.1) WITHIN GROUP (ORDER BY ts)) AS p10,"
        f" extract(epoch FROM percentile_disc(0.9) WITHIN GROUP (ORDER BY ts)) AS p90 FROM ({sql}) AS s",
        *args,
    )
    n = row["n"]
    if not n:
        return {"rows": 0}
    p10, p90 = float(row["p10"]), float(row["p90"])
    return {
        "rows": n,
        "first_to_last_s": round(float(row["last"]) - float(row["first"]), 2),
        "sustained_per_s": round(0.8 * n / (p90 - p10), 1) if p90 > p10 else None,
        "_first": float(row["first"]),
        "_last": float(row["last"]),
    }


class Profiler:
    """py-spy on every service and a sampler of pg_stat_activity, for the pipeline stage."""

    def __init__(self, folder: Path, pids: dict[str, int], database_url: str) -> None:
        self.folder = folder
        self.pids = pids
        self.url = database_url
        self.spies: dict[str, subprocess.Popen] = {}
        self.activity: Counter[tuple[str, str, str]] = Counter()  # (service, statement, wait) -> samples
        self.samples = 0
        self.port_owner: dict[int, str] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(spy).exists():
            raise SystemExit("--profile needs py-spy (.venv/bin/pip install py-spy)")
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            self.spies[name] = subprocess.Popen(
                [spy, "record", "--nonblocking", "--format", "raw", "--rate", "50", "--pid", str(pid), "-o", str(self.folder / f"{name}.txt")],
                stdout=subprocess.DEVNULL, stderr=(self.folder / f"{name}.py-spy.log").open("w"),
            )
        self._task = asyncio.create_task(self._sample())

    def _owner(self, port: int | None) -> str:
        if port is None:
            return "?"
        if port not in self.port_owner:
            by_pid = {pid: name for name, pid in self.pids.items()}
            for c in psutil.net_connections(kind="tcp"):
                if c.laddr and c.pid in by_pid:
                    self.port_owner[c.laddr.port] = by_pid[c.pid]
            self.port_owner.setdefault(port, "other")
        return self.port_owner[port]

    async def _sample(self) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            while not self._stop.is_set():
                rows = await conn.fetch(
                    "SELECT client_port, left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS q,"
                    " coalesce(wait_event_type || ':' || wait_event, 'CPU') AS w FROM pg_stat_activity"
                    " WHERE state = 'active' AND pid <> pg_backend_pid() AND datname = current_database()"
                )
                self.samples += 1
                for r in rows:
                    self.activity[(self._owner(r["client_port"]), r["q"], r["w"])] += 1
                try:
                    await asyncio.wait_for(self._stop.wait(), 0.1)
                except TimeoutError:
                    pass
        finally:
            await conn.close()

    async def stop(self) -> dict:
        self._stop.set()
        if self._task:
            await self._task
        for proc in self.spies.values():
            proc.send_signal(signal.SIGINT)
        for proc in self.spies.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        top = [
            {"service": s, "statement": q, "wait": w, "samples": n, "share_of_samples": round(n / max(1, self.samples), 3)}
            for (s, q, w), n in self.activity.most_common(40)
        ]
        (self.folder / "pg_activity.json").write_text(json.dumps({"samples": self.samples, "top": top}, indent=2))
        return {
            "folder": str(self.folder),
            "pg_activity_samples": self.samples,
            "pg_activity_top": top[:15],
            "py_spy": {name: summarize_stacks(self.folder / f"{name}.txt") for name in self.pids},
        }


# Leaf functions of a thread that waits (py-spy without --idle still samples a thread blocked
# in a call it cannot see as idle, e.g. epoll in the event loop or a pool worker's queue).
# Under uvloop the loop itself is C: a stack that ends in Runner.run is the loop between
# callbacks (mostly waiting in epoll; its own C work is counted there too).
IDLE_LEAVES = {
    "EpollSelector.select", "Condition.wait", "_worker", "Event.wait", "Thread.join", "SimpleQueue.get", "Runner.run",
}
OUR_CODE = ("services/", "plumbing/", "contracts/")


def summarize_stacks(path: Path, top: int = 20) -> dict:
    """py-spy's raw output (one collapsed stack and its count a line), waiting threads left
    out: the functions most often on top of the stack (self) and, of our own code, on the
    stack at all (inclusive), as shares of the busy samples."""
    if not path.exists():
        return {"samples": 0}
    total = busy = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        samples_ = int(n)
        total += samples_
        frames = [f.rsplit(":", 1)[0] + ")" if f.endswith(")") and ":" in f else f for f in stack.split(";")]
        if frames[-1].split(" (")[0] in IDLE_LEAVES:
            continue
        busy += samples_
        for f in set(frames):
            if any(f"({prefix}" in f for prefix in OUR_CODE):
                inclusive[f] += samples_
        own[frames[-1]] += samples_

    def shares(c: Counter[str]) -> list[dict]:
        return [{"frame": f, "share": round(k / busy, 3)} for f, k in c.most_common(top)]

    return {"samples": total, "busy_samples": busy, "self": shares(own), "inclusive_ours": shares(inclusive)} if busy else {
        "samples": total, "busy_samples": 0}


async def pipeline(
    net: network.Network, csv_path: Path, n: int, partner_key: str, poll: float, timeout: float,
    cpu: CpuMeter, profiler: Profiler | None, pg_statements: bool = False, idle_seconds: float = 0.0,
) -> dict:
    conn = await asyncpg.connect(net.database_url, server_settings={"application_name": "bench"})
    # query ids only for --pg-statements: sampled every 100 ms, they cost PostgreSQL ~0.05 ms a referral
    backends = BackendCpu(net.database_url, query_ids=pg_statements)
    sampling: asyncio.Task | None = None
    watch = watchers(conn)
    stages: dict[str, float] = {}  # stage -> seconds from the start of the import when complete
    timeline: list[dict] = []
    summary: dict | None = None
    target, routed = n, None
    last_print = last_mark = 0.0
    got = {"intake": 0, "routing": 0, "employer_gateway": 0, "outcomes": 0}
    try:
        # What each process spends with nothing to do (consume loops' empty fetches, relays'
        # polls, heartbeats), measured just before the import: subtracted from the stage's CPU it
        # leaves the work the referrals caused, which a slower run (a busy machine) no longer
        # inflates. (It slightly over-subtracts: a loop with records to fetch has no empty fetch.)
        idle: dict[str, float] = {}
        if idle_seconds > 0:
            cpu.mark()
            idle_t0 = time.monotonic()
            await asyncio.sleep(idle_seconds)
            idle = {k: v / (time.monotonic() - idle_t0) for k, v in cpu.since_mark(digits=4).items()}
        if profiler:
            profiler.start()
        if pg_statements:
            await conn.execute("SELECT pg_stat_statements_reset()")
        tables_before = await table_stats(conn)
        await backends.mark()
        sampling = asyncio.create_task(backends.run())
        cpu.mark()
        wall0 = time.time()
        t0 = time.monotonic()
        upload = asyncio.create_task(asyncio.to_thread(importer.import_csv, net.urls["intake"], partner_key, csv_path))
        while True:
            now = time.monotonic() - t0
            if summary is None and upload.done():
                summary = upload.result()  # raises ImportFailed: nothing to measure then
                summary["http_seconds"] = round(now, 2)
                target = summary["accepted"]
            if "intake" not in stages:
                got["intake"] = await count(conn, "SELECT count(*) FROM intake.referrals WHERE partner_id = $1", CSV_PARTNER)
                if got["intake"] >= target:
                    stages["intake"] = now
            if "routing" not in stages:
                got["routing"] = await watch["routing"].poll()
                if got["routing"] >= target:
                    stages["routing"] = now
                    routed = await count(
                        conn, "SELECT count(*) FROM routing.decisions WHERE partner_id = $1 AND outcome = 'routed'",
                        CSV_PARTNER,
                    )
            if "employer_gateway" not in stages:
                got["employer_gateway"] = await watch["employer_gateway"].poll()
                if routed is not None and got["employer_gateway"] >= routed:
                    stages["employer_gateway"] = now
            if "outcomes" not in stages:
                got["outcomes"] = await watch["outcomes"].poll()
                if got["outcomes"] >= target:
                    stages["outcomes"] = now
            if now - last_mark >= max(1.0, poll * 2):
                last_mark = now
                timeline.append({"s": round(now, 1), **got})
            if now - last_print >= 10:
                last_print = now
                print(f"  {now:6.0f} s: " + ", ".join(f"{k} {v}" for k, v in got.items()) + f" of {target}", flush=True)
            if len(stages) == 4 and summary is not None:
                break
            if now > timeout:
                raise TimeoutError(f"pipeline: after {timeout:.0f} s " + ", ".join(f"{k} {v}" for k, v in got.items()))
            await asyncio.sleep(poll)
        cpu_s = cpu.since_mark()
        cpu_wall = time.monotonic() - t0
        tables = table_stats_delta(tables_before, await table_stats(conn), target)
        backends.stop()
        await sampling
        sampling = None
        statements = await statement_profile(conn, target, backends.query_clients) if pg_statements else None
        profile = await profiler.stop() if profiler else None
        profiler = None
        timeline.append({"s": round(time.monotonic() - t0, 1), **got})

        # Post hoc, from the rows themselves: exact counts, and each stage's sustained rate.
        exact_outcomes = await count(
            conn,
            "SELECT count(DISTINCT referral_id) FROM outcomes.ledger WHERE event_type = ANY($1::text[]) AND partner_id = $2",
            DECISION_TYPES, CSV_PARTNER,
        )
        rates = {
            "intake": await sustained(conn, "SELECT submitted_at AS ts FROM intake.referrals WHERE partner_id = $1", CSV_PARTNER),
            "routing": await sustained(conn, "SELECT decided_at AS ts FROM routing.decisions WHERE partner_id = $1", CSV_PARTNER),
            "employer_gateway": await sustained(
                conn, "SELECT updated_at AS ts FROM employer_gateway.referrals WHERE partner_id = $1", CSV_PARTNER
            ),
            "outcomes": await sustained(
                conn,
                "SELECT min(recorded_at) AS ts FROM outcomes.ledger WHERE event_type = ANY($1::text[])"
                " AND partner_id = $2 GROUP BY referral_id",
                DECISION_TYPES, CSV_PARTNER,
            ),
        }
        outcomes_by_reason = dict(await conn.fetch(
            "SELECT envelope->'data'->>'reason', count(*) FROM outcomes.ledger WHERE event_type = $1 AND partner_id = $2"
            " GROUP BY 1 ORDER BY 2 DESC", events.ReferralUnmatchedV1.event_type, CSV_PARTNER,
        ))
        sizes = dict(await conn.fetch(
            "SELECT event_type, round(avg(length(envelope::text))) FROM outcomes.ledger WHERE partner_id = $1"
            " GROUP BY 1", CSV_PARTNER,
        ))
    finally:
        if sampling is not None:
            backends.stop()
            await sampling
        if profiler:
            await profiler.stop()
        await conn.close()

    items = {"intake": target, "routing": target, "employer_gateway": routed, "outcomes": target}
    out_stages = {}
    for name, seconds in stages.items():
        rate = {k: v for k, v in rates[name].items() if not k.startswith("_")}
        last_at = rates[name].get("_last")
        out_stages[name] = {
            "items": items[name],
            "seconds": round(seconds, 2),
            "referrals_per_s": round(target / seconds, 1),
            **({"items_per_s": round(items[name] / seconds, 1)} if items[name] != target else {}),
            # the last row's own transaction time, from the start of the import (no polling in it)
            "last_row_at_s": round(last_at - wall0, 2) if last_at else None,
            **rate,
        }
    slowest = max(stages.values())
    return {
        "csv_rows": n,
        "import": summary,
        "accepted": target,
        "routed": routed,
        "unmatched": target - (routed or 0),
        "unmatched_reasons": outcomes_by_reason,
        "outcomes_decisions_exact": exact_outcomes,
        "stages": out_stages,
        "seconds": round(slowest, 2),
        "referrals_per_s": round(target / slowest, 1),
        "cpu_seconds": cpu_s,
        # what each process spent per referral: unlike the rates, hardly changed by a busy machine
        "cpu_ms_per_referral": {k: round(1000 * v / target, 2) for k, v in cpu_s.items()},
        **({
            "idle_cpu_percent_of_a_core": {k: round(100 * v, 2) for k, v in idle.items()},
            # the stage's CPU less what the same processes spend idle over as long
            "cpu_ms_per_referral_above_idle": {
                k: round(1000 * (v - idle.get(k, 0.0) * cpu_wall) / target, 2) for k, v in cpu_s.items()
            },
        } if idle else {}),
        # PostgreSQL's share split by whose connection it served (backends' CPU by application_name)
        "postgres_cpu_ms_per_referral_by_client": {
            k: round(1000 * v / target, 3) for k, v in backends.since_mark().items()
        },
        **({"pg_statements": statements} if statements else {}),
        # per service outbox and inbox: marks, heap-only marks, autovacuum, index entries read
        "outbox_inbox_tables": tables,
        "mean_envelope_chars_in_ledger": {k: int(v) for k, v in sizes.items()},
        "poll_s": poll,
        "timeline": timeline,
        **({"profile": profile} if profile else {}),
    }


# --- 4. offered load --------------------------------------------------------------------------------------


async def offered_load(
    net: network.Network, partner_key: str, rate: float, seconds: float, drain: float, profiler: Profiler | None = None,
    cpu: CpuMeter | None = None, pg_statements: bool = False,
) -> dict:
    total = max(1, int(rate * seconds))
    given_at = datetime.now(UTC) - timedelta(days=1)
    bodies = [referral_body(i, given_at) for i in range(total)]
    headers = {"Authorization": f"Bearer {partner_key}", "Content-Type": "application/json"}
    sent: dict[str, tuple[float, float, float]] = {}  # referral id -> (scheduled, sent, answered), monotonic
    api_ms: list[float] = []
    errors: Counter[str] = Counter()
    first_errors: list[str] = []
    lag_ms: list[float] = []  # how late each request was sent after its scheduled time (client-side queue)
    skipped = 0  # requests not sent at all: their time came after the deadline
    conn = await asyncpg.connect(net.database_url, server_settings={"application_name": "bench"})
    arrived: dict[str, float] = {}
    stop = asyncio.Event()

    async def watch() -> None:
        # The decisions recorded since the last look, by the ledger's sequence: a look costs
        # the rows that are new and the window below them. (Asking for every referral still waiting, as before, cost
        # PostgreSQL more with each one waiting: under a backlog about half its CPU of the
        # offered load, which then counted as the product's.) Each look starts LEDGER_WINDOW
        # rows below the highest seq seen, as a row of one of outcomes' lanes may commit after
        # a higher one of the other was seen; the sweep each SWEEP_S asks for the ones still
        # waiting, should one be.
        seen = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM outcomes.ledger")
        sweep_at = time.monotonic() + SWEEP_S
        while not stop.is_set():
            rows = await conn.fetch(
                "SELECT seq, referral_id FROM outcomes.ledger WHERE seq > $1 AND event_type = ANY($2::text[])"
                " ORDER BY seq", max(0, seen - LEDGER_WINDOW), DECISION_TYPES,
            )
            now = time.monotonic()
            for r in rows:
                arrived.setdefault(r["referral_id"], now)
            if rows:
                seen = max(seen, rows[-1]["seq"])
            if now >= sweep_at:
                sweep_at = now + SWEEP_S
                waiting = [rid for rid in sent if rid not in arrived]
                if waiting:
                    for r in await conn.fetch(
                        "SELECT DISTINCT referral_id FROM outcomes.ledger WHERE referral_id = ANY($1::text[])"
                        " AND event_type = ANY($2::text[])", waiting, DECISION_TYPES,
                    ):
                        arrived.setdefault(r["referral_id"], now)
            try:
                await asyncio.wait_for(stop.wait(), LEDGER_POLL_S)
            except TimeoutError:
                pass

    # Requests beyond IN_FLIGHT wait here, not in the client: a connection carries one request
    # at a time (bench/lean_http.py: httpx spent about 1 ms of the benchmark's CPU a request).
    in_flight = asyncio.Semaphore(IN_FLIGHT)
    async with lean_http.Pool(net.urls["intake"], IN_FLIGHT, timeout=60.0) as client:
        hard_deadline = time.monotonic() + seconds + drain

        async def one(i: int, scheduled: float) -> None:
            nonlocal skipped
            async with in_flight:
                t = time.monotonic()
                if t > hard_deadline:
                    skipped += 1
                    return
                lag_ms.append((t - scheduled) * 1000)
                try:
                    r = await client.request("POST", PATH, content=bodies[i], headers=headers)
                except lean_http.HttpError as exc:
                    errors[type(exc).__name__] += 1
                    return
            answered = time.monotonic()
            api_ms.append((answered - t) * 1000)
            if r.status_code != 201:
                errors[str(r.status_code)] += 1
                if len(first_errors) < 5:
                    first_errors.append(r.text[:300])
                return
            sent[r.json()["referral_id"]] = (scheduled, t, answered)

        if profiler:
            profiler.start()
        # With --pg-statements, the statements of the single-request path on their own (reset
        # before the watcher takes the connection).
        backends = BackendCpu(net.database_url, query_ids=True) if pg_statements else None
        if backends:
            await conn.execute("SELECT pg_stat_statements_reset()")
            await backends.mark()
            sampling = asyncio.create_task(backends.run())
        watcher = asyncio.create_task(watch())
        if cpu:
            cpu.mark()
        t0 = time.monotonic()
        await open_loop(total, rate, t0, one)
        submit_s = time.monotonic() - t0
        deadline = time.monotonic() + drain
        while any(rid not in arrived for rid in sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        # From the first request to the last decision in the ledger (or the drain's end).
        cpu_s = cpu.since_mark() if cpu else None
        stop.set()
        await watcher
        statements = by_client = None
        if backends:
            backends.stop()
            await sampling
            by_client = backends.since_mark()
            statements = await statement_profile(conn, max(1, len(sent)), backends.query_clients)
    await conn.close()
    profile = await profiler.stop() if profiler else None

    # A referral still missing when the drain ended counts with the time it had waited by then:
    # the percentiles are then lower bounds ("censored" says how many).
    gave_up = time.monotonic()
    from_scheduled = sorted((arrived.get(rid, gave_up) - s) * 1000 for rid, (s, _, _) in sent.items())
    from_sent = sorted((arrived.get(rid, gave_up) - t) * 1000 for rid, (_, t, _) in sent.items())
    api_ms.sort()
    lag_ms.sort()

    def pct(values: list[float]) -> dict:
        if not values:
            return {}
        return {p: round(percentile(values, q), 1) for p, q in (("p50", 50), ("p90", 90), ("p99", 99))} | {
            "max": round(values[-1], 1)
        }

    return {
        "offered_per_s": rate,
        "seconds": seconds,
        "requests": total,
        "accepted": len(sent),
        "errors": dict(errors),
        "first_errors": first_errors,
        "not_sent": skipped,
        "clients": f"{IN_FLIGHT} connections, a request in flight on each at most",
        "submit_seconds": round(submit_s, 2),
        "achieved_per_s": round(len(sent) / submit_s, 1),  # accepted referrals per second of submitting
        "arrived_in_ledger": sum(1 for rid in sent if rid in arrived),
        "censored": sum(1 for rid in sent if rid not in arrived),
        "drain_seconds": drain,
        "submit_to_ledger_ms": pct(from_scheduled),
        "sent_to_ledger_ms": pct(from_sent),
        "api_answer_ms": pct(api_ms),
        "client_queue_ms": pct(lag_ms),
        "ledger_poll_ms": int(LEDGER_POLL_S * 1000),
        # Each process's CPU from the first request until every decision was in the ledger, and
        # per accepted referral: what a referral costs on the single-request path (compare the
        # pipeline stage's `cpu_ms_per_referral`, a CSV's rows in batches).
        **({"cpu_seconds": cpu_s, "cpu_ms_per_referral": {
            k: round(v * 1000 / max(1, len(sent)), 2) for k, v in cpu_s.items()}} if cpu_s else {}),
        # PostgreSQL's share by whose connection it served ("bench": the look for decisions)
        **({"postgres_cpu_ms_per_referral_by_client": {
            k: round(1000 * v / max(1, len(sent)), 3) for k, v in by_client.items()}} if by_client else {}),
        **({"pg_statements": statements} if statements else {}),
        **({"profile": profile} if profile else {}),
    }


# --- the run ------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--referrals", type=int, help="CSV rows (default 100,000; --small 300)")
    parser.add_argument("--openings", type=int, help="open openings (default 5,000; --small 50)")
    parser.add_argument("--offered-rate", type=float, help="referrals/s through the API (default 500; --small 100)")
    parser.add_argument("--offered-seconds", type=float, help="how long the offered load lasts (default 20; --small 3)")
    parser.add_argument("--raw-records", type=int, help="records for the raw limits (default 100,000; --small 5,000)")
    parser.add_argument("--record-bytes", type=int, default=700, help="size of a raw record (default 700)")
    parser.add_argument("--capacity-max", type=int, default=40, help="an opening's capacity is 1 to this (default 40)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--poll", type=float, help="seconds between progress polls (default: 0.2-1 s by size)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds for the pipeline stage (default 3600)")
    parser.add_argument("--drain", type=float, default=120, help="seconds to wait for offered referrals after the load")
    parser.add_argument("--small", action="store_true", help="tiny sizes for CI (under a minute)")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy every service and sample pg_stat_activity")
    parser.add_argument(
        "--pg-statements", action="store_true",
        help="load pg_stat_statements (restarts the fresh stack's PostgreSQL) and rank statements per service",
    )
    parser.add_argument(
        "--auto-explain", type=float, metavar="MS",
        help="with --pg-statements: log plans of statements slower than MS ms, kept in <out>.postgres.log",
    )
    parser.add_argument(
        "--idle-seconds", type=float,
        help="seconds of each process's idle CPU measured before the import (default 5; --small 1; 0: none)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    args = parser.parse_args()
    for name, value in (SMALL if args.small else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.referrals < 1 or args.openings < 1 or args.raw_records < 1 or args.offered_rate <= 0:
        parser.error("sizes and rates must be positive")
    if args.auto_explain is not None and not args.pg_statements:
        parser.error("--auto-explain needs --pg-statements (both load into the restarted PostgreSQL)")
    if args.poll is None:
        args.poll = min(1.0, max(0.2, args.referrals / 10_000))
    return args


def main() -> None:
    args = parse_args()
    # Started in the background by a shell, SIGINT is ignored; either signal must still stop
    # the run through `network.discard` (the finally below), not leave a stack running.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    load_start = os.getloadavg()
    started = time.monotonic()
    rng = random.Random(args.seed)
    bodies = opening_bodies(rng, args.openings, args.capacity_max)
    failure = None
    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="tl-bench-") as tmp:
        home = Path(tmp)
        csv_path = home / "registrar.csv"
        t = time.monotonic()
        samples.write_csv(csv_path, samples.RIVERBEND_COLUMNS, (
            samples.riverbend_row(samples.person(i, run="pipeline"), "pipeline") for i in range(args.referrals)
        ))
        csv_mb = round(csv_path.stat().st_size / 1e6, 1)
        print(f"wrote {args.referrals} CSV rows ({csv_mb} MB) in {time.monotonic() - t:.1f} s", flush=True)
        cfg = isolated_network(home)
        rss: dict[str, PeakRss] = {}
        try:
            net = network.up(cfg, only=())
            if args.pg_statements:
                enable_pg_stat_statements(cfg, net.database_url, args.auto_explain)
            print(f"stack up in {net.timings['total_s']} s; raw limits ...", flush=True)
            raw = {
                "kafka": asyncio.run(raw_kafka(net.bootstrap, args.raw_records, args.record_bytes)),
                "postgres_copy": asyncio.run(raw_copy(net.database_url, args.raw_records, args.record_bytes)),
            }
            print(f"  kafka produce {raw['kafka']['produce_per_s']}/s, consume {raw['kafka']['consume_per_s']}/s, "
                  f"round trip {raw['kafka']['round_trip_per_s']}/s; COPY {raw['postgres_copy']['rows_per_s']} rows/s",
                  flush=True)

            t = time.monotonic()
            net = network.up(cfg, only=SERVICES)
            pids = {s.name: s.pid() for s in cfg.services() if s.name in SERVICES}
            print(f"services up in {time.monotonic() - t:.1f} s: {pids}", flush=True)
            for name, pid in pids.items():
                rss[name] = PeakRss(pid)
                rss[name].start()
            keys = credentials.load_keys(home)
            employer_keys = {e: keys[f"employer:{e}"] for e in credentials.EMPLOYERS}

            t = time.monotonic()
            asyncio.run(post_openings(net.urls["employer_gateway"], employer_keys, bodies))
            t_post = time.monotonic() - t
            asyncio.run(wait_openings(net.database_url, args.openings, timeout=600))
            openings = {
                "openings": args.openings,
                "slots": sum(b["capacity"] for b in bodies),
                "capacity_max": args.capacity_max,
                "post_seconds": round(t_post, 2),
                "in_routing_and_outcomes_seconds": round(time.monotonic() - t, 2),
            }
            print(f"{args.openings} openings ({openings['slots']} slots) posted in {t_post:.1f} s, in routing and "
                  f"outcomes after {openings['in_routing_and_outcomes_seconds']} s; importing ...", flush=True)

            cpu = CpuMeter({**pids, **stack_pids(cfg), "bench": os.getpid()}, own_only=("bench",))
            profiler = Profiler(args.profile, pids, net.database_url) if args.profile else None
            measured = asyncio.run(pipeline(
                net, csv_path, args.referrals, keys[f"partner:{CSV_PARTNER}"], args.poll, args.timeout, cpu, profiler,
                args.pg_statements, args.idle_seconds,
            ))
            print(f"pipeline: {measured['referrals_per_s']} referrals/s over {measured['seconds']} s; "
                  + ", ".join(f"{k} {v['seconds']} s" for k, v in measured["stages"].items()), flush=True)

            print(f"offered load: {args.offered_rate}/s for {args.offered_seconds} s ...", flush=True)
            # On uvloop, as the services run: the client's CPU is the benchmark's, kept small.
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                latency = runner.run(offered_load(
                    net, keys[f"partner:{API_PARTNER}"], args.offered_rate, args.offered_seconds, args.drain,
                    Profiler(args.profile / "offered", pids, net.database_url) if args.profile else None, cpu,
                    args.pg_statements,
                ))
            for r in rss.values():
                r.running = False
            result = {"openings_setup": openings, "raw": raw, "pipeline": measured, "offered_load": latency}
        except (TimeoutError, importer.ImportFailed) as exc:
            failure = f"{type(exc).__name__}: {exc}"
        finally:
            if args.auto_explain is not None:
                keep_plans(cfg, args.out.with_suffix(".postgres.log"))
            network.discard(cfg)
    load_end = os.getloadavg()

    raw_rt = result.get("raw", {}).get("kafka", {}).get("round_trip_per_s")
    pipe = result.get("pipeline", {}).get("referrals_per_s")
    lat = result.get("offered_load", {})
    incomplete = lat and lat["arrived_in_ledger"] < lat["requests"]  # refused requests count as missing
    if not failure and incomplete:
        failure = f"{lat['requests'] - lat['arrived_in_ledger']} offered referrals never reached the ledger"
    out = {
        "benchmark": "whole pipeline: CSV -> intake -> routing -> gateway and outcomes, beside the raw Kafka and COPY limits",
        "complete": failure is None,
        **({"failure": failure} if failure else {}),
        "referrals": args.referrals,
        "openings": args.openings,
        "seed": args.seed,
        "small": args.small,
        **result,
        "ratio_pipeline_to_raw_round_trip": round(pipe / raw_rt, 4) if pipe and raw_rt else None,
        "peak_rss_mb": {name: round(r.peak / 2**20, 1) for name, r in rss.items()},
        "bench_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10, 1),
        "load_avg": {"start": [round(x, 2) for x in load_start], "end": [round(x, 2) for x in load_end]},
        "total_wall_seconds": round(time.monotonic() - started, 1),
        "source": source_tree(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    brief = {k: v for k, v in out.items() if k not in ("pipeline", "offered_load")} | {
        part: {k: v for k, v in out.get(part, {}).items() if k not in ("timeline", "profile")}
        for part in ("pipeline", "offered_load")
    }
    print(json.dumps(brief, indent=2))
    if failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
    st = out["pipeline"]["stages"]
    for label, key in (("CPU ms a referral", "cpu_ms_per_referral"), ("above idle", "cpu_ms_per_referral_above_idle")):
        if key in out["pipeline"]:
            figures = out["pipeline"][key]
            print(f"{label}: " + ", ".join(f"{k} {v}" for k, v in figures.items()) + f" = {sum(figures.values()):.2f}")
    if "cpu_ms_per_referral" in lat:
        figures = lat["cpu_ms_per_referral"]
        print("offered load, CPU ms a referral: " + ", ".join(f"{k} {v}" for k, v in figures.items())
              + f" = {sum(figures.values()):.2f}")
    print(
        f"raw: Kafka round trip {raw_rt}/s, COPY {out['raw']['postgres_copy']['rows_per_s']} rows/s | pipeline "
        f"{pipe} referrals/s ({100 * out['ratio_pipeline_to_raw_round_trip']:.2f} % of the round trip): "
        + ", ".join(f"{k} {v['referrals_per_s']}/s" for k, v in st.items())
        + f" | offered {lat['offered_per_s']}/s: submit-to-ledger p50 {lat['submit_to_ledger_ms'].get('p50')} ms, "
        f"p99 {lat['submit_to_ledger_ms'].get('p99')} ms | load {out['load_avg']['start'][0]} -> "
        f"{out['load_avg']['end'][0]} | written to {args.out}"
    )


if __name__ == "__main__":
    main()
