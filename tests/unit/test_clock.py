"""The simulated clock: the time in a file, frozen between writes, for local networks only."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from plumbing import clock
from plumbing.context import Deps
from plumbing.settings import Settings

pytestmark = pytest.mark.unit
T = datetime(2025, 11, 3, 15, 0, tzinfo=UTC)
LOCAL = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092", "DATABASE_URL": "postgresql://postgres@127.0.0.1:54329/talentloop"}


def test_frozen_between_writes_and_moved_by_each_write(tmp_path: Path):
    path = tmp_path / "clock"
    sim = clock.SimulatedClock(path)
    clock.write(path, T)
    assert sim() == T and sim() == T  # no time passes between writes, whatever the machine does
    clock.write(path, T + timedelta(days=1))
    assert sim() == T + timedelta(days=1)
    clock.write(path, T + timedelta(days=2))
    clock.write(path, T + timedelta(days=3))  # two writes in a row: the last one counts
    assert sim() == T + timedelta(days=3)
    assert sim.describe() == f"simulated {(T + timedelta(days=3)).isoformat()}"


def test_no_file_is_the_system_clock(tmp_path: Path):
    path = tmp_path / "clock"
    sim = clock.SimulatedClock(path, fallback=lambda: T)
    assert sim() == T and sim.current() is None
    clock.write(path, T + timedelta(days=9))
    assert sim() == T + timedelta(days=9)
    clock.clear(path)
    assert sim() == T


def test_cached_by_the_file_not_read_every_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "clock"
    clock.write(path, T)
    sim = clock.SimulatedClock(path)
    sim()
    reads = []
    monkeypatch.setattr(clock, "read", lambda p: reads.append(p) or T)
    for _ in range(5):
        sim()
    assert reads == []


def test_a_time_without_a_zone_is_refused(tmp_path: Path):
    path = tmp_path / "clock"
    path.write_text("2025-11-03T15:00:00\n")
    with pytest.raises(ValueError, match="time zone"):
        clock.SimulatedClock(path)()
    with pytest.raises(ValueError):
        clock.write(path, datetime(2025, 11, 3))


@pytest.mark.parametrize(("bootstrap", "db", "local"), [
    ("127.0.0.1:9092", "postgresql://postgres@127.0.0.1:54329/talentloop", True),
    ("localhost:9092,127.0.0.2:9093", "postgresql://u:p@localhost/x", True),
    ("[::1]:9092", "postgresql://u@[::1]:5432/x", True),
    ("kafka.example.org:9092", "postgresql://postgres@127.0.0.1:54329/talentloop", False),
    ("127.0.0.1:9092", "postgresql://postgres@db.internal:5432/talentloop", False),
    ("127.0.0.1:9092,10.0.0.5:9092", "postgresql://postgres@127.0.0.1/t", False),
])
def test_local_means_broker_and_database_on_this_machine(bootstrap: str, db: str, local: bool):
    assert clock.is_local(bootstrap, db) is local


def test_deps_use_the_clock_file_on_a_local_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "clock"
    clock.write(path, T)
    for k, v in {**LOCAL, "TALENTLOOP_CLOCK_FILE": str(path)}.items():
        monkeypatch.setenv(k, v)
    deps = Deps.of("routing", Settings())
    assert deps.clock() == T and clock.describe(deps.clock) == f"simulated {T.isoformat()}"


def test_deps_refuse_the_clock_file_outside_a_local_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for k, v in {**LOCAL, "TALENTLOOP_CLOCK_FILE": str(tmp_path / "clock"),
                 "KAFKA_BOOTSTRAP_SERVERS": "broker-1.prod.example.org:9093"}.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(clock.ClockRefused, match="local network only"):
        Deps.of("routing", Settings())


def test_without_the_setting_the_system_clock(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("TALENTLOOP_CLOCK_FILE", raising=False)
    assert clock.describe(Deps.of("routing", Settings()).clock) == "system"


def test_sweeps_remember_the_time_swept_at():
    sweeps = clock.Sweeps()
    sweeps.swept("stale", T)
    sweeps.swept("stale", T + timedelta(days=1))
    assert sweeps.as_dict() == {"stale": (T + timedelta(days=1)).isoformat()}
