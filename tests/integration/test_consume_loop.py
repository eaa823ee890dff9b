"""The consume loop on a real broker and database: batches per partition, exact commits,
poison isolated whatever it raises, faults waited out instead of dead-lettered."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.topics import consumer_group, dead_letter_topic
from deploy.topics import TopicSpec, create_topics
from plumbing.consume_loop import ConsumeLoop, across_topics
from plumbing.consumer import EventConsumer
from plumbing.kafka import client_options, new_producer
from talentloop.waiting import until
from tests.integration.test_consumer import event_bytes
from tests.kafka_helpers import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
async def effects(pool):
    await pool.execute("CREATE TABLE effects (referral_id text PRIMARY KEY, times int NOT NULL)")
    return pool


async def record_effect(ctx, env, payload):
    if any(s.text == "poison" for s in payload.skills):
        raise ValueError("this record always fails")
    await ctx.conn.execute(
        "INSERT INTO effects VALUES ($1, 1) ON CONFLICT (referral_id) DO UPDATE SET times = effects.times + 1",
        payload.referral_id,
    )


async def three_partition_topic(stack) -> str:
    name = f"test.{uuid.uuid4().hex[:10]}"
    await create_topics(stack.bootstrap, [TopicSpec(name, partitions=3)])
    return name


async def holds(condition) -> bool | None:  # type: ignore[no-untyped-def]
    """For `until`: True once `condition()` holds."""
    return True if await condition() else None


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int | None]:
    client = AIOKafkaConsumer(**client_options(bootstrap), group_id=group, enable_auto_commit=False)
    await client.start()
    try:
        return {p: await client.committed(TopicPartition(topic, p)) for p in range(3)}
    finally:
        await client.stop()


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    client = AIOKafkaConsumer(**client_options(bootstrap))
    await client.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        return {tp.partition: offset for tp, offset in (await client.end_offsets(tps)).items()}
    finally:
        await client.stop()


async def run_loop(consumer, topics, stack, done):
    loop = ConsumeLoop(consumer, topics, stack.bootstrap, backoff_s=0.05)
    task = asyncio.create_task(loop.run())
    try:
        await until("the records applied", lambda: holds(done), timeout=60, every=0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return loop


async def test_one_poison_record_among_three_partitions_costs_only_itself_and_commits_are_exact(effects, stack):
    topic = await three_partition_topic(stack)
    name = f"t_split_{topic[-6:]}"
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    raw = AIOKafkaProducer(**client_options(stack.bootstrap))
    await raw.start()
    hostile = [b"[" * 5000, b'{"data": ' + b"9" * 5000 + b"}", b"\xff\xfe"]
    try:
        for n in range(60):  # the same 60 keys land on all three partitions
            skills = ["poison"] if n == 31 else ["python"]
            value, _ = event_bytes(f"ref_{n:02d}", skills)
            await raw.send(topic, value, key=f"ref_{n:02d}".encode())
        for i, value in enumerate(hostile):
            await raw.send(topic, value, key=f"ref_{i:02d}".encode())
        await raw.flush()
        consumer = EventConsumer(
            name, effects, producer, handlers={"referral.submitted.v2": record_effect}, max_attempts=2, backoff_s=0.01
        )

        async def all_done() -> bool:
            return consumer.counts["applied"] == 59 and consumer.counts["dead_lettered"] == 4

        await run_loop(consumer, [topic], stack, all_done)
    finally:
        await raw.stop()
        await producer.stop()

    rows = await effects.fetch("SELECT referral_id, times FROM effects ORDER BY referral_id")
    assert [r["referral_id"] for r in rows] == [f"ref_{n:02d}" for n in range(60) if n != 31]
    assert {r["times"] for r in rows} == {1}
    # What is committed is exactly what was applied or dead-lettered: every partition's end.
    assert await committed(stack.bootstrap, consumer_group(name), topic) == await end_offsets(stack.bootstrap, topic)
    letters = await read_topic(stack.bootstrap, dead_letter_topic(name), at_least=4)
    reason = {r.value: dict(r.headers)["dlq.reason"].decode() for r in letters}
    assert len(letters) == 4
    assert sorted(reason) == sorted([*hostile, event_bytes_value(letters, "ref_31")])
    assert reason[event_bytes_value(letters, "ref_31")].startswith("failed after 2 attempts: ValueError")
    assert all(reason[v].startswith(("contract:", "undecodable:")) for v in hostile)


@pytest.mark.parametrize("together", [True, False], ids=["across_topics", "a_topic_at_a_time"])
async def test_one_loop_reads_three_topics_in_one_group_and_commits_each_partition_exactly(effects, stack, together):
    """Three topics, one loop and one group: a handler marked `across_topics` gets several
    topics' records in one transaction, any other one topic's a transaction; either way a
    poison record costs only itself and the group commits exactly every partition's end."""
    topics = [await three_partition_topic(stack) for _ in range(3)]
    name = f"t_across_{topics[0][-6:]}"
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    batches: list[set[str]] = []

    async def handle(ctx, items):  # type: ignore[no-untyped-def]
        batches.append({payload.referral_id.split("_")[0] for _, payload in items})
        for env, payload in items:
            await record_effect(ctx, env, payload)

    batch_handler = across_topics(handle) if together else handle
    try:
        for n in range(30):
            for t, prefix in zip(topics, "abc", strict=True):
                skills = ["poison"] if (prefix, n) == ("b", 17) else ["python"]
                value, _ = event_bytes(f"{prefix}_{n:02d}", skills)
                await producer.send(t, value, key=f"{prefix}_{n:02d}".encode())
        await producer.flush()
        consumer = EventConsumer(
            name, effects, producer, handlers={"referral.submitted.v2": record_effect},
            batch_handler=batch_handler, max_attempts=2, backoff_s=0.01,
        )
        loop = await run_loop(consumer, topics, stack, lambda: all_counted(consumer))
    finally:
        await producer.stop()
    assert [d["topic"] for d in loop.state.as_dicts()] == topics and loop.group_id == consumer_group(name)
    if together:  # all were there at the first fetch: a transaction held several topics' records
        assert any(len(prefixes) >= 2 for prefixes in batches), batches
    else:
        assert all(len(prefixes) == 1 for prefixes in batches), batches
    assert await effects.fetchval("SELECT count(*) FROM effects WHERE times = 1") == 89
    assert await effects.fetchval("SELECT count(*) FROM effects WHERE referral_id = 'b_17'") == 0
    for t in topics:
        assert await committed(stack.bootstrap, consumer_group(name), t) == await end_offsets(stack.bootstrap, t)
    (letter,) = await read_topic(stack.bootstrap, dead_letter_topic(name), at_least=1)
    assert letter.key == b"b_17" and dict(letter.headers)["dlq.reason"].startswith(b"failed after 2 attempts")


