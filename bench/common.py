"""What every benchmark needs: a free port, a process's peak memory, the machine it ran on,
a topic read from its start, and percentiles."""

from __future__ import annotations

import os
import platform
import socket
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
