"""Process plumbing shared by the local Kafka and PostgreSQL launchers (POSIX only).

Both servers run as detached processes (their own session) so they outlive whoever started
them. Liveness checks treat zombies as dead: a detached server whose parent exited is
re-parented to PID 1, and some container init processes never reap it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psutil

T = TypeVar("T")

# Servers started by this Python process, so stop() can reap them (no zombies in tests).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class LocalServiceError(RuntimeError):
    """A local server could not be set up, started or stopped; the message says why."""


def remember_child(proc: subprocess.Popen[bytes]) -> None:
    _CHILDREN[proc.pid] = proc


def pid_alive(pid: int | None) -> bool:
    """True if `pid` is a live (non-zombie) process. Reaps it if it is our dead child."""
    if not pid or pid <= 0:
        return False
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            _CHILDREN.pop(pid, None)
            return False
        return True
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def cmdline(pid: int) -> list[str]:
    try:
        return psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return []


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def write_pid(path: Path, pid: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{pid}\n")
    os.replace(tmp, path)


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def terminate(pid: int, timeout: float, first_signal: int = signal.SIGTERM) -> None:
    """Send `first_signal`, wait up to `timeout` s, then SIGKILL. Returns once the pid is gone."""
    for sig, wait in ((first_signal, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        if wait_gone(pid, wait):
            _CHILDREN.pop(pid, None)
            return
    raise LocalServiceError(f"process {pid} did not exit after SIGKILL")


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.25) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def tail(path: Path, lines: int = 40, since: int = 0) -> str:
    """The last `lines` lines of `path`, ignoring the first `since` bytes (older runs)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            if size < since:  # rotated or truncated meanwhile
                since = 0
            fh.seek(max(since, size - 16384))
            text = fh.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:]) or "(nothing written)"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock held for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def run_coro(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code, even if this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=runner, name="deploy-run-coro", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