async def all_counted(consumer) -> bool:  # type: ignore[no-untyped-def]
    return consumer.counts["applied"] == 89 and consumer.counts["dead_lettered"] == 1


def event_bytes_value(letters, key: str) -> bytes:
    (letter,) = [r for r in letters if r.key == key.encode() and r.value.startswith(b"{\"specversion")]
    return letter.value


class FlakyDatabase:
    """A handler whose database 'goes away' for the first `failures` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    async def __call__(self, ctx, env, payload):
        if self.failures > 0:
            self.failures -= 1
            raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation")
        await record_effect(ctx, env, payload)


async def test_a_database_fault_pauses_and_retries_the_batch_without_dead_letters(effects, topic, stack):
    name = f"t_fault_{topic[-6:]}"
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    # More faults than max_attempts: had a fault counted as the record's, it would be
    # dead-lettered. Each fault costs the loop its backoff and a fetch of the batch again
    # (about half a second, the fetch at the next offset it discards), so no more than that.
    flaky = FlakyDatabase(failures=3)
    consumer = EventConsumer(
        name, effects, producer, handlers={"referral.submitted.v2": flaky}, max_attempts=2, backoff_s=0.01
    )
    paused_seen = []
    try:
        for n in range(10):
            value, _ = event_bytes(f"ref_{n}")
            await producer.send_and_wait(topic, value, key=f"ref_{n}".encode())
        loop = ConsumeLoop(consumer, [topic], stack.bootstrap, backoff_s=0.05)
        task = asyncio.create_task(loop.run())

        async def applied_all() -> bool:
            if loop.state.paused_since is not None:
                paused_seen.append(loop.state.as_dicts()[0])
            return consumer.counts["applied"] == 10

        try:
            await until("every record applied", lambda: holds(applied_all), timeout=60, every=0.05)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await producer.stop()
    assert consumer.counts["dead_lettered"] == 0
    assert loop.state.faults >= 1 and loop.state.paused_since is None  # paused, then recovered
    assert paused_seen and "ConnectionDoesNotExist" in paused_seen[0]["reason"]
    assert await effects.fetchval("SELECT count(*) FROM effects WHERE times = 1") == 10


async def test_a_record_too_large_to_dead_letter_whole_is_cut_with_its_digest(effects, stack):
    name = f"t_big_{uuid.uuid4().hex[:6]}"
    topic = f"test.{uuid.uuid4().hex[:10]}"
    # A partner topic that takes larger records than our dead-letter topic can.
    await create_topics(stack.bootstrap, [TopicSpec(topic, partitions=1, config={"max.message.bytes": "3000000"})])
    huge = b'{"not": "an event", "pad": "' + b"x" * 1_500_000 + b'"}'
    raw = AIOKafkaProducer(**client_options(stack.bootstrap), max_request_size=3_000_000)
    await raw.start()
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    try:
        await raw.send_and_wait(topic, huge, key=b"k")
        good, _ = event_bytes("ref_after")
        await raw.send_and_wait(topic, good, key=b"k")
        consumer = EventConsumer(name, effects, producer, handlers={"referral.submitted.v2": record_effect})

        async def done() -> bool:
            return consumer.counts["applied"] == 1 and consumer.counts["dead_lettered"] == 1

        await run_loop(consumer, [topic], stack, done)
    finally:
        await raw.stop()
        await producer.stop()
    (letter,) = await read_topic(stack.bootstrap, dead_letter_topic(name), at_least=1)
    headers = dict(letter.headers)
    assert headers["dlq.truncated"] == b"true"
    assert int(headers["dlq.original_bytes"]) == len(huge)
    assert headers["dlq.original_sha256"] == hashlib.sha256(huge).hexdigest().encode()
    assert huge.startswith(letter.value) and len(letter.value) < 1_048_576
