"""The gateway's set-based batches leave what applying the same events one by one leaves:
the same inbox (rows, states, routing, arrival order), contacts, notices, outbox events and
webhook deliveries, on real PostgreSQL; and through the real consume loop on real Kafka."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from datetime import timedelta

import asyncpg
import pytest

from contracts import Envelope, build, events, payload_of
from deploy.topics import TopicSpec, create_topics
from plumbing import webhooks
from plumbing.consume_loop import ConsumeLoop
from plumbing.consumer import EventConsumer, Record
from plumbing.kafka import new_producer
from services.employer_gateway import domain, store
from services.employer_gateway.app import DEFINITION as GATEWAY
from services.employer_gateway.handlers import batch_handler
from talentloop.waiting import until
from tests.integration import test_withdraw_update_erase as shared
from tests.integration.test_withdraw_update_erase import (
    CONSENT,
    SEALED,
    T0,
    erased,
    routed,
    submitted,
    updated,
    withdrawn,
)

pytestmark = pytest.mark.integration
make_pool = shared.make_pool

EMPLOYERS = ["emp0", "emp1", "emp2"]
OPENINGS = {f"o{i}": EMPLOYERS[i % 3] for i in range(6)}  # o4 closed, o5 filled before any routing
BOX = webhooks.SecretBox(os.urandom(32))
POSTING = {
    "title": "Developer", "onet_soc_code": "15-1252.00", "required_skills": ["python"], "capacity": 50,
    "wage": events.Wage(amount="25", unit="hour"), "location": "Bronx, NY",
}


def scenario(seed: int, n: int = 120) -> list[events.Payload | tuple[str, events.Payload]]:
    """Intake's and routing's events in one order: submissions (some twice, some again later
    or earlier with other consent), withdrawals, updates and an erasure, some before and some
    after the decisions; decisions to open, closed, filled and unknown openings, some repeated,
    some to a second employer, and routing events the gateway ignores. ("again", payload): the
    same fact under another event id."""
    rnd = random.Random(seed)
    refs = [f"r{i:03d}" for i in range(n)]
    out: list = []
    for i, ref in enumerate(refs):
        share = rnd.random() < 0.7
        out.append(submitted(ref, "python", cand=f"cand_{i % 40}").model_copy(
            update={"consent": CONSENT.model_copy(update={"share_contact": share})}))
        if rnd.random() < 0.1:
            out.append(("again", out[-1]))
        if rnd.random() < 0.1:
            out.append(submitted(ref, "python", cand=f"cand_{i % 40}").model_copy(update={
                "consent": CONSENT.model_copy(update={"share_contact": not share}),
                "contact_sealed": SEALED.model_copy(update={"ciphertext": f"c2Vh{i}"}),
            }))
        if rnd.random() < 0.08:
            out.append(withdrawn(ref, cand=f"cand_{i % 40}"))
        if rnd.random() < 0.08:
            out.append(updated(ref, "python", "sql", cand=f"cand_{i % 40}"))
    out.append(erased("cand_7", *(r for r in refs if int(r[1:]) % 40 == 7)))
    decided = refs[: int(n * 0.85)]
    rnd.shuffle(decided)
    for i, ref in enumerate(decided):
        employer_opening = rnd.choice([*OPENINGS, "o_elsewhere"])
        employer = OPENINGS.get(employer_opening, "emp1")
        event = routed(ref, cand=f"cand_{int(ref[1:]) % 40}", employer=employer).model_copy(
            update={"opening_id": employer_opening, "score": round(rnd.random(), 3)})
        out.append(event)
        if rnd.random() < 0.08:
            out.append(("again", event))
        if rnd.random() < 0.05:  # declined there meanwhile: routed to another employer
            other = EMPLOYERS[(EMPLOYERS.index(employer) + 1) % 3]
            out.append(event.model_copy(update={"employer_id": other, "opening_id": "o_elsewhere", "attempt": 2}))
        if rnd.random() < 0.05:
            out.append(events.ReferralUnmatchedV1(
                referral_id=f"u{i}", partner_id="p1", candidate_id="cand_x", reason="no opening fits",
                missing_skills=["rust"]))
        if i % 8 == 7:  # intake's events keep arriving between the decisions
            out.append(withdrawn(decided[i - 3], cand=f"cand_{int(decided[i - 3][1:]) % 40}"))
            out.append(updated(decided[i - 1], "python", "go", cand=f"cand_{int(decided[i - 1][1:]) % 40}"))
    return out


def records(items: list) -> list[Record]:
    out, last = [], {}
    for n, item in enumerate(items):
        if isinstance(item, tuple):
            env = last[id(item[1])].model_copy(update={"id": uuid.uuid4()})
        else:
            # Some resubmissions are older than the submission they follow (the newest wins).
            at = T0 + timedelta(seconds=n - (30 if n % 7 == 0 else 0))
            env = build(item, source="/test", correlation_id=f"c{n}", time=at)
            last[id(item)] = env
        out.append(Record(payload_of(env).topic.name, 0, n, env.subject.encode(), env.to_bytes()))
    return out


async def prepared(make_pool, *, batched: bool, applied: list[int] | None = None) -> EventConsumer:  # type: ignore[no-untyped-def]
    """The gateway's consumer on a fresh schema with its openings (two closed) and employers'
    webhook endpoints: emp0 takes everything, emp1 only referral.routed (and has an inactive one)."""
    pool = await make_pool(GATEWAY.migrations)
    async with pool.acquire() as conn, conn.transaction():
        for opening_id, employer in OPENINGS.items():
            posted = domain.post_opening(opening_id, employer, POSTING)
            await store.insert_opening(conn, posted)
            reason = {"o4": events.OpeningCloseReason.closed, "o5": events.OpeningCloseReason.filled}.get(opening_id)
            if reason is not None:
                opening = domain.Opening(events.OpeningUpdatedV1.model_validate(posted.model_dump()))
                await store.save_opening(conn, domain.close_opening(opening, reason, T0)[0])
        await webhooks.create_endpoint(conn, BOX, "employer:emp0", "https://emp0.example/hook", [])
        await webhooks.create_endpoint(conn, BOX, "employer:emp1", "https://emp1.example/hook", ["referral.routed"])
        off, _ = await webhooks.create_endpoint(conn, BOX, "employer:emp1", "https://emp1.example/off", [])
        await webhooks.update_endpoint(conn, "employer:emp1", off["endpoint_id"], {"active": False})

    async def counting(ctx, items):  # type: ignore[no-untyped-def]
        await batch_handler(ctx, items)
        if applied is not None:
            applied.append(len(items))

    return EventConsumer(  # type: ignore[arg-type]
        GATEWAY.name, pool, None, handlers=GATEWAY.handlers, batch_handler=counting if batched else None
    )


async def state(pool: asyncpg.Pool, *, arrival_order: bool = True) -> dict:
    """Everything the events leave, without what differs by construction (generated ids)."""
    order = "seq" if arrival_order else "referral_id, employer_id"
    outbox = []
    for r in await pool.fetch("SELECT value FROM outbox ORDER BY id"):
        env = Envelope.from_bytes(r["value"])
        outbox.append((env.type, env.subject, env.correlationid, env.causationid, env.partnerid, env.data))
    return {
        "inbox": [tuple(r) for r in await pool.fetch(
            "SELECT referral_id, employer_id, opening_id, partner_id, candidate_id, state, decline_reason, routing,"
            f" routed_at FROM referrals ORDER BY {order}")],
        "contacts": [tuple(r) for r in await pool.fetch("SELECT * FROM contacts ORDER BY referral_id")],
        "notices": [tuple(r) for r in await pool.fetch("SELECT * FROM referral_notices ORDER BY referral_id")],
        "outbox": outbox if arrival_order else sorted(outbox, key=repr),
        "webhooks": [tuple(r) for r in await pool.fetch(
            "SELECT owner, event_id, event_type, body, status FROM webhook_deliveries"
            " ORDER BY owner, event_id, event_type")],
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_batch_leaves_what_one_by_one_leaves(make_pool, seed):
    recs = records(scenario(seed))
    one_by_one = await prepared(make_pool, batched=False)
    applied: list[int] = []
    batched = await prepared(make_pool, batched=True, applied=applied)
    outcomes = [await one_by_one.process(r) for r in recs]
    assert set(outcomes) == {"applied", "ignored"}
    chunks = [recs[:7], recs[7:90], recs[90:200], recs[200:]]
    for chunk in chunks:
        counted = await batched.process_batch(chunk)
        assert counted["applied"] + counted["ignored"] == len(chunk)

    # Every batch went through the set-based path whole (none split down to single events).
    assert applied == [sum(1 for r in c if Envelope.from_bytes(r.value).type != "referral.unmatched.v1") for c in chunks]
    expected, got = await state(one_by_one.pool), await state(batched.pool)
    assert got == expected
    # The scenario exercises what it is meant to.
    inbox_states = {row[5] for row in expected["inbox"]}
    assert {"routed", "withdrawn", "declined"} <= inbox_states
    assert any(row[4] == "erased" for row in expected["inbox"])
    kinds = {e[0] for e in expected["outbox"]}
    assert "referral.declined.v1" in kinds  # decisions that reached a closed opening
    assert {w[2] for w in expected["webhooks"]} >= {"referral.routed", "referral.withdrawn", "referral.updated"}
    assert {share for _, share, *_ in expected["contacts"]} == {True, False}


async def test_the_consume_loop_on_kafka_applies_batches_as_one_by_one(make_pool, stack):
    """Submissions and decisions published onto fresh three-partition topics (keyed by
    referral, as the services key them) and applied by the real consume loops with the batch
    handler: the same state as applying them one by one, arrival order aside (the partitions
    and the two topics' loops interleave; withdrawals, updates and erasures are left out here
    because what they do depends on that interleaving)."""
    kept = (events.ReferralSubmittedV2, events.ReferralRoutedV1, events.ReferralUnmatchedV1)
    items = [i for i in scenario(4, n=90) if isinstance(i, kept)]
    recs = records(items)
    suffix = uuid.uuid4().hex[:8]
    topic_of = {t: f"test.gw.{t}.{suffix}" for t in {r.topic for r in recs}}
    await create_topics(stack.bootstrap, [TopicSpec(name, partitions=3) for name in topic_of.values()])
    producer = new_producer(stack.bootstrap, "test")
    await producer.start()
    try:
        for r in recs:
            await producer.send(topic_of[r.topic], r.value, key=r.key)
        await producer.flush()
    finally:
        await producer.stop()

    one_by_one = await prepared(make_pool, batched=False)
    for r in recs:  # in per-topic order: a batch keeps each partition's records in order, whatever its topics
        await one_by_one.process(r)
    applied: list[int] = []
    batched = await prepared(make_pool, batched=True, applied=applied)
    want = sum(1 for r in recs if Envelope.from_bytes(r.value).type != "referral.unmatched.v1")
    loops = [ConsumeLoop(batched, list(topic_of.values()), stack.bootstrap, backoff_s=0.05)]
    tasks = [asyncio.create_task(loop.run()) for loop in loops]

    async def all_applied() -> bool | None:
        return True if batched.counts["applied"] >= want else None

    try:
        await until("every record applied", all_applied, timeout=90, every=0.1)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    assert batched.counts["applied"] == want and batched.counts["dead_lettered"] == 0
    assert sum(applied) == want and len(applied) < want  # applied in batches, whole
    expected = await state(one_by_one.pool, arrival_order=False)
    assert await state(batched.pool, arrival_order=False) == expected
    assert len(expected["inbox"]) > 50 and expected["webhooks"] and expected["contacts"]
