"""What every benchmark needs: a free port, a process's peak memory, the machine it ran on,
a topic read from its start, and percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import psutil
from aiokafka import AIOKafkaConsumer

from plumbing.kafka import partitions_of
from plumbing.settings import DEFAULT_PORTS
from talentloop.network import NetworkConfig, free_port


@contextlib.asynccontextmanager
async def serving(
    script: Path,
    database_url: str,
    probe: Callable[[str], Awaitable[object]],
    refused: tuple[type[BaseException], ...],
) -> AsyncIterator[tuple[str, psutil.Process]]:
    """A bare app (`python script PORT DATABASE_URL`, the benchmarks' yardstick) for the block:
    its URL once `probe(url)` is answered without one of `refused`, and its process (its CPU).
    Stopped when the block ends."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(script), str(port), database_url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                await probe(url)
                break
            except refused:
                if proc.poll() is not None:
                    raise RuntimeError(f"the bare app exited: {proc.stderr.read().decode()[-2000:]}") from None  # type: ignore[union-attr]
                await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"the bare app did not answer on {url} within 30 s")
        yield url, psutil.Process(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def isolated_network(home: Path) -> NetworkConfig:
    """A network in `home` on free ports, so a benchmark never meets one already running."""
    return NetworkConfig(
        home=home,
        kafka_port=free_port(),
        controller_port=free_port(),
        pg_port=free_port(),
        ports={name: free_port() for name in DEFAULT_PORTS},
    )


class PeakRss(threading.Thread):
    """Samples a process's resident memory every 50 ms and keeps the highest."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.05)


def machine() -> dict:
    """What the numbers were measured on (the load average says whether it was shared)."""
    return {
        "cpus": psutil.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


async def end_offset_total(consumer: AIOKafkaConsumer, topic: str) -> int:
    """How many records `topic` holds (the sum of its partitions' end offsets)."""
    return sum((await consumer.end_offsets(await partitions_of(consumer, [topic]))).values())


async def read_from_start(consumer: AIOKafkaConsumer, topic: str) -> None:
    """Assign every partition of `topic` to the (started) consumer, at offset 0."""
    tps = await partitions_of(consumer, [topic])
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest rank."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(-(-p * len(sorted_values) // 100)) - 1))
    return sorted_values[k]


def stack_pids(cfg: NetworkConfig) -> dict[str, int]:
    """The local stack's processes: Kafka's broker and PostgreSQL's postmaster (when running)."""
    stack = cfg.stack()
    found = {"kafka": stack.kafka.pid, "postgres": stack.postgres.pid}
    return {name: pid for name, pid in found.items() if pid is not None}


class CpuMeter:
    """CPU seconds (user + system) of named processes between `mark()` and `since_mark()`.

    A process's children count too, live or ended: PostgreSQL's work is done in backends the
    postmaster forks, and an ended backend's time moves into the postmaster's children times."""

    def __init__(self, pids: dict[str, int], own_only: tuple[str, ...] = ()) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.own_only = set(own_only)  # e.g. the benchmark itself, whose children are the services
        self.start: dict[str, float] = {}

    def _seconds(self, name: str) -> float:
        proc = self.procs[name]
        try:
            t = proc.cpu_times()
            if name in self.own_only:
                return t.user + t.system
            total = t.user + t.system + t.children_user + t.children_system
            for child in proc.children(recursive=True):
                try:
                    c = child.cpu_times()
                    total += c.user + c.system
                except psutil.Error:
                    pass  # ended meanwhile: its time is in the parent's children times
            return total
        except psutil.Error:
            return float("nan")

    def mark(self) -> None:
        self.start = {name: self._seconds(name) for name in self.procs}

    def since_mark(self, digits: int = 2) -> dict[str, float]:
        # 0.01 s is the kernel's CPU-time tick: rounding coarser made the broker's share of a
        # short run (a tiny benchmark, now that the producer sends fewer, larger batches) 0.0.
        return {name: round(self._seconds(name) - self.start[name], digits) for name in self.procs}


def source_tree() -> dict:
    """The commit measured, and the files changed in the work tree beyond it (they were measured too)."""
    import subprocess  # noqa: PLC0415 - only here

    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout.rstrip("\n")

    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted_changes": changed}


def py_spy(folder: Path, pid: int, name: str) -> subprocess.Popen:
    """py-spy recording process `pid` into `folder/<name>.txt` (raw stacks, 100 samples/s)
    until it gets SIGINT."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [spy, "record", "--nonblocking", "--format", "raw", "--rate", "100", "--pid", str(pid),
         "-o", str(folder / f"{name}.txt")],
        stdout=subprocess.DEVNULL, stderr=(folder / f"{name}.py-spy.log").open("w"),
    )


def write_results(result: dict, out: Path, profile: Path | None = None, profiled: str = "") -> None:
    """Add the profile's summary (if one was recorded), write `result` to `out`, print it."""
    if profile is not None:
        from bench.pipeline import summarize_stacks
        result["profile"] = summarize_stacks(profile / f"{profiled}.txt", top=30)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


async def open_loop(total: int, rate: float, t0: float, one) -> None:  # type: ignore[no-untyped-def]
    """Start `one(i, scheduled)` for i in range(total) at t0 + i / rate (monotonic), whether or
    not the earlier ones have answered (an open loop: a slow server does not slow the
    offer), and wait for all of them."""
    tasks = []
    for i in range(total):
        scheduled = t0 + i / rate
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)


# --- where PostgreSQL's time goes, per service ------------------------------------------------------


def enable_pg_stat_statements(cfg: NetworkConfig, url: str, auto_explain_ms: float | None = None) -> None:
    """Load pg_stat_statements into the stack's own PostgreSQL (a restart: the library must be
    preloaded) and create the extension. Only for a benchmark's fresh stack: the setting stays
    in that data directory's postgresql.auto.conf.

    `auto_explain_ms`: auto_explain too, logging the plan of every statement that ran longer
    (without its parameters) to PostgreSQL's log (`keep_plans` copies them out): a prepared
    statement's generic plan, made on a nearly empty table and kept while the table grew, is
    invisible to pg_stat_statements (outcomes' claim read the whole ledger that way)."""
    import asyncpg  # noqa: PLC0415 - only the benchmarks need it here

    async def alter() -> None:
        conn = await asyncpg.connect(url)
        try:
            if auto_explain_ms is None:
                await conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
            else:
                await conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements', 'auto_explain'")
                await conn.execute(f"ALTER SYSTEM SET auto_explain.log_min_duration = '{float(auto_explain_ms)}ms'")
                await conn.execute("ALTER SYSTEM SET auto_explain.log_parameter_max_length = 0")
            await conn.execute("ALTER SYSTEM SET pg_stat_statements.track = 'all'")
            await conn.execute("ALTER SYSTEM SET pg_stat_statements.max = 10000")
        finally:
            await conn.close()

    async def create() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        finally:
            await conn.close()

    asyncio.run(alter())
    pg = cfg.stack().postgres
    pg.stop()
    pg.start()
    asyncio.run(create())


def keep_plans(cfg: NetworkConfig, to: Path) -> None:
    """The plans auto_explain logged (`enable_pg_stat_statements(auto_explain_ms=...)`) into
    `to`, from the stack's PostgreSQL log, before the stack and its log are discarded."""
    log = cfg.stack().postgres.log_file
    if log.exists():
        to.write_bytes(log.read_bytes())


class BackendCpu:
    """CPU seconds of PostgreSQL's backends by the `application_name` of their connection
    (`talentloop-<schema>` for a service's pool, plumbing/db.py), between `mark()` and
    `since_mark()`. Backends are found in pg_stat_activity every `every_s` seconds while
    `run()` goes; a backend that started after the mark counts from its start, one that ended
    counts what it had used when last seen (short-lived ones may be missed). With
    `query_ids`, also which clients run which statements (`query_clients`, sampled every
    `query_ids_every_s`), for `statement_profile`."""

    def __init__(self, url: str, every_s: float = 1.0, query_ids: bool = False, query_ids_every_s: float = 0.1) -> None:
        self.url = url
        self.every_s = every_s
        self.query_ids = query_ids
        self.query_ids_every_s = query_ids_every_s if query_ids else every_s
        self.start: dict[int, float] = {}
        self.last: dict[int, tuple[str, float]] = {}
        # query id (pg_stat_statements' queryid) -> the clients seen running it: a service's
        # connections are its own pool's, so this names the service of each statement
        self.query_clients: dict[int, set[str]] = {}
        self._stop = asyncio.Event()

    @staticmethod
    def _cpu(pid: int) -> float | None:
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            return None
        return t.user + t.system

    async def _look(self, conn) -> dict[int, str]:  # type: ignore[no-untyped-def]
        rows = await conn.fetch(
            "SELECT pid, coalesce(nullif(application_name, ''), backend_type) AS app FROM pg_stat_activity"
        )
        return {r["pid"]: r["app"].removeprefix("talentloop-") for r in rows}

    async def mark(self) -> None:
        import asyncpg  # noqa: PLC0415

        conn = await asyncpg.connect(self.url)
        try:
            for pid, app in (await self._look(conn)).items():
                cpu = self._cpu(pid)
                if cpu is not None:
                    self.start[pid] = cpu
                    self.last[pid] = (app, cpu)
        finally:
            await conn.close()

    async def run(self) -> None:
        import asyncpg  # noqa: PLC0415

        conn = await asyncpg.connect(self.url, server_settings={"application_name": "bench-sampler"})
        next_cpu = 0.0
        try:
            while True:
                if time.monotonic() >= next_cpu:
                    next_cpu = time.monotonic() + self.every_s
                    for pid, app in (await self._look(conn)).items():
                        cpu = self._cpu(pid)
                        if cpu is not None:
                            self.last[pid] = (app, cpu)
                        self.start.setdefault(pid, 0.0)  # new since the mark: all of it counts
                # query_id is the backend's latest statement, running or done (set when
                # compute_query_id is on, as it is with pg_stat_statements loaded)
                if self.query_ids:
                    for r in await conn.fetch(
                        "SELECT query_id, application_name FROM pg_stat_activity WHERE query_id IS NOT NULL"
                    ):
                        app = r["application_name"].removeprefix("talentloop-")
                        self.query_clients.setdefault(r["query_id"], set()).add(app)
                try:
                    await asyncio.wait_for(self._stop.wait(), self.query_ids_every_s)
                    return
                except TimeoutError:
                    pass
        finally:
            await conn.close()

    def stop(self) -> None:
        self._stop.set()

    def since_mark(self) -> dict[str, float]:
        by_app: dict[str, float] = {}
        for pid, (app, cpu) in self.last.items():
            by_app[app] = by_app.get(app, 0.0) + cpu - self.start.get(pid, 0.0)
        return {app: round(s, 2) for app, s in sorted(by_app.items(), key=lambda kv: -kv[1]) if s >= 0.005}


async def statement_profile(conn, per: int, clients: dict[int, set[str]], top: int = 40) -> dict:  # type: ignore[no-untyped-def]
    """pg_stat_statements since its last reset: per service the calls and execution ms (also
    per `per`, e.g. per referral), and the `top` statements by execution time. The services of
    a statement are the clients seen running its query id (`BackendCpu.query_clients`);
    `?` if it was never caught in a sample. PostgreSQL 18 computes the id from the tables'
    names, not their schemas, so the plumbing's statements (outbox, inbox), the same text in
    every service's schema, are one entry named by all the services seen running it."""
    rows = await conn.fetch(
        "SELECT queryid, query, calls, rows, total_exec_time, total_plan_time, wal_bytes FROM pg_stat_statements"
        " WHERE toplevel AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " ORDER BY total_exec_time DESC"
    )
    statements = []
    for r in rows:
        seen = clients.get(r["queryid"], set())
        statements.append(
            {
                "service": "+".join(sorted(seen)) or "?",
                "statement": " ".join(r["query"].split())[:300],
                "calls": r["calls"],
                "calls_per": round(r["calls"] / per, 3),
                "rows_per_call": round(r["rows"] / r["calls"], 1) if r["calls"] else 0,
                "exec_ms": round(r["total_exec_time"], 1),
                "exec_ms_per": round(r["total_exec_time"] / per, 4),
                "plan_ms": round(r["total_plan_time"], 1),
                "wal_kb_per": round(float(r["wal_bytes"]) / 1024 / per, 2),
            }
        )
    by_service: dict[str, dict] = {}
    for s in statements:
        agg = by_service.setdefault(s["service"], {"statements": 0, "calls": 0, "exec_ms": 0.0, "wal_kb": 0.0})
        agg["statements"] += 1
        agg["calls"] += s["calls"]
        agg["exec_ms"] += s["exec_ms"]
        agg["wal_kb"] += s["wal_kb_per"] * per
    for agg in by_service.values():
        agg["calls_per"] = round(agg["calls"] / per, 2)
        agg["exec_ms_per"] = round(agg["exec_ms"] / per, 4)
        agg["wal_kb_per"] = round(agg.pop("wal_kb") / per, 2)
        agg["exec_ms"] = round(agg["exec_ms"], 1)
    return {"per": per, "by_service": by_service, "top": statements[:top], "all": statements}
