"""The producer renews itself when the broker stops taking its sequence numbers.

aiokafka 0.14 spends an idempotent sequence number on a batch it expires unsent while its
partition has no leader (as during a broker restart); the broker then refuses every later
batch of that partition with OutOfOrderSequenceNumber, and the outbox relay and every dead
letter would be stuck for good. Reproduced here without restarting the broker, by hiding the
partition's leader from the client for a moment."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.errors import OutOfOrderSequenceNumber

from deploy.topics import TopicSpec, create_topics
from plumbing import outbox
from plumbing.kafka import new_producer
from tests.integration.test_outbox import enqueue
from tests.kafka_helpers import read_topic

pytestmark = pytest.mark.integration


async def leaderless_for_a_moment(producer, topic: str) -> None:
    """One batch expires unsent while the partition seems to have no leader."""
    cluster = producer.client.cluster
    real = cluster.leader_for_partition
    cluster.leader_for_partition = lambda tp: -1
    try:
        with pytest.raises(Exception):  # noqa: B017 - expired: KafkaTimeoutError
            await asyncio.wait_for(producer.send_and_wait(topic, b"expired", partition=0), 10)
    finally:
        cluster.leader_for_partition = real


async def test_send_and_wait_renews_the_producer_after_the_broker_refuses_its_sequence(stack):
    topic = f"test.{uuid.uuid4().hex[:10]}"
    await create_topics(stack.bootstrap, [TopicSpec(topic, partitions=1)])
    producer = new_producer(stack.bootstrap, "test", request_timeout_ms=1000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"first", partition=0)
        await leaderless_for_a_moment(producer, topic)
        with pytest.raises(OutOfOrderSequenceNumber):
            await producer.send_and_wait(topic, b"refused", partition=0)
        assert producer.renewals == 1
        await producer.send_and_wait(topic, b"after", partition=0)  # the new producer sends
    finally:
        await producer.stop()
    values = [r.value for r in await read_topic(stack.bootstrap, topic, at_least=2)]
    assert values == [b"first", b"after"]


async def test_the_relay_parks_nothing_and_publishes_again_with_a_renewed_producer(pool, stack):
    topic = f"test.{uuid.uuid4().hex[:10]}"
    await create_topics(stack.bootstrap, [TopicSpec(topic, partitions=1)])
    producer = new_producer(stack.bootstrap, "test", request_timeout_ms=1000)
    await producer.start()
    relay = outbox.OutboxRelay(pool, producer, poll_s=0.1)
    task = asyncio.create_task(relay.run())
    try:
        await enqueue(pool, topic, range(3))
        while relay.published < 3:
            await asyncio.sleep(0.05)
        await leaderless_for_a_moment(producer, topic)
        envelopes = await enqueue(pool, topic, range(3, 6))
        deadline = asyncio.get_running_loop().time() + 30
        while relay.published < 6:
            assert asyncio.get_running_loop().time() < deadline, f"stuck: {await outbox.parked(pool)}"
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await producer.stop()
    assert await outbox.parked(pool) == [] and relay.parked == 0
    assert producer.renewals >= 1
    # The producer is stopped: the topic's end offsets are final and read_topic reads up to
    # them, so a record written twice is among these six rows' records.
    subjects = [r.value for r in await read_topic(stack.bootstrap, topic, at_least=6)]
    assert [sum(1 for v in subjects if str(e.id).encode() in v) for e in envelopes] == [1, 1, 1]
