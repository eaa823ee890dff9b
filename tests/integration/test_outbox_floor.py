"""The outbox relay's floor and cursor (plumbing/outbox.py, 011_outbox_relay_floor.sql) against
real PostgreSQL and Kafka: the claim starts past the rows it published, yet a transaction
that took a lower id and commits later, a new leader, and a released parked row all still
publish everything once, each key in outbox order."""

from __future__ import annotations

import json
import os
import uuid

import asyncpg
import pytest

from contracts import Envelope
from plumbing import outbox
from plumbing.kafka import new_producer
from tests.integration.test_outbox import enqueue, enqueue_in
from tests.kafka_helpers import read_topic

pytestmark = pytest.mark.integration


async def drain(relay: outbox.OutboxRelay) -> int:
    """publish_once until a round finds nothing; rounds that dealt with rows are counted."""
    rounds = 0
    while await relay.publish_once():
        rounds += 1
    return rounds


async def stored_floor(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT floor FROM outbox_relay")


async def id_of(pool: asyncpg.Pool, env: Envelope) -> int:
    return await pool.fetchval("SELECT id FROM outbox WHERE event_id = $1", env.id)


def assert_once_each_key_in_outbox_order(records, expected: list[Envelope]) -> None:  # type: ignore[no-untyped-def]
    on_kafka = [Envelope.from_bytes(r.value).id for r in records]
    assert sorted(map(str, on_kafka)) == sorted(str(e.id) for e in expected)  # none lost, none twice
    for key in {e.subject for e in expected}:
        assert [Envelope.from_bytes(r.value).id for r in records if r.key == key.encode()] == [
            e.id for e in expected if e.subject == key
        ]


async def test_a_lower_id_committed_after_higher_ids_were_published_is_published_in_its_key_s_order(
    pool, topic, stack
):  # type: ignore[no-untyped-def]
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    relay = outbox.OutboxRelay(pool, producer, batch=10, probe_s=0)
    late = await pool.acquire()
    try:
        tx = late.transaction()
        await tx.start()
        (first,) = await enqueue_in(late, topic, [1])  # ref_1's first event takes the lowest id
        others = await enqueue(pool, topic, range(2, 40))  # committed meanwhile, other keys
        assert await drain(relay) >= 4
        low = await late.fetchval("SELECT id FROM outbox WHERE event_id = $1", first.id)
        top = await id_of(pool, others[-1])
        # The relay went past the open transaction's id, but its floor stays below it.
        assert await stored_floor(pool) < low < top
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0  # the open row unseen
        await tx.commit()
        # Its key's next event commits after it (it would lock the same referral).
        second = await enqueue(pool, topic, [1])
        assert await relay.publish_once() == 2
        assert await drain(relay) == 0
        assert await stored_floor(pool) >= await id_of(pool, second[0])
    finally:
        await pool.release(late)
        await producer.stop()
    records = await read_topic(stack.bootstrap, topic, at_least=40)
    assert_once_each_key_in_outbox_order(records, [first, *others, *second])


async def test_a_new_leader_starts_from_the_stored_floor_and_skips_and_repeats_nothing(pool, topic, stack):  # type: ignore[no-untyped-def]
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    late = await pool.acquire()
    try:
        tx = late.transaction()
        await tx.start()
        (first,) = await enqueue_in(late, topic, [500])
        written = await enqueue(pool, topic, range(60))
        a = outbox.OutboxRelay(pool, producer, batch=25, probe_s=0)
        assert await a.publish_once() == 25 and await a.publish_once() == 25  # then the leader is gone
        await tx.commit()
        more = await enqueue(pool, topic, [500, 61])
        b = outbox.OutboxRelay(pool, producer, batch=25, probe_s=0)
        assert await drain(b) >= 1
        assert b.published == 60 - 50 + 1 + 2
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    finally:
        await pool.release(late)
        await producer.stop()
    records = await read_topic(stack.bootstrap, topic, at_least=63)
    assert_once_each_key_in_outbox_order(records, [first, *written, *more])


@pytest.mark.parametrize("how", ["retry", "discard"])
async def test_a_parked_row_below_the_floor_released_or_discarded_lets_its_key_flow_in_order(pool, topic, stack, how):  # type: ignore[no-untyped-def]
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    relay = outbox.OutboxRelay(pool, producer, batch=10, probe_s=0)
    try:
        (head,) = await enqueue(pool, topic, [3])
        await pool.execute("UPDATE outbox SET parked_at = now(), park_reason = 'test' WHERE event_id = $1", head.id)
        behind = await enqueue(pool, topic, [3, 3])  # wait behind it
        flowing = await enqueue(pool, topic, range(10, 40))
        await drain(relay)
        assert relay.published == 30
        more = await enqueue(pool, topic, range(40, 45))
        assert await relay.publish_once() == 5
        # Stored with that mark: past the parked row and the two behind it.
        assert await stored_floor(pool) >= await id_of(pool, flowing[-1])
        (parked,) = await outbox.parked(pool)
        assert parked.waiting_behind == 2
        if how == "retry":
            assert await outbox.release(pool, [parked.id]) == 1
        else:
            assert await outbox.discard(pool, [parked.id], by="test") == 1
        assert await stored_floor(pool) == parked.id - 1
        await drain(relay)
        assert relay.published == 35 + 2 + (1 if how == "retry" else 0)
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    finally:
        await producer.stop()
    expected = [*([head] if how == "retry" else []), *behind, *flowing, *more]
    records = await read_topic(stack.bootstrap, topic, at_least=len(expected))
    assert_once_each_key_in_outbox_order(records, expected)


def walk_above_the_cursor(plan: dict) -> list[str]:
    """The node types from the claim's `id > cursor` scan up to the nearest Limit."""

    def find(node: dict, path: list[str]) -> list[str] | None:
        path = [*path, node["Node Type"]]
        if node.get("Index Cond") == "(id > $2)":
            return path
        for child in node.get("Plans", []):
            found = find(child, path)
            if found is not None:
                return found
        return None

    path = find(plan, []) or []
    return path[len(path) - 1 - path[::-1].index("Limit"):] if "Limit" in path else path


async def test_the_claim_is_planned_once_as_an_ordered_walk_of_the_primary_key_even_on_an_empty_outbox(pool):  # type: ignore[no-untyped-def]
    # A service's first claim plans it for good (RELAY_SETTINGS): on the empty, never analyzed
    # outbox the planner had chosen a bitmap scan and a sort, reading every row above the
    # cursor at each claim before its LIMIT.
    async with pool.acquire() as conn:
        await conn.execute(outbox.RELAY_SETTINGS)
        await conn.execute(f"PREPARE claim(int, bigint, bigint[]) AS {outbox.CLAIM}")
        plan = json.loads(await conn.fetchval("EXPLAIN (FORMAT JSON) EXECUTE claim(500, 0, '{}')"))[0]["Plan"]
        await conn.execute("DEALLOCATE claim")
    assert walk_above_the_cursor(plan) == ["Limit", "Nested Loop", "Index Scan"], json.dumps(plan, indent=1)
    assert "outbox_pkey" in json.dumps(plan) and "Bitmap" not in json.dumps(plan)


async def test_the_claim_reads_no_entries_of_published_rows_while_a_snapshot_keeps_them(pool, topic, stack):  # type: ignore[no-untyped-def]
    # An open snapshot keeps every marked row's old version (and its index entry) alive, as a
    # long transaction does under load: a claim from the oldest unpublished id reads them all.
    # Rows of 1.5 KB (incompressible), two to a page, so each entry read shows as a page.
    holder = await pool.acquire()
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    try:
        tx = holder.transaction(isolation="repeatable_read")
        await tx.start()
        await holder.fetchval("SELECT count(*) FROM outbox")
        async with pool.acquire() as conn:
            await conn.execute(
                outbox.INSERT, [uuid.uuid4() for _ in range(2000)], [topic] * 2000,
                [f"k{i % 50}" for i in range(2000)], [os.urandom(1500) for _ in range(2000)], None, None,
            )
        relay = outbox.OutboxRelay(pool, producer, batch=500, probe_s=0)
        await drain(relay)
        assert relay.published == 2000
        await enqueue(pool, topic, range(3))
        view = relay._view
        assert view is not None

        async def buffers(sql: str, *args: object) -> int:
            async with pool.acquire() as conn:
                plan = json.loads(await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *args))
            top = plan[0]["Plan"]
            return top["Shared Hit Blocks"] + top["Shared Read Blocks"]

        # Analyzed with nearly every row published, the planner once checked parked keys
        # through outbox_unpublished, walking it below every claimed row (012).
        async with pool.acquire() as conn:
            await conn.execute("ANALYZE outbox")
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            await conn.execute(f"PREPARE claim(int, bigint, bigint[]) AS {outbox.CLAIM}")
            plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN EXECUTE claim(500, 0, '{}')"))
            await conn.execute("DEALLOCATE claim; RESET plan_cache_mode")
        assert "outbox_parked_keys on outbox p" in plan and "outbox_unpublished on outbox p" not in plan, plan
        # No index leaves published rows out (013): the relay's connection plans the claim once,
        # by the primary key from its cursor, whatever the statistics say.
        async with pool.acquire() as conn:
            await conn.execute(outbox.RELAY_SETTINGS)
            await conn.execute(f"PREPARE claim(int, bigint, bigint[]) AS {outbox.CLAIM}")
            plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN EXECUTE claim(500, 0, '{}')"))
            await conn.execute("DEALLOCATE claim")
            assert "Index Scan using outbox_pkey on outbox o " in plan and "Seq Scan on outbox " not in plan, plan
            assert "Bitmap" not in plan, plan
            for _ in range(8):
                await conn.fetch(outbox.CLAIM, 500, view.cursor, list(view.gaps))
            plans = await conn.fetchrow(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1", outbox.CLAIM
            )
            assert plans["generic_plans"] >= 8 and plans["custom_plans"] == 0  # the relay's rounds above too
        claim_now = await buffers(outbox.CLAIM, 500, view.cursor, list(view.gaps))
        from_the_oldest = await buffers(outbox.CLAIM, 500, 0, [])
        assert from_the_oldest > 900  # the published rows' entries, a heap page for every two
        assert claim_now < 30
        await tx.rollback()
    finally:
        await pool.release(holder)
        await producer.stop()


