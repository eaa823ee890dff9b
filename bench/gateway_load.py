"""Benchmark: concurrent employers' calls against the employer gateway on the real stack.

    .venv/bin/python bench/gateway_load.py [--referrals 2000] [--concurrency 32] [--seed 7] [--timeout 900]
        [--raw-seconds 15] [--client lean|httpx] [--without-uvloop] [--profile DIR] [--pg-statements]
        [--out bench/results/gateway_load.json]

Starts a fresh local stack (Kafka, PostgreSQL) and only the employer gateway in a temporary
state directory. Each demo employer (keys from the stack's keys.json) posts one opening
through the API; then `--referrals` `referral.routed.v1` events, each routed to one of those
openings, are published straight onto talentloop.routing (one idempotent producer, as routing's
outbox would), and the script waits until every one is a row of the gateway's inbox; the CPU
seconds of the gateway, PostgreSQL and Kafka meanwhile, per event (`seeding`), are what the
gateway's consumer costs.

The load: `--concurrency` clients (asyncio tasks in this process, each with one keep-alive
connection of its own) take referrals from one queue and walk each through the employer's
path, every POST with its own Idempotency-Key:

    POST acknowledge -> POST interviews -> POST interviews/{id}/outcome (advanced)
    -> POST offers -> POST placement

and, chosen per referral with the seed, GET /v1/referrals/{id} afterwards (30%), the next page
of the employer's inbox, GET /v1/referrals?after=... (10%, each client pages on through each
inbox), and the placement POST again with the same key and body (5%), which must be a replay
(`Idempotent-Replayed: true`, no new event). Every request's latency and status is recorded;
any non-2xx answer, transport error or missing replay header is an error.

After the load it waits until the gateway's outbox is empty and until talentloop.employer-actions
(read from offset 0) holds exactly one event per accepted action for the seeded referrals
(5 per referral: acknowledged, interview scheduled and completed, offer extended, placement
reported). Prints and writes bench/results/gateway_load.json: requests, errors, wall seconds,
requests/s, p50/p90/p99/max latency overall and per action, the gateway's peak RSS and CPU
seconds, the outbox backlog when the load ended and how long it took to drain, the events on
Kafka, the gateway's warning/error log lines, and the machine.

The clients share the machine's two cores with the gateway, PostgreSQL and Kafka, so what
they cost limits what is measured. By default they use bench/lean_http.py (a minimal
HTTP/1.1 client) on uvloop when installed; `--client httpx` uses httpx as before, at about
3 ms of CPU per request, more than the gateway spends. `client_cpu_seconds` says what they
took.

The raw limit, measured in the same run on the same database right after the drain (so the
gateway's figures have something to be compared with): the same clients for `--raw-seconds`
against a bare ASGI app under uvicorn (bench/raw_http_db.py: no framework, one `SELECT 1`
per request on an asyncpg pool of the gateway's size), and asyncpg `SELECT 1` round trips/s
on one connection and on ten (for a quarter of `--raw-seconds` each, at most 2 s).
`gateway_to_raw` is the gateway's requests/s over the bare app's; CPU milliseconds per
request are given for both servers (the figure a busy shared machine disturbs least), and
the CPU the whole stack spent per request (gateway, PostgreSQL's backends, Kafka, the
clients: `cpu_ms_per_request_all`; two cores over it,
`cpu_bound_requests_per_s_on_2_cores`, bounds what the stack could do with the machine to
itself, since on a shared machine requests/s is mostly the share the stack got).
`--profile DIR` samples the gateway with py-spy and PostgreSQL's `pg_stat_activity`
(bench/pipeline.py's `Profiler`) while seeding and under the load, raw stacks in DIR and
summaries in the results (`seeding.profile`, `profile`).
`--pg-statements` loads pg_stat_statements into the fresh stack's PostgreSQL (a restart,
before the gateway starts), resets it when the load starts and ranks the statements run during
the load (`pg_statements`: calls and execution ms per request, the client of each: the
gateway's pool, the benchmark), with PostgreSQL's CPU during the load by client
(`postgres_cpu_ms_per_request_by_client`); the statements of the seeding are not in it.
`--without-uvloop` starts the gateway and the bare app unable to
import uvloop and httptools (uvicorn then runs asyncio's loop and h11), to measure what
`uvicorn[standard]` brings; `server_stack` says which loop and parser the servers ran.

Exits 1 when any request failed, the events on Kafka do not match the accepted actions, or
the run (seeding, load and drain together) takes longer than `--timeout` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from aiokafka import AIOKafkaConsumer

from contracts import build, events, topics
from plumbing.kafka import CONTENT_TYPE_HEADER, client_options, new_producer
from talentloop import credentials, network

# Run as a script (`python bench/gateway_load.py`) bench/ is on sys.path, the repository root (where
# `bench` is a package) maybe not: put it there, so the imports read one way either way.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import lean_http  # noqa: E402
from bench.common import (  # noqa: E402
    BackendCpu,
    CpuMeter,
    PeakRss,
    enable_pg_stat_statements,
    isolated_network,
    machine,
    percentile,
    read_from_start,
    serving,
    stack_pids,
    statement_profile,
)
from bench.pipeline import Profiler  # noqa: E402

try:  # the clients' own loop: uvloop when installed (as the servers' is), so they cost the shared CPUs less
    import uvloop
except ImportError:
    uvloop = None
CLIENT_LOOP = "uvloop" if uvloop is not None else "asyncio"

RESULTS = Path(__file__).parent / "results" / "gateway_load.json"
SOURCE = "/talentloop/bench/gateway-load"
PREFIX = "bench-gw-"
PATH = ("acknowledge", "interview", "interview_outcome", "offer", "placement")  # one event each
EXPECTED_TYPES = {
    events.ReferralAcknowledgedV1.event_type,
    events.InterviewScheduledV1.event_type,
    events.InterviewCompletedV1.event_type,
    events.OfferExtendedV2.event_type,
    events.PlacementReportedV2.event_type,
}
DETAIL_SHARE, INBOX_SHARE, REPLAY_SHARE = 0.30, 0.10, 0.05
MAX_REFERRALS, MAX_CONCURRENCY = 100_000, 1024
SKILLS = ("python", "sql", "git", "javascript", "linux", "docker", "excel", "customer_service")


# --- the seeded referrals ------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    referral_id: str
    employer_id: str
    detail: bool  # GET /v1/referrals/{id} after the path
    inbox: bool  # GET the next page of the employer's inbox after the path
    replay: bool  # POST placement again with the same key


def plan(rng: random.Random, n: int) -> list[Planned]:
    return [
        Planned(
            referral_id=f"{PREFIX}{i:07d}",
            employer_id=rng.choice(credentials.EMPLOYERS),
            detail=rng.random() < DETAIL_SHARE,
            inbox=rng.random() < INBOX_SHARE,
            replay=rng.random() < REPLAY_SHARE,
        )
        for i in range(n)
    ]


def routed_event(rng: random.Random, p: Planned, opening_id: str) -> events.ReferralRoutedV1:
    held = rng.sample(SKILLS, rng.randint(2, 5))
    matched = [s for s in held if s in ("python", "sql")] or held[:1]
    return events.ReferralRoutedV1(
        referral_id=p.referral_id,
        partner_id=rng.choice(credentials.PARTNERS),
        candidate_id=f"cand-{rng.getrandbits(64):016x}",
        opening_id=opening_id,
        employer_id=p.employer_id,
        score=round(rng.uniform(0.5, 1.0), 3),
        matched_skills=matched,
        missing_skills=[],
        candidate_skills=held,
        explanation=f"has the required skills {', '.join(matched)}",
    )


OPENING = {
    "title": "Junior Data Technician",
    "onet_soc_code": "15-1211.00",
    "required_skills": ["python"],
    "preferred_skills": ["sql"],
    "capacity": 10_000,
    "wage": {"amount": "28.50", "unit": "hour"},
    "location": "Springfield, IL",
    "remote": False,
}


def terms(rng: random.Random) -> dict:
    return {
        "job_title": "Junior Data Technician",
        "onet_soc_code": "15-1211.00",
        "wage": {"amount": f"{rng.uniform(24, 42):.2f}", "unit": "hour"},
        "hours_per_week": 40,
        "employment_type": rng.choice(["full_time", "full_time", "apprenticeship"]),
        "benefits": {"health": True, "retirement": rng.random() < 0.7, "paid_leave": True},
        "start_date": (date.today() + timedelta(days=14)).isoformat(),
    }


# --- measuring -----------------------------------------------------------------------------


@dataclass
class Recorder:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # action -> ms
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # action -> status
    errors: list[dict] = field(default_factory=list)  # the first few, for the report
    error_count: int = 0
    accepted: Counter = field(default_factory=Counter)  # action -> 2xx answers that were not replays
    replays: int = 0
    finished: list[tuple[float, float]] = field(default_factory=list)  # (monotonic end, ms) of every request

    def time(self, action: str, t: float) -> None:
        end = time.perf_counter()
        self.latencies[action].append((end - t) * 1000)
        self.finished.append((time.monotonic(), (end - t) * 1000))

    def fail(self, action: str, what: dict) -> None:
        self.error_count += 1
        if len(self.errors) < 20:
            self.errors.append({"action": action, **what})


class Client:
    """One employer-side client: sends a request, times it, checks and records the answer."""

    def __init__(self, http: Any, base: str, keys: dict[str, str], rec: Recorder) -> None:
        self.http, self.base, self.keys, self.rec = http, base, keys, rec

    async def call(
        self,
        action: str,
        employer: str,
        method: str,
        path: str,
        *,
        body: dict | None = None,
        idem: str | None = None,
        params: dict | None = None,
        replay: bool = False,
    ) -> dict | None:
        headers = {"Authorization": f"Bearer {self.keys[employer]}"}
        if idem is not None:
            headers["Idempotency-Key"] = idem
        t = time.perf_counter()
        try:
            r = await self.http.request(method, f"{self.base}{path}", json=body, headers=headers, params=params)
        except TRANSPORT_ERRORS as exc:
            self.rec.time(action, t)
            self.rec.statuses[action]["transport-error"] += 1
            self.rec.fail(action, {"path": path, "error": repr(exc), "ms": round(self.rec.latencies[action][-1], 1)})
            return None
        self.rec.time(action, t)
        self.rec.statuses[action][r.status_code] += 1
        if not r.is_success:
            self.rec.fail(action, {"path": path, "status": r.status_code, "body": r.text[:500]})
            return None
        replayed = r.headers.get("Idempotent-Replayed") == "true"
        if replay != replayed:
            self.rec.fail(action, {"path": path, "status": r.status_code, "error": f"Idempotent-Replayed={replayed}"})
            return None
        if replayed:
            self.rec.replays += 1
        elif method == "POST":
            self.rec.accepted[action] += 1
        return r.json()


async def walk(client: Client, p: Planned, rng: random.Random, cursors: dict[str, int | None]) -> None:
    """One referral through the employer's path; stops at the first failed step."""
    e, base = p.employer_id, f"/v1/referrals/{p.referral_id}"
    idem = f"{p.referral_id}-"
    if await client.call("acknowledge", e, "POST", f"{base}/acknowledge", idem=idem + "ack") is None:
        return
    when = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    interview = await client.call(
        "interview", e, "POST", f"{base}/interviews", body={"scheduled_for": when, "mode": "video"}, idem=idem + "int"
    )
    if interview is None:
        return
    outcome = await client.call(
        "interview_outcome",
        e,
        "POST",
        f"{base}/interviews/{interview['interview_id']}/outcome",
        body={"outcome": "advanced"},
        idem=idem + "outcome",
    )
    if outcome is None:
        return
    job = terms(rng)
    offer = {**job, "expires_on": (date.today() + timedelta(days=7)).isoformat()}
    if await client.call("offer", e, "POST", f"{base}/offers", body=offer, idem=idem + "offer") is None:
        return
    if await client.call("placement", e, "POST", f"{base}/placement", body=job, idem=idem + "placement") is None:
        return
    if p.replay:
        await client.call(
            "placement_replay", e, "POST", f"{base}/placement", body=job, idem=idem + "placement", replay=True
        )
    if p.detail:
        found = await client.call("get_referral", e, "GET", base)
        if found is not None and (found["state"] != "placed" or not found["employment"]):
            client.rec.fail("get_referral", {"path": base, "error": f"state {found['state']} after placement"})
    if p.inbox:
        params = {"limit": 100, **({"after": cursors[e]} if cursors.get(e) is not None else {})}
        page = await client.call("get_inbox", e, "GET", "/v1/referrals", params=params)
        if page is not None:
            cursors[e] = page["next_after"]  # None at the end: start again at the first page


