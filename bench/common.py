"""What every benchmark needs: a free port, a process's peak memory, the machine it ran on,
a topic read from its start, and percentiles."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from aiokafka import AIOKafkaConsumer

from plumbing.kafka import partitions_of
from plumbing.settings import DEFAULT_PORTS
from talentloop.network import NetworkConfig


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    def since_mark(self) -> dict[str, float]:
        return {name: round(self._seconds(name) - self.start[name], 1) for name in self.procs}


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
