"""The local stack (deploy/) for real: a KRaft Kafka node from Maven jars and the embedded
PostgreSQL, started as detached processes on free loopback ports, then stopped."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from deploy.stack import LocalStack
from deploy.topics import TopicSpec, create_topics
from plumbing.kafka import client_options
from talentloop.network import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _free_ports(n: int) -> list[int]:
    return [free_port() for _ in range(n)]


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _live_processes_under(path: Path) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if str(path) in cmd and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(f"{proc.info['pid']}: {cmd[:200]}")
    return found


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def no_external_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)


async def test_local_stack_starts_serves_and_stops(tmp_path: Path, no_external_env: None) -> None:
    kafka_port, controller_port, pg_port = _free_ports(3)
    state = tmp_path / "state"
    stack = LocalStack(state, kafka_port=kafka_port, controller_port=controller_port, pg_port=pg_port)

    # A stale pid file from a broker that is long gone must not block the start.
    stack.kafka.dir.mkdir(parents=True)
    stack.kafka.pid_file.write_text(f"{_dead_pid()}\n")

    try:
        started = time.monotonic()
        info = await asyncio.to_thread(stack.start)
        start_seconds = time.monotonic() - started
        assert info.bootstrap == f"127.0.0.1:{kafka_port}"
        assert info.database_url == f"postgresql://postgres@127.0.0.1:{pg_port}/talentloop"
        assert not info.kafka_external and not info.postgres_external
        kafka_pid, pg_pid = stack.kafka.pid, stack.postgres.pid
        assert kafka_pid and pg_pid
        assert stack.kafka.pid_file.read_text().strip() == str(kafka_pid)

        # Kafka, as its super-user (this stack is not the session's, whose credentials the
        # process has): idempotent topic creation, then one message there and back.
        admin = stack.kafka.admin_security
        assert stack.kafka.properties_file.stat().st_mode & 0o077 == 0  # it holds the broker's passwords
        topic = TopicSpec("it.local-stack.smoke", partitions=1)
        await create_topics(info.bootstrap, [topic], security=admin)
        await create_topics(info.bootstrap, [topic], security=admin)
        producer = AIOKafkaProducer(**client_options(info.bootstrap, admin), acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic.name, b"hello", key=b"r-1")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic.name, **client_options(info.bootstrap, admin), auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        try:
            msg = await asyncio.wait_for(consumer.getone(), timeout=15)
        finally:
            await consumer.stop()
        assert (msg.key, msg.value) == (b"r-1", b"hello")

        # PostgreSQL over TCP, in the database the stack created.
        conn = await asyncpg.connect(info.database_url, timeout=10)
        try:
            assert await conn.fetchval("SELECT 1") == 1
            assert await conn.fetchval("SELECT current_database()") == "talentloop"
        finally:
            await conn.close()

        # A second start reuses both servers.
        again = await asyncio.to_thread(stack.start)
        assert again == info
        assert (stack.kafka.pid, stack.postgres.pid) == (kafka_pid, pg_pid)
        status = stack.status()
        assert status["kafka"]["running"] and status["kafka"]["reachable"]
        assert status["postgres"]["running"] and status["postgres"]["reachable"]
        assert status["kafka"]["pid"] == kafka_pid and status["postgres"]["pid"] == pg_pid
    finally:
        stopped = time.monotonic()
        await asyncio.to_thread(stack.stop)
        stop_seconds = time.monotonic() - stopped

    print(f"\nLocalStack.start: {start_seconds:.2f}s, stop: {stop_seconds:.2f}s")
    assert _gone(kafka_pid) and _gone(pg_pid)
    assert _live_processes_under(state) == []
    assert _live_processes_under(stack.postgres.data_dir) == []
    assert not stack.kafka.is_running() and not stack.postgres.is_running()
    assert not stack.kafka.pid_file.exists()
    assert not (stack.postgres.data_dir / "postmaster.pid").exists()
    stack.stop()  # stopping a stopped stack is a no-op


def _modes_above(path: Path) -> dict[str, int]:
    return {str(p): stat.S_IMODE(os.stat(p).st_mode) for p in (path, *path.parents)}


async def test_local_stack_from_a_private_directory(no_external_env: None) -> None:
    """`make demo` from a clone under a mode-700 directory (root's home, `mktemp -d`): the stack
    starts, a later `status`/`down` (a fresh LocalStack, as from another process) find both
    servers, and no directory above the state dir has its mode changed."""
    private = Path(tempfile.mkdtemp(prefix="tl-private-"))
    modes = _modes_above(private)
    assert modes[str(private)] == 0o700
    kafka_port, controller_port, pg_port = _free_ports(3)
    state = private / "clone" / ".talentloop"
    stack = LocalStack(state, kafka_port=kafka_port, controller_port=controller_port, pg_port=pg_port)
    try:
        info = await asyncio.to_thread(stack.start)
        conn = await asyncpg.connect(info.database_url, timeout=10)
        try:
            assert await conn.fetchval("SELECT current_database()") == "talentloop"
        finally:
            await conn.close()

        later = LocalStack(state, kafka_port=kafka_port, controller_port=controller_port, pg_port=pg_port)
        status = later.status()
        assert status["postgres"]["running"] and status["postgres"]["reachable"]
        assert status["kafka"]["running"] and status["kafka"]["reachable"]
        kafka_pid, pg_pid = status["kafka"]["pid"], status["postgres"]["pid"]
        assert (kafka_pid, pg_pid) == (stack.kafka.pid, stack.postgres.pid)
        await asyncio.to_thread(later.stop)
        assert _gone(kafka_pid) and _gone(pg_pid)
        assert not later.status()["postgres"]["running"]
    finally:
        await asyncio.to_thread(stack.stop)
        await asyncio.to_thread(stack.postgres.purge)
        after = _modes_above(private)
        shutil.rmtree(private, ignore_errors=True)
    assert after == modes


async def test_external_endpoints_start_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@127.0.0.1:1/talentloop")
    kafka_port, controller_port, pg_port = _free_ports(3)
    stack = LocalStack(tmp_path, kafka_port=kafka_port, controller_port=controller_port, pg_port=pg_port)
    info = stack.start()
    assert info.bootstrap == "127.0.0.1:1"
    assert info.database_url == "postgresql://app@127.0.0.1:1/talentloop"
    assert info.kafka_external and info.postgres_external
    assert not (tmp_path / "kafka").exists() and not (tmp_path / "postgres").exists()
    status = stack.status()
    assert status["kafka"]["external"] and not status["kafka"]["running"]
    assert status["postgres"]["external"] and not status["postgres"]["running"]
    stack.stop()