TRANSPORT_ERRORS = (httpx.HTTPError, lean_http.HttpError)


def http_client(kind: str, base: str) -> Any:
    """One client's connection: one keep-alive connection, as separate employers' systems
    would have (one shared pool of many connections costs the client more CPU than the
    gateway spends: httpcore scans its whole pool for every request). `lean` (bench/lean_http.py)
    costs the shared CPUs a fraction of what httpx does."""
    if kind == "lean":
        return lean_http.Client(base, timeout=30.0)
    return httpx.AsyncClient(timeout=30.0, limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))


async def load(
    base: str, keys: dict[str, str], rec: Recorder, work: list[Planned], concurrency: int, seed: int, kind: str
) -> None:
    """`concurrency` clients, each with its own connection (`http_client`), taking referrals
    from one queue."""
    queue: asyncio.Queue[Planned] = asyncio.Queue()
    for p in work:
        queue.put_nowait(p)

    async def worker(n: int) -> None:
        rng = random.Random(seed * 10_000 + n)
        cursors: dict[str, int | None] = {}
        async with http_client(kind, base) as http:
            client = Client(http, base, keys, rec)
            while True:
                try:
                    p = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await walk(client, p, rng, cursors)

    await asyncio.gather(*(worker(n) for n in range(concurrency)))


