"""What one relay round costs in statements, against real PostgreSQL and Kafka: a round that
publishes without parking marks its rows and stores the floor they raise in one statement, its
own transaction (no BEGIN and COMMIT around them), and the floor it stores is right."""

from __future__ import annotations

import asyncio

import pytest

from plumbing import outbox
from plumbing.kafka import new_producer
from tests.integration.test_outbox import enqueue

pytestmark = pytest.mark.integration


async def test_a_round_is_a_probe_a_claim_and_one_statement_that_marks_and_stores_the_floor(pool, topic, stack):
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    seen: list[str] = []
    try:
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: seen.append(" ".join(record.query.split())))
            await conn.execute(outbox.RELAY_SETTINGS)
            relay = outbox.OutboxRelay(pool, producer, batch=100, probe_s=0)
            await enqueue(pool, topic, range(5))
            assert await relay.publish_once(conn) == 5
            await enqueue(pool, topic, range(5, 12))
            seen.clear()
            assert await relay.publish_once(conn) == 7
            await asyncio.sleep(0)  # asyncpg calls a query logger with call_soon after the statement
            second = list(seen)
    finally:
        await producer.stop()

    def same(statement: str) -> str:
        return " ".join(statement.split())

    # The probe (the first round's rows are above the floor), the claim, which sees the probe's
    # transaction ended, so every id up to the probe's position is final, and the mark with the floor.
    assert second == [same(outbox.PROBE), same(outbox.CLAIM), same(outbox.MARK_RAISING_FLOOR)]
    top = await pool.fetchval("SELECT max(id) FROM outbox")
    assert await pool.fetchval("SELECT floor FROM outbox_relay") == top
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
