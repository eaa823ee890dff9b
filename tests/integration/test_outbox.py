"""The outbox relay against real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from contracts import CONTENT_TYPE, Envelope, build, events, payload_of
from contracts.topics import Topic
from plumbing import outbox
from plumbing.kafka import new_producer
from talentloop import waiting
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


async def enqueue_in(conn, topic: str, numbers) -> list[Envelope]:
    """Rows of keys ref_<n> written through `conn`, in whatever transaction it is in."""
    out = []
    for n in numbers:
        event, on_topic = submitted(n, topic)
        env = build(event, source="/test", correlation_id="c")
        await outbox.enqueue(conn, env, on_topic)
        out.append(env)
    return out


async def enqueue(pool, topic: str, numbers: range) -> list[Envelope]:
    """Rows of keys ref_<n>, committed in one transaction of their own."""
    async with pool.acquire() as conn, conn.transaction():
        return await enqueue_in(conn, topic, numbers)


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


async def until(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """`talentloop.waiting.until` for a plain condition on the relays' counters."""

    async def check() -> bool | None:
        return True if condition() else None

    await waiting.until("the relays' counters", check, timeout, every=0.05)


async def test_two_relays_one_leads_keys_stay_in_outbox_order_and_the_other_takes_over(pool, topic, stack):
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    a = outbox.OutboxRelay(pool, producer, batch=25, poll_s=0.1)
    b = outbox.OutboxRelay(pool, producer, batch=25, poll_s=0.1)
    tasks = {a: asyncio.create_task(a.run()), b: asyncio.create_task(b.run())}
    try:
        await until(lambda: a.leading or b.leading)
        # Ten events for each of 30 keys, written in many transactions.
        envelopes = []
        for n in range(10):
            async with pool.acquire() as conn, conn.transaction():
                for k in range(30):
                    event, on_topic = submitted(k, topic)
                    env = build(event, source="/test", correlation_id=f"c{n}")
                    await outbox.enqueue(conn, env, on_topic)
                    envelopes.append(env)
        await until(lambda: a.published + b.published == 300)
        leader, follower = (a, b) if a.leading else (b, a)
        assert follower.published == 0 and not follower.leading  # only the lock holder publishes
        # The leader's process dies: the other takes over within a few polls.
        tasks.pop(leader).cancel()
        await until(lambda: follower.leading, timeout=10)
        more = await enqueue(pool, topic, range(30, 40))
        await until(lambda: follower.published == 10)
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        await producer.stop()
    records = await read_topic(stack.bootstrap, topic, at_least=310)
    ids = [Envelope.from_bytes(r.value).id for r in records]
    assert len(ids) == 310 and set(ids) == {e.id for e in envelopes + more}  # none twice, none lost
    outbox_order = [e.id for e in envelopes + more]
    for key in {r.key for r in records}:
        on_kafka = [Envelope.from_bytes(r.value).id for r in records if r.key == key]
        assert on_kafka == [i for i in outbox_order if i in set(on_kafka)]


async def test_a_row_kafka_refuses_is_parked_its_key_waits_behind_it_and_other_keys_flow(pool, topic, stack):
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    relay = outbox.OutboxRelay(pool, producer, batch=100)
    try:
        await enqueue(pool, topic, range(3))  # ref_0, ref_1, ref_2
        # A row too large for any topic (as an unbounded field once made), then one more
        # event of its key and one of another key.
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(outbox.INSERT, [uuid.uuid4()], [topic], ["ref_1"], [b"x" * 1_100_000], None, None)
        behind = await enqueue(pool, topic, [1, 7])  # ref_1 (waits), ref_7 (flows)
        # ref_0, ref_1, ref_2, the refused one (parked) and ref_7; ref_1's later event waits.
        assert await relay.publish_once() == 5
        assert await relay.publish_once() == 0
        (parked,) = await outbox.parked(pool)
        assert parked.key == "ref_1" and parked.size == 1_100_000 and parked.waiting_behind == 1
        assert "MessageSizeTooLarge" in parked.reason
        n, _, n_parked = await outbox.backlog_and_age(pool)
        assert (n, n_parked) == (2, 1)

        # The operator discards it: the key flows again, and the row stays, marked.
        assert await outbox.discard(pool, [parked.id], by="operator op_1") == 1
        assert await relay.publish_once() == 1
        assert await outbox.parked(pool) == []
        row = await pool.fetchrow("SELECT discarded_at, park_reason FROM outbox WHERE id = $1", parked.id)
        assert row["discarded_at"] is not None and "discarded by operator op_1" in row["park_reason"]
    finally:
        await producer.stop()
    records = await read_topic(stack.bootstrap, topic, at_least=5)
    on_kafka = [Envelope.from_bytes(r.value).id for r in records]
    assert len(on_kafka) == 5 and on_kafka.count(behind[0].id) == 1
    ref_1 = [Envelope.from_bytes(r.value).subject for r in records if r.key == b"ref_1"]
    assert ref_1 == ["ref_1", "ref_1"]


async def test_a_released_row_is_tried_again(pool, topic, stack):
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    relay = outbox.OutboxRelay(pool, producer)
    try:
        (env,) = await enqueue(pool, topic, range(1))
        # Parked by hand, as if the broker had refused it once (the cause since fixed).
        await pool.execute("UPDATE outbox SET parked_at = now(), park_reason = 'test' WHERE event_id = $1", env.id)
        assert await relay.publish_once() == 0
        (parked,) = await outbox.parked(pool)
        assert await outbox.release(pool, [parked.id]) == 1
        assert await relay.publish_once() == 1
    finally:
        await producer.stop()
    (record,) = await read_topic(stack.bootstrap, topic, at_least=1)
    assert Envelope.from_bytes(record.value).id == env.id


async def test_the_mark_puts_each_row_s_new_version_on_its_page(pool, topic, stack):
    # Room on the page (fillfactor) lets PostgreSQL log only the changed bytes of the mark
    # instead of the whole row again.
    assert "fillfactor=50" in (await pool.fetchval("SELECT reloptions FROM pg_class WHERE oid = 'outbox'::regclass"))
    envelopes = await enqueue(pool, topic, range(40))
    page = "SELECT event_id, (ctid::text::point)[0] AS page FROM outbox"
    before = dict(await pool.fetch(page))
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    try:
        async with pool.acquire() as conn:
            assert await outbox.OutboxRelay(pool, producer, batch=100).publish_once(conn) == 40
            await conn.execute("SELECT pg_stat_force_next_flush()")  # its counts, once it is idle
    finally:
        await producer.stop()
    assert dict(await pool.fetch(page)) == before
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    # Heap-only: no index names published_at (013), so the mark writes no index entries.
    marked = "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relid = 'outbox'::regclass"
    await waiting.until("the marks in the statistics", lambda: _is(pool.fetchval(marked), 40), timeout=10.0, every=0.05)
    assert await pool.fetchval("SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = 'outbox'::regclass") == 40
    records = await read_topic(stack.bootstrap, topic, at_least=40)
    assert [Envelope.from_bytes(r.value).id for r in records] == [e.id for e in envelopes]


async def _is(value, expected):  # type: ignore[no-untyped-def]
    return True if await value == expected else None