async def test_the_backlog_counts_above_the_floor_and_from_the_oldest_parked_row_and_nothing_else(pool, topic, stack):  # type: ignore[no-untyped-def]
    # Without an index of unpublished rows (013) the backlog reads one range of the primary
    # key: above the stored floor, or from the oldest parked row when one waits below it.
    async def both() -> tuple[int, int]:
        n, age, parked = await outbox.backlog_and_age(pool)
        assert (n == 0) == (age == 0.0)
        everything = await pool.fetchrow(
            "SELECT count(*) FILTER (WHERE published_at IS NULL) AS n,"
            " count(*) FILTER (WHERE published_at IS NULL AND parked_at IS NOT NULL) AS parked FROM outbox"
        )
        assert (n, parked) == (everything["n"], everything["parked"])
        return n, parked

    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    relay = outbox.OutboxRelay(pool, producer, batch=10, probe_s=0)
    try:
        assert await both() == (0, 0)
        (head,) = await enqueue(pool, topic, [3])
        await pool.execute("UPDATE outbox SET parked_at = now(), park_reason = 'test' WHERE event_id = $1", head.id)
        await enqueue(pool, topic, [3, 3, *range(10, 30)])  # two behind the parked row, 20 flowing
        assert await both() == (23, 1)  # the floor still 0
        await drain(relay)
        await enqueue(pool, topic, range(30, 33))
        assert await relay.publish_once() == 3
        assert await stored_floor(pool) > await id_of(pool, head)
        await enqueue(pool, topic, range(40, 44))  # above the floor, not yet published
        assert await both() == (3 + 4, 1)
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")
            plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {outbox._BACKLOG}"))
        assert "Scan on outbox_pkey" in plan or "Scan using outbox_pkey on outbox " in plan, plan
        assert "Index Cond: (id >" in plan and "Seq Scan on outbox " not in plan, plan
        (parked,) = await outbox.parked(pool)
        assert parked.waiting_behind == 2
        assert await outbox.release(pool, [parked.id]) == 1
        assert await both() == (3 + 4, 0)
        await drain(relay)
        assert await both() == (0, 0)
    finally:
        await producer.stop()
