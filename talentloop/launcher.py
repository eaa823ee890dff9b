"""Starts and stops the four services as separate OS processes, detached from the caller."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

SERVICES = ("intake", "routing", "employer_gateway", "outcomes")


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
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def healthy(self) -> dict | None:
        try:
            r = httpx.get(f"{self.url}/health", timeout=2.0)
        except httpx.HTTPError:
            return None
        return r.json() if r.status_code == 200 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def processes(state_dir: Path, ports: dict[str, int]) -> list[ServiceProcess]:
    return [ServiceProcess(name, ports[name], state_dir) for name in SERVICES]


def pseudonym_key(state_dir: Path) -> str:
    path = state_dir / "pseudonym.key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def start(service: ServiceProcess, env: dict[str, str]) -> int:
    """Start `service` unless it already runs; return its pid."""
    running = service.pid()
    if running:
        return running
    service.pid_file.parent.mkdir(parents=True, exist_ok=True)
    service.log_file.parent.mkdir(parents=True, exist_ok=True)
    with service.log_file.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{service.name}.main"],
            env={**os.environ, **env, "TALENTLOOP_HTTP_PORT": str(service.port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    service.pid_file.write_text(str(proc.pid))
    return proc.pid


def wait_healthy(services: list[ServiceProcess], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    pending = list(services)
    while pending:
        pending = [s for s in pending if s.healthy() is None]
        for s in pending:
            if s.pid() is None:
                raise RuntimeError(f"{s.name} exited during start; see {s.log_file}:\n{_tail(s.log_file)}")
        if pending and time.monotonic() > deadline:
            names = ", ".join(s.name for s in pending)
            raise TimeoutError(f"not healthy after {timeout:.0f}s: {names}; logs in {pending[0].log_file.parent}")
        if pending:
            time.sleep(0.2)


def stop(service: ServiceProcess, timeout: float = 20.0) -> None:
    pid = service.pid()
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    service.pid_file.unlink(missing_ok=True)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"

