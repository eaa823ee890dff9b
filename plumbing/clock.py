"""A simulated clock for a local network: the time is read from a file the demo writes.

`talentloop demo` plays a program year in a few minutes: before each simulated day it writes
that day's time into the file named by TALENTLOOP_CLOCK_FILE, and every service's `Deps.clock`
(plumbing/context.py) answers that time until the next write. Frozen between writes, so the
events of one day carry exactly the time the demo chose, whatever the machine's load, and the
same seed gives the same dates. No file (not written yet, or removed): the system clock.

What reads this clock: every use case through `Context.now()` (event times, business-day
deadlines, retention check-ins that may not be in the future, fair-share holds) and the
sweepers (stale referrals, ended holds). What stays on the system clock, because it measures
real time rather than the program's: API keys (expiry, rotation grace, cache), idempotency,
outbox, inbox and webhook retention pruning, webhook backoff, dead letters' `failed_at`,
and every loop's timing (polls, sleeps, timeouts). That is why a simulated year must end at
or before today: an API key or an idempotency record made "now" is never in the past of
an event.

Only for a local network (the broker and the database on this machine): a clock anyone may
set is no clock for shared data (`Deps.of` refuses it otherwise).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class SimulatedClock:
    """The time written in `path` (ISO 8601 with an offset), re-read only when the file changes.

    Cached by the file's identity and mtime_ns: reading the time costs one stat. Writers
    replace the file atomically (`write`), so a reader never sees half a time and every
    write is a new inode.
    """

    def __init__(self, path: Path, fallback: Clock = system_clock) -> None:
        self.path = Path(path)
        self.fallback = fallback
        self._key: tuple[int, int, int] | None = None
        self._value: datetime | None = None

    def __call__(self) -> datetime:
        value = self.current()
        return value if value is not None else self.fallback()

    def current(self) -> datetime | None:
        """The simulated time, or None while there is no file (then the fallback is the time)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._key = self._value = None
            return None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._key:
            self._value, self._key = read(self.path), key
        return self._value

    def describe(self) -> str:
        value = self.current()
        return f"simulated {value.isoformat()}" if value is not None else "simulated (no time set: system)"


def read(path: Path) -> datetime:
    text = Path(path).read_text().strip()
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"{path}: the simulated time {text!r} names no time zone")
    return value


def write(path: Path, moment: datetime) -> None:
    """Set the simulated time (atomically: a reader sees the old time or the new one)."""
    if moment.tzinfo is None:
        raise ValueError("a simulated time needs a time zone")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(moment.isoformat() + "\n")
    os.replace(tmp, path)


def clear(path: Path) -> None:
    """Back to the system clock."""
    Path(path).unlink(missing_ok=True)


def describe(clock: Clock) -> str:
    """What /health says of a process's clock."""
    return clock.describe() if isinstance(clock, SimulatedClock) else "system"


_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _loopback(host: str | None) -> bool:
    if not host:
        return True  # a Unix socket or the default: this machine
    host = host.strip("[]")
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_local(kafka_bootstrap_servers: str, database_url: str) -> bool:
    """Are the broker and the database on this machine (a local network, not a shared one)?"""
    brokers = [b.strip() for b in kafka_bootstrap_servers.split(",") if b.strip()]
    hosts = [urlsplit(f"//{b}").hostname for b in brokers]
    db = urlsplit(database_url)
    db_hosts = [urlsplit(f"//{h}").hostname for h in db.netloc.rsplit("@", 1)[-1].split(",")]
    return bool(brokers) and all(_loopback(h) for h in hosts + db_hosts)


class ClockRefused(RuntimeError):
    pass


def simulated(path: Path, kafka_bootstrap_servers: str, database_url: str) -> SimulatedClock:
    """The simulated clock of TALENTLOOP_CLOCK_FILE, refused unless the network is local."""
    if not is_local(kafka_bootstrap_servers, database_url):
        raise ClockRefused(
            "TALENTLOOP_CLOCK_FILE is for a local network only (a broker and a database on 127.0.0.1): "
            "a clock anyone may set is no clock for shared data"
        )
    return SimulatedClock(path)


@dataclass
class Sweeps:
    """When each of a process's sweepers last finished a sweep, by the time it swept at
    (the `now` its rules were applied with): /health shows it, so the demo can wait until a
    sweeper has seen the simulated day."""

    last: dict[str, datetime] = field(default_factory=dict)

    def swept(self, name: str, now: datetime) -> None:
        self.last[name] = now

    def as_dict(self) -> dict[str, str]:
        return {name: at.isoformat() for name, at in sorted(self.last.items())}
