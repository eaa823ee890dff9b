"""Inbox de-duplication and the dead-letter path, through the consume loop on a real broker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from contracts import build, events
from contracts.topics import dead_letter_topic
from plumbing.consume_loop import ConsumeLoop
from plumbing.consumer import EventConsumer, Record, Rejected
from plumbing.kafka import client_options, new_producer
from tests.kafka_helpers import read_topic

pytestmark = pytest.mark.integration


def event_bytes(referral_id: str, skills: list[str] | None = None) -> tuple[bytes, str]:
    payload = events.ReferralSubmittedV1(
        referral_id=referral_id, partner_id="p1", candidate_id="c1", skills=skills or ["python"],
        consent={"share_with_employers": True, "given_at": datetime.now(UTC)},
    )
    env = build(payload, source="/test", correlation_id="c")
    return env.to_bytes(), str(env.id)


@pytest.fixture
async def effects(pool):
    await pool.execute("CREATE TABLE effects (referral_id text PRIMARY KEY, times int NOT NULL)")
    return pool


async def count_effect(ctx, env, payload):
    texts = [s.text for s in payload.skills]
    if "poison" in texts:
        raise RuntimeError("this handler always fails on poison")
    if "refuse" in texts:
        raise Rejected("the domain refuses this fact")
    await ctx.conn.execute(
        "INSERT INTO effects VALUES ($1, 1) ON CONFLICT (referral_id) DO UPDATE SET times = effects.times + 1",
        payload.referral_id,
    )


async def test_a_redelivered_event_changes_nothing(effects, stack):
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    consumer = EventConsumer("t_inbox", effects, producer, handlers={"referral.submitted.v2": count_effect})
    value, _ = event_bytes("ref_dup")
    record = Record("t", 0, 0, b"ref_dup", value)
    try:
        outcomes = [await consumer.process(record) for _ in range(3)]
    finally:
        await producer.stop()
    assert outcomes == ["applied", "duplicate", "duplicate"]
    assert await effects.fetchval("SELECT times FROM effects WHERE referral_id = 'ref_dup'") == 1


async def test_bad_records_are_dead_lettered_with_reason_and_original_bytes_and_the_stream_flows(effects, topic, stack):
    name = f"t_dlq_{topic.split('.')[-1]}"
    dlq = dead_letter_topic(name)
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    consumer = EventConsumer(
        name, effects, producer, handlers={"referral.submitted.v2": count_effect}, max_attempts=3, backoff_s=0.01
    )
    loop = ConsumeLoop(consumer, [topic], stack.bootstrap)

    garbage = b"\xff\xfe not json"
    poison, _ = event_bytes("ref_poison", ["poison"])
    refused, _ = event_bytes("ref_refused", ["refuse"])
    good, _ = event_bytes("ref_good")
    raw = AIOKafkaProducer(**client_options(stack.bootstrap))
    await raw.start()
    try:
        for key, value, headers in [
            (b"k1", garbage, [("x-bad-header", b"\xff\xfe")]),  # headers that are not UTF-8, too
            (b"k1", poison, []),
            (b"k1", refused, []),
            (b"k1", good, []),  # same key, same partition: it must not be stuck behind the others
        ]:
            await raw.send_and_wait(topic, value, key=key, headers=headers)
        task = asyncio.create_task(loop.run())
        for _ in range(150):
            if consumer.counts["applied"] == 1 and consumer.counts["dead_lettered"] == 3:
                break
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await raw.stop()
        await producer.stop()

    assert await effects.fetchval("SELECT times FROM effects WHERE referral_id = 'ref_good'") == 1
    assert await effects.fetchval("SELECT count(*) FROM effects") == 1
    letters = await read_topic(stack.bootstrap, dlq, at_least=3)
    assert [r.value for r in letters] == [garbage, poison, refused]
    reasons = [dict(r.headers) for r in letters]
    assert reasons[0]["dlq.reason"].startswith(b"contract: record value is not JSON")
    assert reasons[1]["dlq.reason"].startswith(b"failed after 3 attempts") and reasons[1]["dlq.attempts"] == b"3"
    assert reasons[2]["dlq.reason"] == b"rejected: the domain refuses this fact" and reasons[2]["dlq.attempts"] == b"1"
    assert all(h["dlq.original_topic"] == topic.encode() for h in reasons)
    assert [int(h["dlq.original_offset"]) for h in reasons] == [0, 1, 2]
    assert all(r.key == b"k1" for r in letters)

