"""Outcomes without an inbox, on real PostgreSQL: the ledger's unique event id is what makes a
redelivered event change nothing (`plumbing.inbox.keyed_by_effects`, `store.in_ledger`).

A redelivered batch is counted as duplicates and changes nothing: not the ledger, not the
projections, not the outbox (partners are told nothing twice, neither by event nor by
webhook). The same holds when the repeats get past the claim's read (another instance
applying the same events at the same moment): the use cases themselves stop them.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import pytest

from contracts import Envelope, build, latest_type, payload_of
from plumbing.consumer import EventConsumer, Record
from services.outcomes import store
from services.outcomes.app import DEFINITION as OUTCOMES
from services.outcomes.handlers import batch_handler
from tests.integration.test_outcomes_store import lifecycle
from tests.integration.test_withdraw_update_erase import T0, erased, make_pool, opening  # noqa: F401

pytestmark = pytest.mark.integration

REFERRALS = ("ref_r0", "ref_r1", "ref_r2")


def stream() -> list[Envelope]:
    """Three referrals' lifecycles, interleaved, an opening, and one candidate's erasure."""
    lifecycles = [
        [build(p, source="/test", correlation_id="c", partner_id="p1", time=T0 + timedelta(hours=i))
         for i, p in enumerate(lifecycle(ref))]
        for ref in REFERRALS
    ]
    out = [env for step in zip(*lifecycles, strict=True) for env in step]
    out.insert(1, build(opening("opn1", ["python"]), source="/test", correlation_id="c"))
    out.append(build(erased("cand_ref_r2", "ref_r2"), source="/test", correlation_id="c", time=T0 + timedelta(days=1)))
    return out


def records(envs: list[Envelope]) -> list[Record]:
    return [Record(payload_of(e).topic.name, 0, i, e.subject.encode(), e.to_bytes()) for i, e in enumerate(envs)]


async def snapshot(pool: asyncpg.Pool) -> dict[str, list[tuple]]:
    """Everything a repeat could change: the ledger, the projections, the openings, what
    partners are told (outbox rows, webhook deliveries) and the inbox."""
    queries = {
        "ledger": "SELECT * FROM ledger ORDER BY seq",
        "facts": "SELECT * FROM referral_facts ORDER BY referral_id",
        "inputs": "SELECT * FROM referral_inputs ORDER BY referral_id",
        "openings": "SELECT * FROM openings ORDER BY opening_id",
        "erased": "SELECT * FROM erased_referrals ORDER BY referral_id",
        "outbox": "SELECT id, topic, value FROM outbox ORDER BY id",
        "webhooks": "SELECT delivery_id, event_id FROM webhook_deliveries ORDER BY delivery_id",
        "inbox": "SELECT consumer, event_id FROM inbox",
    }
    return {name: [tuple(r) for r in await pool.fetch(sql)] for name, sql in queries.items()}


async def test_a_redelivered_batch_changes_nothing_and_tells_nobody_twice_without_an_inbox(make_pool):  # noqa: F811
    pool = await make_pool(OUTCOMES.migrations)
    await pool.execute("INSERT INTO webhook_endpoints (endpoint_id, owner, url, secret_sealed)"
                       " VALUES ('whe_1', 'partner:p1', 'https://example.org/hook', 'x')")
    handle = batch_handler(live=True)
    consumer = EventConsumer(OUTCOMES.name, pool, None, handlers=OUTCOMES.handlers,  # type: ignore[arg-type]
                             batch_handler=handle)
    envs = stream()

    # The first half, then everything: the repeats in the second batch are counted and skipped.
    half = len(envs) // 2
    assert await consumer.process_batch(records(envs[:half])) == {"applied": half}
    assert await consumer.process_batch(records(envs)) == {"applied": len(envs) - half, "duplicate": half}
    first = await snapshot(pool)
    assert first["inbox"] == []  # the ledger is the inbox
    assert len(first["ledger"]) == len(envs) and len(first["openings"]) == 1 and len(first["erased"]) == 1
    told = [Envelope.from_bytes(v) for _, topic, v in first["outbox"] if topic == "talentloop.partner-status"]
    for ref in REFERRALS:
        changes = [(e.data["previous_status"], e.data["status"]) for e in told if e.subject == ref]
        assert changes[-1][1] == "hired" and len(changes) == len(set(changes))
        assert all(prev == nxt for (_, nxt), (prev, _) in zip(changes, changes[1:], strict=False))
    assert len(first["webhooks"]) == len(told) > 0

    # Redelivered whole, by the batch and one by one: all duplicates, nothing changed.
    assert await consumer.process_batch(records(envs)) == {"duplicate": len(envs)}
    for record in records(envs):
        assert await consumer.process(record) == "duplicate"
    assert await snapshot(pool) == first

    # Past the claim (two instances applying the same events at once): the use cases see the
    # ledger holds them and change nothing either, by the batch and by each event's handler.
    async with pool.acquire() as conn, conn.transaction():
        await handle(consumer.deps.bind(conn), [(e, payload_of(e)) for e in envs])  # type: ignore[union-attr]
    for env in envs:
        async with pool.acquire() as conn, conn.transaction():
            await OUTCOMES.handlers[latest_type(env.type)](consumer.deps.bind(conn), env, payload_of(env))  # type: ignore[union-attr]
    assert await snapshot(pool) == first


async def test_consumers_that_do_not_say_so_keep_their_inbox(make_pool):  # noqa: F811
    """The option is outcomes' alone: the same events under another consumer's name are
    claimed in the inbox as before."""
    pool = await make_pool(OUTCOMES.migrations)
    consumer = EventConsumer("outcomes-elsewhere", pool, None, handlers=OUTCOMES.handlers)  # type: ignore[arg-type]
    envs = stream()[:4]
    assert await consumer.process_batch(records(envs)) == {"applied": 4}
    assert await consumer.process_batch(records(envs)) == {"duplicate": 4}
    claimed = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM inbox WHERE consumer = 'outcomes-elsewhere'")}
    assert claimed == {e.id for e in envs}


async def test_the_claim_probes_the_event_id_index_even_planned_on_an_empty_ledger(make_pool):  # noqa: F811
    """The claim's statement as PostgreSQL plans it once for any ids (the generic plan a
    prepared statement keeps) on an empty ledger, a service's first batches: a probe of the
    unique index per id, never a scan of the ledger (which `event_id = ANY($1)` was, kept as the
    ledger grew: bench/pipeline.py at 20,000 referrals, 82 ms a claim)."""
    pool = await make_pool(OUTCOMES.migrations)
    async with pool.acquire() as conn:
        assert await store.in_ledger(conn, [uuid.uuid4()]) == set()
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE claim(uuid[]) AS {store.IN_LEDGER}")
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN EXECUTE claim('{}')"))
    assert "Seq Scan on ledger" not in plan and "ledger_event_id_key" in plan, plan