def timeline(finished: list[tuple[float, float]], start: float, window: float = 10.0) -> list[dict]:
    """Requests finished per window of the load, their rate and median latency (a slowdown
    as the tables grow shows here)."""
    buckets: dict[int, list[float]] = defaultdict(list)
    for at, ms in finished:
        buckets[int((at - start) // window)].append(ms)
    return [
        {
            "from_s": int(b * window),
            "requests": len(v),
            "per_s": round(len(v) / window, 1),
            "p50_ms": round(percentile(sorted(v), 50), 1),
        }
        for b, v in sorted(buckets.items())
    ]


def stats(values: list[float]) -> dict:
    s = sorted(values)
    if not s:
        return {"count": 0}
    return {
        "count": len(s),
        "p50": round(percentile(s, 50), 1),
        "p90": round(percentile(s, 90), 1),
        "p99": round(percentile(s, 99), 1),
        "max": round(s[-1], 1),
        "mean": round(sum(s) / len(s), 1),
    }


# --- the raw limit -------------------------------------------------------------------------

RAW_SERVER = Path(__file__).parent / "raw_http_db.py"
BLOCKED = ("uvloop", "httptools")  # what `uvicorn[standard]` adds that uvicorn picks by itself


def without_uvloop(folder: Path) -> None:
    """Make every Python process started from here on unable to import uvloop and httptools
    (modules of those names that raise ImportError, first on PYTHONPATH): uvicorn then runs
    asyncio's own loop and h11, as it does without `uvicorn[standard]`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in BLOCKED:
        (folder / f"{name}.py").write_text(f"raise ImportError('{name} blocked by bench/gateway_load.py')\n")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p)


def server_stack() -> dict:
    """The event loop and HTTP parser uvicorn picks in a process started with this environment
    (its "auto": uvloop and httptools when they import)."""
    probe = (
        "import json\n"
        "def ok(m):\n"
        "    try:\n"
        "        __import__(m)\n"
        "        return True\n"
        "    except ImportError:\n"
        "        return False\n"
        "print(json.dumps({'loop': 'uvloop' if ok('uvloop') else 'asyncio', 'http': 'httptools' if ok('httptools') else 'h11'}))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    try:
        return json.loads(done.stdout)
    except ValueError:
        return {"error": done.stderr[-300:]}


async def round_trips(database_url: str, seconds: float = 2.0) -> dict:
    """asyncpg `SELECT 1` round trips per second: one connection in a loop, and ten at once."""

    async def loop(conn: asyncpg.Connection, until: float) -> int:
        n = 0
        while time.monotonic() < until:
            await conn.fetchval("SELECT 1")
            n += 1
        return n

    conns = [await asyncpg.connect(database_url) for _ in range(10)]
    try:
        t = time.monotonic()
        one = await loop(conns[0], t + seconds)
        one_rate = one / (time.monotonic() - t)
        t = time.monotonic()
        ten = sum(await asyncio.gather(*(loop(c, t + seconds) for c in conns)))
        ten_rate = ten / (time.monotonic() - t)
    finally:
        for c in conns:
            await c.close()
    return {"one_connection_per_s": round(one_rate), "ten_connections_per_s": round(ten_rate)}


async def raw_load(
    base: str, concurrency: int, seconds: float, body: dict, kind: str
) -> tuple[list[float], int, float]:
    """The load's clients (`concurrency`, one keep-alive connection each) against the bare app
    for `seconds`: every request a POST with an Authorization header and a placement-sized body."""
    latencies: list[float] = []
    errors = 0
    until = time.monotonic() + seconds
    headers = {"Authorization": "Bearer tl_emp_key_00000000000000000000_" + "x" * 43, "Idempotency-Key": "raw"}

    async def worker() -> None:
        nonlocal errors
        async with http_client(kind, base) as http:
            while time.monotonic() < until:
                t = time.perf_counter()
                try:
                    r = await http.request("POST", f"{base}/v1/raw", json=body, headers=headers)
                    ok = r.status_code == 200
                except TRANSPORT_ERRORS:
                    ok = False
                latencies.append((time.perf_counter() - t) * 1000)
                errors += not ok

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors, time.monotonic() - t0


async def raw_limit(database_url: str, concurrency: int, seconds: float, kind: str) -> dict:
    """The bare app under the same clients, and asyncpg's round trips (see the module's docstring)."""

    async def probe(base: str) -> None:
        async with httpx.AsyncClient(timeout=2.0) as http:
            await http.post(f"{base}/v1/raw", json={})

    async with serving(RAW_SERVER, database_url, probe, (httpx.HTTPError,)) as (base, server):
        cpu0 = sum(server.cpu_times()[:2])
        latencies, errors, wall = await raw_load(base, concurrency, seconds, terms(random.Random(0)), kind)
        cpu = sum(server.cpu_times()[:2]) - cpu0
    return {
        "what": "bare ASGI app under uvicorn, one SELECT 1 per request on an asyncpg pool of 10, same clients",
        "requests": len(latencies),
        "errors": errors,
        "wall_seconds": round(wall, 2),
        "requests_per_s": round(len(latencies) / wall, 1),
        "latency_ms": stats(latencies),
        "server_cpu_seconds": round(cpu, 2),
        "server_cpu_ms_per_request": round(1000 * cpu / max(1, len(latencies)), 3),
        # A quarter of the load's seconds each, at most 2 s: a rate, which a tiny run's
        # half-second gives as well as a full run's two.
        "asyncpg_select_1": await round_trips(database_url, seconds=min(2.0, seconds / 4)),
    }


# --- the stack -----------------------------------------------------------------------------


async def publish(bootstrap: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = new_producer(bootstrap, client_id="bench-gateway-load")
    await producer.start()
    try:
        futures = [
            await producer.send(topics.ROUTING.name, value, key=key, headers=[CONTENT_TYPE_HEADER])
            for key, value in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def inbox_rows(conn: asyncpg.Connection) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM employer_gateway.referrals WHERE referral_id LIKE $1", PREFIX + "%"
    )


async def backlog(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM employer_gateway.outbox WHERE published_at IS NULL")


class ActionEvents:
    """Reads talentloop.employer-actions from offset 0: events per type for the seeded referrals."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = AIOKafkaConsumer(
            **client_options(bootstrap), enable_auto_commit=False, auto_offset_reset="earliest"
        )
        self.types: Counter[str] = Counter()
        self.per_referral: Counter[str] = Counter()
        self.others = 0  # records not about a seeded referral

    async def start(self) -> None:
        await self.consumer.start()
        await read_from_start(self.consumer, topics.EMPLOYER_ACTIONS.name)

    async def poll(self) -> None:
        batches = await self.consumer.getmany(timeout_ms=200, max_records=5000)
        for records in batches.values():
            for rec in records:
                key = rec.key.decode() if rec.key else ""
                if not key.startswith(PREFIX):
                    self.others += 1
                    continue
                self.types[json.loads(rec.value).get("type", "?")] += 1
                self.per_referral[key] += 1

    @property
    def total(self) -> int:
        return sum(self.types.values())

    async def stop(self) -> None:
        await self.consumer.stop()


