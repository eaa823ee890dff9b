"""One consumer group per service: at the first start of the new group the old per-topic
groups' committed offsets are carried over, so nothing is read again from the topics' start
and nothing is skipped (real broker and database)."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from contracts.topics import consumer_group, topic_group
from deploy.topics import TopicSpec, create_topics
from plumbing.consumer import EventConsumer
from plumbing.kafka import client_options, new_producer
from tests.integration.test_consume_loop import committed, end_offsets, record_effect, run_loop
from tests.integration.test_consumer import event_bytes

pytestmark = pytest.mark.integration

PER_PARTITION = 6
# Where the old per-topic groups stopped, per topic and partition: mid-way, at the end (nothing
# left to read: the new group must still have it committed), and never committed (the start).
OLD = ({0: 4, 1: PER_PARTITION}, {0: 0, 2: 3})


async def commit_as(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    client = AIOKafkaConsumer(**client_options(bootstrap), group_id=group, enable_auto_commit=False)
    await client.start()
    try:
        client.assign(list(offsets))
        await client.commit({tp: OffsetAndMetadata(n, "") for tp, n in offsets.items()})
    finally:
        await client.stop()


@pytest.fixture
async def effects(pool):
    await pool.execute("CREATE TABLE effects (referral_id text PRIMARY KEY, times int NOT NULL)")
    return pool


async def test_the_new_group_starts_exactly_where_the_old_per_topic_groups_stopped(effects, stack):
    topics = [f"test.{uuid.uuid4().hex[:10]}" for _ in OLD]
    await create_topics(stack.bootstrap, [TopicSpec(t, partitions=3) for t in topics])
    name = f"t_carry_{topics[0][-6:]}"
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    try:
        for t in topics:
            for p in range(3):
                for n in range(PER_PARTITION):
                    value, _ = event_bytes(f"{t[-4:]}_{p}_{n}")
                    await producer.send(t, value, key=f"{p}-{n}".encode(), partition=p)
        await producer.flush()
        for t, old in zip(topics, OLD, strict=True):  # the old code's groups, as it left them
            await commit_as(stack.bootstrap, topic_group(name, t), {TopicPartition(t, p): n for p, n in old.items()})
        expected = {
            f"{t[-4:]}_{p}_{n}"
            for t, old in zip(topics, OLD, strict=True)
            for p in range(3)
            for n in range(old.get(p, 0), PER_PARTITION)
        }
        consumer = EventConsumer(name, effects, producer, handlers={"referral.submitted.v2": record_effect})

        async def caught_up() -> bool:
            if consumer.counts["applied"] < len(expected):
                return False
            group = consumer_group(name)
            return all(
                [await committed(stack.bootstrap, group, t) == await end_offsets(stack.bootstrap, t) for t in topics]
            )

        loop = await run_loop(consumer, topics, stack, caught_up)
    finally:
        await producer.stop()
    assert loop.group_id == consumer_group(name)
    rows = await effects.fetch("SELECT referral_id, times FROM effects")
    assert {r["referral_id"] for r in rows} == expected  # nothing before the old offsets, nothing skipped
    assert {r["times"] for r in rows} == {1}
    assert consumer.counts["applied"] == len(expected) and consumer.counts["duplicate"] == 0
    # The old groups are left as they were (their offsets expire with Kafka's offsets retention).
    assert await committed(stack.bootstrap, topic_group(name, topics[0]), topics[0]) == {
        0: 4,
        1: PER_PARTITION,
        2: None,
    }
