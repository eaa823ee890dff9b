"""Killing a consumer between its database commit and its offset commit loses and doubles nothing."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.topics import consumer_group
from plumbing.kafka import client_options, new_producer
from tests.integration.test_consumer import event_bytes

pytestmark = [pytest.mark.integration, pytest.mark.slow]
EVENTS = 20
CRASH_AFTER = 5


async def committed_offset(bootstrap: str, group: str, topic: str) -> int:
    c = AIOKafkaConsumer(**client_options(bootstrap), group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        return await c.committed(TopicPartition(topic, 0)) or 0
    finally:
        await c.stop()


async def run_consumer(stack, pool, topic: str, group: str, counts: Path, **extra: int) -> int:
    schema = await pool.fetchval("SELECT current_schema()")
    args = [sys.executable, "-m", "tests.integration.crashing_consumer", "--bootstrap", stack.bootstrap,
            "--database-url", stack.database_url, "--schema", schema, "--topic", topic, "--group", group,
            "--counts", str(counts)]
    for name, value in extra.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    proc = await asyncio.create_subprocess_exec(*args, cwd=Path(__file__).parents[2])
    try:
        return await asyncio.wait_for(proc.wait(), timeout=90)
    finally:
        if proc.returncode is None:  # timed out or cancelled: leave no consumer behind
            proc.kill()
            await proc.wait()


async def test_crash_after_db_commit_before_offset_commit(pool, topic, stack, tmp_path):
    await pool.execute("CREATE TABLE effects (referral_id text PRIMARY KEY, times int NOT NULL)")
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    for n in range(EVENTS):
        value, _ = event_bytes(f"ref_{n:02d}")
        await producer.send_and_wait(topic, value, key=f"ref_{n:02d}".encode())
    await producer.stop()
    group = f"crash_{topic.split('.')[-1]}"

    assert await run_consumer(stack, pool, topic, group, tmp_path / "first.json", crash_after=CRASH_AFTER) == 17
    assert await pool.fetchval("SELECT count(*) FROM effects") == CRASH_AFTER
    offset = await committed_offset(stack.bootstrap, consumer_group(group), topic)
    assert offset < CRASH_AFTER  # the crashed event's offset was never committed: it will come again

    remaining = EVENTS - offset
    assert await run_consumer(stack, pool, topic, group, tmp_path / "second.json", expect=remaining) == 0
    counts = json.loads((tmp_path / "second.json").read_text())
    assert counts == {"duplicate": CRASH_AFTER - offset, "applied": EVENTS - CRASH_AFTER}
    rows = await pool.fetch("SELECT referral_id, times FROM effects ORDER BY referral_id")
    assert [r["referral_id"] for r in rows] == [f"ref_{n:02d}" for n in range(EVENTS)]  # nothing lost
    assert {r["times"] for r in rows} == {1}  # nothing applied twice
    assert await committed_offset(stack.bootstrap, consumer_group(group), topic) == EVENTS
