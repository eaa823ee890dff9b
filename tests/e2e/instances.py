"""Extra service processes beside the e2e network's own: a second (third...) instance of a
service on the same database and broker, on its own HTTP port.

`talentloop.network.up` starts exactly one process per service and keeps its pid file under
the network's home; these instances are the test's own children (their own log files, never
a pid file the network would read), stopped by their pid when the test is done.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from deploy.processes import pid_alive, remember_child, tail, terminate
from talentloop.network import NetworkConfig, free_port
from talentloop.network import service_env as network_env
from tests.e2e.helpers import RunningNetwork


@dataclass
class Instance:
    service: str
    port: int
    proc: subprocess.Popen[bytes]
    log_file: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return pid_alive(self.proc.pid)

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_file, lines)


def service_env(cfg: NetworkConfig, net: RunningNetwork, service: str | None = None) -> dict[str, str]:
    """What `talentloop.network.up` gives every service process, `service`'s own Kafka
    principal included (TALENTLOOP_ADAPTERS and the rest come from this process's
    environment, as they do for the network's own services)."""
    own = net.network.kafka_principals.get(service) if service else None
    return {**network_env(cfg, net.bootstrap, net.network.database_url), **(own.env() if own else {})}


def start(cfg: NetworkConfig, net: RunningNetwork, service: str, log_dir: Path) -> Instance:
    """Start one more process of `service` (not waiting for it: see `wait_healthy`)."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"{service}-{port}.log"
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{service}.main"],
            env={**os.environ, **service_env(cfg, net, service), "TALENTLOOP_HTTP_PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    remember_child(proc)
    return Instance(service, port, proc, log_file)


def wait_healthy(instances: list[Instance], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    pending = list(instances)
    while pending:
        for inst in list(pending):
            if not inst.alive():
                raise RuntimeError(f"{inst.service} on :{inst.port} exited during start:\n{inst.log_tail()}")
            try:
                if httpx.get(f"{inst.url}/health", timeout=2.0).status_code == 200:
                    pending.remove(inst)
            except httpx.HTTPError:
                pass
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"not healthy after {timeout:.0f}s: {[(i.service, i.port) for i in pending]}")
        if pending:
            time.sleep(0.2)


def stop(instances: list[Instance], timeout: float = 20.0) -> None:
    """Stop them all at once: each shuts down on its own (leaves its groups, ends its relay),
    so one after another would add their shutdowns up."""
    running = [inst for inst in instances if inst.alive()]
    if running:
        with ThreadPoolExecutor(len(running)) as pool:
            list(pool.map(lambda inst: terminate(inst.proc.pid, timeout), running))
