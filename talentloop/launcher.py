"""Starts and stops the five services, the console and the portal as separate OS processes, detached from the caller."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from deploy.processes import pid_alive, read_pid, remember_child, tail, terminate, write_pid
from plumbing import vault
from plumbing.settings import DEFAULT_PORTS

SERVICES = ("intake", "routing", "employer_gateway", "outcomes", "support", "console")  # console: the operators' API (the portal's operators' pages call it)
# Web applications beside the services: no Kafka principal, no dead letters, not (yet) in the
# Helm chart. The portal is the organisations' people's (services/portal, docs/portals.md).
WEB_APPS = ("portal",)


@dataclass(frozen=True)
class ServiceProcess:
    name: str
    port: int
    state_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "run" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        pid = read_pid(self.pid_file)
        return pid if pid_alive(pid) else None

    def healthy(self) -> dict | None:
        try:
            r = httpx.get(f"{self.url}/health", timeout=2.0)
        except httpx.HTTPError:
            return None
        return r.json() if r.status_code == 200 else None


def processes(state_dir: Path, ports: dict[str, int]) -> list[ServiceProcess]:
    """The services, and the web applications `ports` gives a port (a network's configuration
    has them all: plumbing/settings.py DEFAULT_PORTS)."""
    apps = [name for name in WEB_APPS if name in ports]
    return [ServiceProcess(name, ports.get(name) or DEFAULT_PORTS[name], state_dir) for name in (*SERVICES, *apps)]


def _secret_file(state_dir: Path, name: str, make: Callable[[], str]) -> str:
    path = state_dir / name
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(make())
    return path.read_text().strip()


def pseudonym_key(state_dir: Path) -> str:
    return _secret_file(state_dir, "pseudonym.key", lambda: secrets.token_hex(32))


def master_key(state_dir: Path) -> str:
    """The key that wraps every candidate key (see plumbing/vault.py); lose it and sealed data is gone."""
    return _secret_file(state_dir, "master.key", vault.new_master_key)


def portal_users_file(state_dir: Path) -> Path:
    """The portal's demo sign-ins (mode 0600), written once by the portal (services/portal/seed.py)."""
    return state_dir / "portal-users.json"


def start(service: ServiceProcess, env: dict[str, str]) -> int:
    """Start `service` unless it already runs; return its pid."""
    running = service.pid()
    if running:
        return running
    service.pid_file.parent.mkdir(parents=True, exist_ok=True)
    service.log_file.parent.mkdir(parents=True, exist_ok=True)
    inherited = dict(os.environ)
    own = {"TALENTLOOP_HTTP_PORT": str(service.port)}
    if service.name in WEB_APPS:
        # No Kafka at all: not the credentials of whoever started it (`talentloop` acts as the
        # broker's super-user), nor any principal of its own.
        inherited = {k: v for k, v in inherited.items() if not k.startswith("KAFKA_SASL_")}
        env = {k: v for k, v in env.items() if not k.startswith("KAFKA_SASL_")}
    if service.name == "portal":  # the local network's demo organisations and users, seeded at its start
        own["TALENTLOOP_PORTAL_DEMO_USERS"] = str(portal_users_file(service.state_dir))
    with service.log_file.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{service.name}.main"],
            env={**inherited, **env, **own},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    remember_child(proc)
    write_pid(service.pid_file, proc.pid)
    return proc.pid


def wait_healthy(services: list[ServiceProcess], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    pending = list(services)
    while pending:
        pending = [s for s in pending if s.healthy() is None]
        for s in pending:
            if s.pid() is None:
                raise RuntimeError(f"{s.name} exited during start; see {s.log_file}:\n{tail(s.log_file, 30)}")
        if pending and time.monotonic() > deadline:
            names = ", ".join(s.name for s in pending)
            raise TimeoutError(f"not healthy after {timeout:.0f}s: {names}; logs in {pending[0].log_file.parent}")
        if pending:
            time.sleep(0.2)


def stop(service: ServiceProcess, timeout: float = 20.0) -> None:
    pid = service.pid()
    if pid is not None:
        terminate(pid, timeout)
    service.pid_file.unlink(missing_ok=True)