class Timeout(Exception):
    pass


async def run(
    net: network.Network,
    gateway_pid: int,
    keys_by_employer: dict[str, str],
    args: argparse.Namespace,
    out: dict,
    stack: dict[str, int],
) -> dict:
    """Seed, load, drain; `out` gets what is known so far (also when it times out)."""
    deadline = time.monotonic() + args.timeout

    def left(what: str) -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout(f"{what}: --timeout {args.timeout:.0f} s reached")
        return remaining

    rng = random.Random(args.seed)
    work = plan(rng, args.referrals)
    base = net.urls["employer_gateway"]
    rec = Recorder()
    conn = await asyncpg.connect(net.database_url)
    try:
        async with httpx.AsyncClient(timeout=30.0) as http:  # set-up and /health; the load has its own
            # 1. one opening per employer, through the API
            openings = {}
            for employer, key in keys_by_employer.items():
                r = await http.post(
                    f"{base}/v1/openings",
                    json=OPENING,
                    headers={"Authorization": f"Bearer {key}", "Idempotency-Key": f"bench-opening-{employer}"},
                )
                r.raise_for_status()
                openings[employer] = r.json()["opening_id"]

            # 2. the routed referrals, straight onto talentloop.routing
            records = []
            for p in work:
                env = build(routed_event(rng, p, openings[p.employer_id]), source=SOURCE, correlation_id="bench-gw")
                records.append((env.subject.encode(), env.to_bytes()))
            # What applying one routed event costs the gateway and PostgreSQL (and Kafka, the producer here).
            seed_cpu = CpuMeter({**stack, "gateway": gateway_pid})
            seed_cpu.mark()
            seed_profile = Profiler(args.profile / "seeding", {"gateway": gateway_pid}, net.database_url) if args.profile else None
            if seed_profile:
                seed_profile.start()
            t0 = time.monotonic()
            await publish(net.bootstrap, records)
            t_published = time.monotonic() - t0
            while (n := await inbox_rows(conn)) < len(work):
                try:
                    left(f"the gateway's inbox holds {n} of {len(work)} referrals")
                except Timeout:
                    out["inbox_rows"] = n
                    raise
                await asyncio.sleep(0.2)
            t_inbox = time.monotonic() - t0
            seed_cpu_s = seed_cpu.since_mark()
            seed_profiled = await seed_profile.stop() if seed_profile else None
            print(
                f"{len(work)} referral.routed events published in {t_published:.1f} s, "
                f"all in the gateway's inbox after {t_inbox:.1f} s ({len(work) / t_inbox:.0f}/s)"
            )
            out["seeding"] = {
                "publish_seconds": round(t_published, 2),
                "in_inbox_seconds": round(t_inbox, 2),
                "referrals_per_s": round(len(work) / t_inbox, 1),
                "cpu_seconds_by_process": seed_cpu_s,
                "cpu_ms_per_event_by_process": {k: round(1000 * v / len(work), 3) for k, v in seed_cpu_s.items()},
                **({"profile": seed_profiled} if seed_profiled else {}),
                "by_employer": dict(Counter(p.employer_id for p in work)),
            }

            # 3. the load
            await asyncio.sleep(1.0)  # let the consumer's last commits and the relay settle
            proc = psutil.Process(gateway_pid)
            me = psutil.Process()
            cpu0, me0 = sum(proc.cpu_times()[:2]), sum(me.cpu_times()[:2])
            machine0 = psutil.cpu_times()
            # Everything a request costs on this machine: the gateway, PostgreSQL (its backends),
            # Kafka (the relay's produce) and these clients.
            cpu = CpuMeter({**stack, "gateway": gateway_pid, "clients": os.getpid()}, own_only=("clients",))
            cpu.mark()
            load_profile = Profiler(args.profile / "load", {"gateway": gateway_pid}, net.database_url) if args.profile else None
            if load_profile:
                load_profile.start()
            relay0 = (await http.get(f"{base}/health")).json()["published"]
            backends = BackendCpu(net.database_url, query_ids=True) if args.pg_statements else None
            if backends:
                await conn.execute("SELECT pg_stat_statements_reset()")
                await backends.mark()
                sampling = asyncio.create_task(backends.run())
            print(f"load: {args.concurrency} clients, {len(work)} referrals ...")
            w0 = time.monotonic()
            task = asyncio.create_task(
                load(base, keys_by_employer, rec, work, args.concurrency, args.seed, args.client)
            )
            last = w0
            while not task.done():
                await asyncio.wait({task}, timeout=min(1.0, max(0.01, deadline - time.monotonic())))
                if time.monotonic() - last >= 10 and not task.done():
                    last = time.monotonic()
                    done = sum(rec.accepted.values())
                    print(f"  {last - w0:5.0f} s: {done} actions accepted, {rec.error_count} errors")
                if not task.done() and time.monotonic() >= deadline:
                    task.cancel()
                    out["requests_so_far"] = sum(len(v) for v in rec.latencies.values())
                    raise Timeout(f"load: --timeout {args.timeout:.0f} s reached")
            task.result()
            wall = time.monotonic() - w0
            gateway_cpu = sum(proc.cpu_times()[:2]) - cpu0
            client_cpu = sum(me.cpu_times()[:2]) - me0
            cpu_by_process = cpu.since_mark()
            load_profiled = await load_profile.stop() if load_profile else None
            if backends:
                backends.stop()
                await sampling
                requests_so_far = max(1, sum(len(v) for v in rec.latencies.values()))
                out["postgres_cpu_ms_per_request_by_client"] = {
                    k: round(1000 * v / requests_so_far, 3) for k, v in backends.since_mark().items()
                }
                out["pg_statements"] = await statement_profile(conn, requests_so_far, backends.query_clients)
            machine1 = psutil.cpu_times()
            busy = sum(machine1) - machine1.idle - sum(machine0) + machine0.idle
            machine_busy = busy / (sum(machine1) - sum(machine0))
            backlog_at_end = await backlog(conn)
            print(f"load done in {wall:.1f} s; outbox backlog {backlog_at_end}")

            # 4. drain: the outbox empty, and every accepted action on Kafka
            expected = sum(rec.accepted[a] for a in PATH)
            found = ActionEvents(net.bootstrap)
            await found.start()
            drained_after = None
            try:
                while True:
                    if drained_after is None and await backlog(conn) == 0:
                        drained_after = time.monotonic() - w0 - wall
                    await found.poll()
                    if drained_after is not None and found.total >= expected:
                        break
                    try:
                        left(f"drain: backlog {await backlog(conn)}, {found.total} of {expected} events on Kafka")
                    except Timeout:
                        out["events_on_kafka"] = found.total
                        raise
                on_kafka_after = time.monotonic() - w0 - wall
                for _ in range(5):  # anything extra (duplicates) shortly after
                    await found.poll()
            finally:
                await found.stop()
            relay_published = (await http.get(f"{base}/health")).json()["published"] - relay0
    finally:
        await conn.close()

    # 5. the raw limit, now, on the same database and machine
    raw = None
    if args.raw_seconds > 0:
        print(f"raw limit: the same {args.concurrency} clients against a bare app for {args.raw_seconds:.0f} s ...")
        raw = await raw_limit(net.database_url, args.concurrency, args.raw_seconds, args.client)

    requests = sum(len(v) for v in rec.latencies.values())
    everything = [ms for v in rec.latencies.values() for ms in v]
    per_referral = Counter(found.per_referral.values())
    return {
        **out,
        "requests": requests,
        "errors": rec.error_count,
        "wall_seconds": round(wall, 2),
        "requests_per_s": round(requests / wall, 1),
        "latency_ms": stats(everything),
        "by_action": {
            a: {**stats(rec.latencies[a]), "statuses": {str(k): v for k, v in sorted(rec.statuses[a].items(), key=str)}}
            for a in sorted(rec.latencies)
        },
        "timeline_10s": timeline(rec.finished, w0),
        "accepted_actions": sum(rec.accepted[a] for a in PATH),
        "replays": rec.replays,
        "referrals_placed": rec.accepted["placement"],
        "outbox_backlog_at_end": backlog_at_end,
        "outbox_drained_after_s": round(drained_after, 2),
        "all_events_on_kafka_after_s": round(on_kafka_after, 2),
        "events_on_kafka": found.total,
        "events_by_type": dict(sorted(found.types.items())),
        "referrals_with_5_events": per_referral.get(5, 0),
        "events_match_accepted": found.total == expected and set(found.types) <= EXPECTED_TYPES,
        "relay_published_since_load": relay_published,
        "gateway_cpu_seconds": round(gateway_cpu, 1),
        "gateway_cpu_ms_per_request": round(1000 * gateway_cpu / max(1, requests), 3),
        # CPU seconds during the load per process, and in all per request: what a request costs
        # the machine whoever else uses it; two cores over that bounds what this stack could do
        # with the machine to itself.
        "cpu_seconds_by_process": cpu_by_process,
        "cpu_ms_per_request_by_process": {k: round(1000 * v / max(1, requests), 3) for k, v in cpu_by_process.items()},
        **({"profile": load_profiled} if load_profiled else {}),
        "cpu_ms_per_request_all": round(1000 * sum(cpu_by_process.values()) / max(1, requests), 3),
        "cpu_bound_requests_per_s_on_2_cores": round(2000 / (1000 * sum(cpu_by_process.values()) / max(1, requests)), 1)
        if requests and sum(cpu_by_process.values()) > 0
        else None,
        "client_cpu_seconds": round(client_cpu, 1),
        # the whole machine during the load: this script, the gateway, PostgreSQL, Kafka, and anything else running
        "machine_cpu_busy_percent": round(100 * machine_busy, 1),
        "first_errors": rec.errors,
        "raw_limit": raw,
        # The gateway's throughput as a share of the bare app's under the same clients.
        "gateway_to_raw": round(requests / wall / raw["requests_per_s"], 3) if raw else None,
    }


