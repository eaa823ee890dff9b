"""The outbox relay against real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from contracts import CONTENT_TYPE, Envelope, build, events, payload_of
from contracts.topics import Topic
from plumbing import outbox
from plumbing.kafka import new_producer
from tests.kafka_helpers import read_topic

pytestmark = pytest.mark.integration


def submitted(n: int, topic: str) -> tuple[events.ReferralSubmittedV1, type[events.Payload]]:
    event = events.ReferralSubmittedV1(
        referral_id=f"ref_{n}", partner_id="p1", candidate_id=f"cand_{n}", skills=["python"],
        consent={"share_with_employers": True, "given_at": datetime.now(UTC)},
    )
    # Same payload type, but published on this test's own topic.
    routed_type = type("OnTestTopic", (events.ReferralSubmittedV1,), {"topic": Topic(topic, "test", "test")})
    return event, routed_type


async def enqueue(pool, topic: str, numbers: range) -> list[Envelope]:
    out = []
    async with pool.acquire() as conn, conn.transaction():
        for n in numbers:
            event, on_topic = submitted(n, topic)
            env = build(event, source="/test", correlation_id="c")
            await outbox.enqueue(conn, env, on_topic)
            out.append(env)
    return out


async def test_only_committed_events_are_published_in_order_with_key_and_content_type(pool, topic, stack):
    committed = await enqueue(pool, topic, range(5))
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            event, on_topic = submitted(99, topic)
            await outbox.enqueue(conn, build(event, source="/test", correlation_id="c"), on_topic)
            raise RuntimeError("the state change failed: its event must vanish with it")

    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    try:
        relay = outbox.OutboxRelay(pool, producer, batch=100)
        assert await relay.publish_once() == 5
        assert await relay.publish_once() == 0
    finally:
        await producer.stop()

    records = await read_topic(stack.bootstrap, topic, at_least=5)
    assert [Envelope.from_bytes(r.value).id for r in records] == [e.id for e in committed]
    assert all(r.key.decode() == Envelope.from_bytes(r.value).subject for r in records)
    assert all(dict(r.headers)["content-type"] == CONTENT_TYPE.encode() for r in records)
    assert payload_of(Envelope.from_bytes(records[0].value)).referral_id == "ref_0"
    assert await outbox.backlog(pool) == 0


async def test_two_relays_claim_disjoint_rows_so_nothing_is_published_twice(pool, topic, stack):
    envelopes = await enqueue(pool, topic, range(300))
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    try:
        a = outbox.OutboxRelay(pool, producer, batch=25)
        b = outbox.OutboxRelay(pool, producer, batch=25)

        async def drain(relay: outbox.OutboxRelay) -> None:
            while await relay.publish_once():
                pass

        await asyncio.gather(drain(a), drain(b))
    finally:
        await producer.stop()
    assert a.published + b.published == 300
    assert a.published > 0 and b.published > 0  # both really worked, on disjoint rows
    records = await read_topic(stack.bootstrap, topic, at_least=300)
    ids = [Envelope.from_bytes(r.value).id for r in records]
    assert len(ids) == 300 and set(ids) == {e.id for e in envelopes}


async def test_relay_loop_wakes_on_commit_without_waiting_for_its_poll(pool, topic, stack):
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    relay = outbox.OutboxRelay(pool, producer, poll_s=30.0)  # a long poll: only NOTIFY can wake it in time
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.3)
        await enqueue(pool, topic, range(3))
        for _ in range(50):
            if relay.published == 3:
                break
            await asyncio.sleep(0.1)
        assert relay.published == 3
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await producer.stop()
