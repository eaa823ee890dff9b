"""A commit of outbox rows wakes its own process's relay; the idle poll is the safety net.

Each relay here polls once a minute, so a row published within the tests' few seconds was
published because its commit woke the relay, not because the relay looked on its own.
"""

from __future__ import annotations

import asyncio

import pytest

from contracts.registry import encode
from plumbing import outbox
from plumbing.kafka import new_producer
from tests.integration.test_outbox import enqueue, enqueue_in, submitted, until
from tests.kafka_helpers import read_topic

pytestmark = pytest.mark.integration

NEVER_S = 60.0  # a poll that never comes within a test


class GatedProducer:
    """Sends as the relay's producer does, but its first send waits until the test lets it go."""

    def __init__(self) -> None:
        self.sending = asyncio.Event()  # the relay is publishing
        self.go = asyncio.Event()
        self.sent: list[bytes] = []

    async def send(
        self, topic: str, value: bytes, *, key: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[None]:
        self.sending.set()
        await self.go.wait()
        self.sent.append(key)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def leading(relay: outbox.OutboxRelay) -> asyncio.Task[None]:
    task = asyncio.create_task(relay.run())
    await until(lambda: relay.leading, timeout=20)
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_commit_during_a_publish_is_published_next_without_waiting_for_the_poll(pool, topic):
    producer = GatedProducer()
    relay = outbox.OutboxRelay(pool, producer, poll_s=NEVER_S, idle_poll_s=NEVER_S)  # type: ignore[arg-type]
    task = await leading(relay)
    try:
        await enqueue(pool, topic, [1])
        await producer.sending.wait()  # the relay holds row 1, claimed before row 2 existed
        await enqueue(pool, topic, [2])  # its wake comes while the relay publishes
        producer.go.set()
        await until(lambda: relay.published == 2, timeout=10)
    finally:
        await stop(task)
    assert producer.sent == [b"ref_1", b"ref_2"]


@pytest.mark.parametrize("in_transaction", [True, False], ids=["committed-transaction", "statement-on-its-own"])
async def test_a_committed_row_is_published_well_before_the_poll(pool, topic, stack, in_transaction):
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    relay = outbox.OutboxRelay(pool, producer, poll_s=NEVER_S, idle_poll_s=NEVER_S)
    task = await leading(relay)
    try:
        await enqueue(pool, topic, [1])
        await until(lambda: relay.published == 1, timeout=10)  # the relay is done with it and sleeps
        if in_transaction:
            await enqueue(pool, topic, [2])
        else:
            async with pool.acquire() as conn:
                await enqueue_in(conn, topic, [2])
        await until(lambda: relay.published == 2, timeout=10)
    finally:
        await stop(task)
        await producer.stop()
    assert [r.key for r in await read_topic(stack.bootstrap, topic, at_least=2)] == [b"ref_1", b"ref_2"]


async def test_a_rolled_back_transaction_wakes_nobody_and_its_watch_ends_with_it(pool, topic):
    relay = outbox.OutboxRelay(pool, GatedProducer(), poll_s=NEVER_S, idle_poll_s=NEVER_S)  # type: ignore[arg-type]
    outbox._relays.add(relay)  # as `run` does, without running it
    try:
        async with pool.acquire() as conn:
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    await enqueue_in(conn, topic, [1])
                    raise RuntimeError("the state change failed")
            assert not relay._wake.is_set()
            async with conn.transaction():
                await enqueue_in(conn, topic, [2])
                async with conn.transaction():  # a savepoint's release is not the commit
                    await enqueue_in(conn, topic, [3])
                assert not relay._wake.is_set()
            await asyncio.sleep(0)  # the query logger is called soon after the COMMIT
            assert relay._wake.is_set()
            # The watch is off the connection: its later statements are not logged.
            assert not conn._con._query_loggers  # type: ignore[attr-defined]
    finally:
        outbox._relays.discard(relay)


async def test_rows_another_process_commits_are_published_by_the_poll(pool, topic, stack):
    # No trigger on the outbox: a NOTIFY at commit would serialize every writing commit.
    assert await pool.fetchval("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'outbox'::regclass") == 0
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    relay = outbox.OutboxRelay(pool, producer, poll_s=NEVER_S, idle_poll_s=0.05)  # only the idle poll is in time
    task = await leading(relay)
    try:
        # What another process's commit looks like here: rows in the table, no wake.
        event, on_topic = submitted(1, topic)
        encoded = encode(event, source="/test", correlation_id="c")
        await pool.execute(
            outbox.INSERT, [encoded.id], [on_topic.topic.name], [encoded.subject], [encoded.value], None, None
        )
        await until(lambda: relay.published == 1, timeout=10)
    finally:
        await stop(task)
        await producer.stop()
    assert [r.key for r in await read_topic(stack.bootstrap, topic, at_least=1)] == [b"ref_1"]