def log_problems(log_file: Path) -> dict:
    """The gateway's log lines at warning level or above, by event name."""
    seen: Counter[str] = Counter()
    samples: list[str] = []
    if not log_file.exists():
        return {}
    for line in log_file.read_text(errors="replace").splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            if "Traceback" in line or "ERROR" in line:
                seen["(unstructured)"] += 1
            continue
        if doc.get("level") in ("warning", "error", "critical", "exception"):
            seen[f"{doc.get('level')}: {doc.get('event')}"] += 1
            if len(samples) < 5:
                samples.append(line[:400])
    return {"counts": dict(seen.most_common()), "samples": samples}


def source_tree() -> dict:
    """The commit measured, and the files changed in the work tree beyond it (they were measured too)."""
    import subprocess  # noqa: PLC0415 - only here

    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout.rstrip("\n")

    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted_changes": changed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--referrals", type=int, default=2_000, help=f"referrals to seed (1 to {MAX_REFERRALS})")
    parser.add_argument("--concurrency", type=int, default=32, help=f"concurrent clients (1 to {MAX_CONCURRENCY})")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--timeout", type=float, default=15 * 60, help="seconds for seeding, load and drain together (default 900)"
    )
    parser.add_argument(
        "--raw-seconds", type=float, default=15.0, help="seconds of load on the bare app for the raw limit (0: skip)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    parser.add_argument(
        "--client",
        choices=("lean", "httpx"),
        default="lean",
        help="the load's HTTP client: lean (bench/lean_http.py, default) or httpx (as before; costs ~3 ms CPU a request)",
    )
    parser.add_argument(
        "--without-uvloop",
        action="store_true",
        help="start the gateway and the bare app unable to import uvloop and httptools (asyncio's loop and h11)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="py-spy the gateway (and sample pg_stat_activity) while seeding and under the load; raw stacks in DIR",
    )
    parser.add_argument(
        "--pg-statements",
        action="store_true",
        help="load pg_stat_statements (restarts the fresh stack's PostgreSQL) and rank the load's statements",
    )
    args = parser.parse_args()
    if not 1 <= args.referrals <= MAX_REFERRALS:
        parser.error(f"--referrals must be 1 to {MAX_REFERRALS}")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--concurrency must be 1 to {MAX_CONCURRENCY}")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    if args.raw_seconds < 0:
        parser.error("--raw-seconds must be 0 or more")

    started = time.monotonic()
    load_start = os.getloadavg()
    failure = None
    with tempfile.TemporaryDirectory(prefix="tl-bench-") as tmp:
        home = Path(tmp)
        if args.without_uvloop:
            without_uvloop(home / "blocked-modules")
        stack_used = server_stack()
        print(f"servers run {stack_used}")
        cfg = isolated_network(home)
        try:
            if args.pg_statements:  # loaded (a restart) before the gateway connects
                enable_pg_stat_statements(cfg, network.up(cfg, only=()).database_url)
            net = network.up(cfg, only=("employer_gateway",))
            print(f"stack and employer gateway up in {net.timings['total_s']} s")
            keys = credentials.load_keys(home)
            keys_by_employer = {e: keys[f"employer:{e}"] for e in credentials.EMPLOYERS}
            gateway = next(s for s in cfg.services() if s.name == "employer_gateway")
            rss = PeakRss(gateway.pid())
            rss.start()
            partial: dict = {}
            try:
                loop_factory = uvloop.new_event_loop if uvloop is not None else None
                with asyncio.Runner(loop_factory=loop_factory) as runner:
                    measured = runner.run(run(net, gateway.pid(), keys_by_employer, args, partial, stack_pids(cfg)))
            except Timeout as exc:
                failure, measured = str(exc), partial
            rss.running = False
            rss.join()
            problems = log_problems(gateway.log_file)
        finally:
            network.discard(cfg)

    result = {
        "benchmark": "employer gateway under concurrent employers' calls (HTTP -> PostgreSQL -> outbox -> Kafka)",
        "complete": failure is None,
        **({"failure": failure} if failure else {}),
        "referrals": args.referrals,
        "concurrency": args.concurrency,
        "seed": args.seed,
        "server_stack": stack_used,
        "client": {"http": args.client, "loop": CLIENT_LOOP},
        **measured,
        "gateway_peak_rss_mb": round(rss.peak / 2**20, 1),
        "client_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10, 1),
        "gateway_log_warnings": problems,
        "source": source_tree(),
        "total_wall_seconds": round(time.monotonic() - started, 1),
        "machine": machine(),
        "load_avg": {"start": [round(x, 2) for x in load_start], "end": [round(x, 2) for x in os.getloadavg()]},
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if failure:
        print(f"gave up: {failure}", file=sys.stderr)
        sys.exit(1)
    lat = result["latency_ms"]
    print(
        f"{result['requests']} requests from {args.concurrency} clients in {result['wall_seconds']} s: "
        f"{result['requests_per_s']}/s, {result['errors']} errors; latency p50 {lat['p50']} ms, p90 {lat['p90']} ms, "
        f"p99 {lat['p99']} ms, max {lat['max']} ms; outbox backlog {result['outbox_backlog_at_end']} at the end, "
        f"drained after {result['outbox_drained_after_s']} s; {result['events_on_kafka']} events on Kafka for "
        f"{result['accepted_actions']} accepted actions; gateway peak RSS {result['gateway_peak_rss_mb']} MiB; "
        f"gateway CPU {result['gateway_cpu_ms_per_request']} ms/request, all processes "
        f"{result['cpu_ms_per_request_all']} ms/request {result['cpu_seconds_by_process']}; written to {args.out}"
    )
    if (raw := result.get("raw_limit")) is not None:
        print(
            f"raw limit (bare app, SELECT 1): {raw['requests_per_s']}/s, p99 {raw['latency_ms'].get('p99')} ms, "
            f"{raw['server_cpu_ms_per_request']} ms CPU/request; asyncpg SELECT 1 {raw['asyncpg_select_1']}; "
            f"gateway/raw {result['gateway_to_raw']}; {stack_used}; load average "
            f"{result['load_avg']['start'][0]} -> {result['load_avg']['end'][0]}"
        )
    if (statements := result.get("pg_statements")) is not None:
        calls = sum(agg["calls"] for agg in statements["by_service"].values())
        print(
            f"statements during the load: {calls / statements['per']:.2f} a request; PostgreSQL CPU ms a request by"
            f" client {result['postgres_cpu_ms_per_request_by_client']}; the largest:"
        )
        for s in statements["top"][:8]:
            print(f"  {s['exec_ms_per']:.4f} ms, {s['calls_per']:.3f} calls ({s['service']}): {s['statement'][:100]}")
    if result["errors"] or not result["events_match_accepted"]:
        why = []
        if result["errors"]:
            why.append(f"{result['errors']} requests failed")
        if not result["events_match_accepted"]:
            why.append(f"{result['events_on_kafka']} events on Kafka for {result['accepted_actions']} accepted actions")
        print("FAILED: " + "; ".join(why), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
