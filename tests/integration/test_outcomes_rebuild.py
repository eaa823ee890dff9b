"""The rebuild's passes (services/outcomes/rebuild.py) on a real broker and database: what
COPY loads into an unindexed ledger, in worker processes, with openings, a program, training
enrollments and an erasure (of a referral and of an enrollment) applied after the load, events
repeated on one partition and across two, gives the ledger and projections the live path builds
from the same records; an event whose projection fails is skipped, as live dead-letters it."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from contracts import Envelope, build, events
from deploy.topics import TopicSpec, create_topics
from plumbing.kafka import client_options
from services.outcomes import projection, rebuild
from services.outcomes.handlers import batch_handler
from tests.integration.test_outcomes_store import lifecycle
from tests.integration.test_withdraw_update_erase import T0, erased, opening, routed
from tests.support import training_events as training

pytestmark = pytest.mark.integration


def env(payload: events.Payload, hours: float) -> Envelope:
    return build(payload, source="/test", correlation_id="c", partner_id="p1", time=T0 + timedelta(hours=hours))


def history(tag: str) -> list[Envelope]:
    """Six referrals' lifecycles, an opening posted, updated and closed, and one candidate
    erased between events of their referral (a re-routing arrives after the erasure)."""
    out = [env(p, i) for n in range(6) for i, p in enumerate(lifecycle(f"ref_{tag}_{n}"))]
    out += [env(opening(f"opn_{tag}", ["python"], capacity=n + 1), 100 + n) for n in range(2)]
    out.append(env(events.OpeningClosedV1(opening_id=f"opn_{tag}", employer_id="emp1",
                                          reason=events.OpeningCloseReason.filled, closed_at=T0), 103))
    erased_ref = f"ref_{tag}_0"
    cand = f"cand_{erased_ref}"  # (lifecycle's candidate)
    out.append(env(erased(cand, erased_ref), 50))
    out.append(env(routed(erased_ref, cand=cand, employer="emp2").model_copy(update={"attempt": 2}), 60))
    # Training (issue 15 slice 6): a program, a completed enrollment with its credential, and
    # an erased candidate's enrollment (its exit arrives after the erasure).
    out += [env(training.program(f"prog_{tag}"), 0), env(training.enrolled(f"enr_{tag}_1", "cand_t", f"prog_{tag}"), 1),
            env(training.completed(f"enr_{tag}_1", "cand_t", pid=f"prog_{tag}"), 2),
            env(training.earned(f"enr_{tag}_1", "cand_t", pid=f"prog_{tag}"), 3),
            env(training.enrolled(f"enr_{tag}_2", "cand_e", f"prog_{tag}"), 1),
            env(training.erased("cand_e", [], [f"enr_{tag}_2"]), 40),
            env(training.exited(f"enr_{tag}_2", "cand_e", pid=f"prog_{tag}"), 70)]
    return out


@pytest.fixture
async def topics(stack) -> list[str]:  # type: ignore[no-untyped-def]
    names = [f"test.rb.{uuid.uuid4().hex[:8]}.{n}" for n in range(3)]
    await create_topics(stack.bootstrap, [TopicSpec(name, partitions=3) for name in names])
    return names


@pytest.fixture
async def schemas(stack) -> AsyncIterator[list[str]]:  # type: ignore[no-untyped-def]
    made: list[str] = []
    yield made
    conn = await asyncpg.connect(stack.database_url)
    try:
        for schema in made:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def publish(bootstrap: str, placed: list[tuple[str, Envelope]]) -> None:
    producer = AIOKafkaProducer(**client_options(bootstrap))
    await producer.start()
    try:
        for topic, e in placed:
            await producer.send_and_wait(topic, e.to_bytes(), key=e.subject.encode())
    finally:
        await producer.stop()


def placed_on(names: list[str], found: list[Envelope], seed: int) -> tuple[list[tuple[str, Envelope]], int]:
    """Each event on a topic by its kind (like the network's), two repeated on the same
    topic and one repeated on another topic; returns them and how many repeats."""
    def topic_of(e: Envelope) -> str:
        kind = e.type.split(".")[0]
        if kind in ("program", "training", "credential"):
            return names[2]
        return names[0] if kind in ("referral", "opening") else names[1] if kind == "candidate" else names[2]

    placed = [(topic_of(e), e) for e in found]
    rng = random.Random(seed)
    about = [p for p in placed if p[1].type.startswith(("referral.", "interview.", "placement."))
             and not p[1].subject.endswith("_3")]  # (the poison's referral: repeated, live would fail it twice)
    twice = rng.sample(about, 3)
    placed += [twice[0], twice[1], (names[1] if twice[2][0] != names[1] else names[0], twice[2][1])]
    return placed, 3


async def live_hash(stack, schema: str, placed: list[tuple[str, Envelope]]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """What the live path builds from the records, applied per topic in batches of 4 (with
    the consumer's splitting), the topics taking turns."""
    pool = await rebuild.fresh_schema(stack.database_url, schema)
    try:
        result = rebuild.Result(schema)
        ingest = batch_handler(live=False)
        by_topic: dict[str, list[tuple[Envelope, events.Payload]]] = {}
        for topic, e in placed:
            item = rebuild._parse(e.to_bytes(), result)  # noqa: SLF001
            assert item is not None
            by_topic.setdefault(topic, []).append(item)
        turns = [items[i:i + 4] for items in by_topic.values() for i in range(0, len(items), 4)]
        for batch in sorted(turns, key=lambda b: (by_topic_index(by_topic, b))):
            await rebuild._apply(pool, ingest, batch, result)  # noqa: SLF001
        return await rebuild.content_hash(pool)
    finally:
        await pool.close()


def by_topic_index(by_topic: dict[str, list], batch: list) -> tuple[int, int]:  # type: ignore[type-arg]
    for n, items in enumerate(by_topic.values()):
        for i, item in enumerate(items):
            if item is batch[0]:
                return i, n
    raise AssertionError("not placed")


async def test_the_rebuild_in_worker_processes_equals_the_live_path(stack, topics, schemas) -> None:  # type: ignore[no-untyped-def]
    found = history("w")
    placed, repeats = placed_on(topics, found, seed=1)
    await publish(stack.bootstrap, placed)
    schemas += ["rb_live_" + uuid.uuid4().hex[:6], "rb_built_" + uuid.uuid4().hex[:6]]
    live = await live_hash(stack, schemas[0], placed)

    result = rebuild.Result(schemas[1])
    pool = await rebuild.fresh_schema(stack.database_url, schemas[1])
    try:
        await rebuild.replay(stack.bootstrap, pool, result, batch=5, topics=topics, database_url=stack.database_url,
                             workers=2)
        built = await rebuild.content_hash(pool)
        indexes = {r["indexname"] for r in await pool.fetch(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")}
        erased_rows = await pool.fetch("SELECT envelope FROM ledger WHERE referral_id = 'ref_w_0'")
        opening_state = await pool.fetchval("SELECT state FROM openings WHERE opening_id = 'opn_w'")
        enrollments = {r["enrollment_id"]: (r["status"], r["person_key"].split(":")[0])
                       for r in await pool.fetch("SELECT * FROM enrollment_facts")}
    finally:
        await pool.close()
    assert built == live
    assert result.events == len(found) and result.skipped[rebuild.REPEATED] == repeats and not result.dead_lettered
    assert set(result.passes) == {"load", "ledger indexes", "openings and erasures", "projections"}
    # The indexes dropped for the load are back, as the migrations made them.
    assert {"ledger_event_id_key", "ledger_referral", "referral_facts_partner",
            "referral_facts_employer"} <= indexes
    # Every event of the erased candidate's referral is redacted, the one after the erasure too.
    assert len(erased_rows) == 7 and not any("candidate_skills" in r["envelope"] for r in erased_rows)
    assert opening_state == "filled"
    assert enrollments == {"enr_w_1": ("completed", "cand_t"), "enr_w_2": ("exited", "erased")}


async def test_an_event_whose_projection_fails_is_skipped_as_live_dead_letters_it(  # type: ignore[no-untyped-def]
    stack, topics, schemas, monkeypatch
) -> None:
    found = history("p")
    poison = next(e for e in found if e.subject == "ref_p_3" and e.type.startswith("interview.completed"))
    project = projection.project

    def failing(referral_id, events):  # type: ignore[no-untyped-def]
        if referral_id == poison.subject and any(e.event_type == poison.type for e in events):
            raise ValueError("as if this event could not be projected")
        return project(referral_id, events)

    monkeypatch.setattr(projection, "project", failing)
    placed, repeats = placed_on(topics, found, seed=2)
    await publish(stack.bootstrap, placed)
    schemas += ["rb_live_" + uuid.uuid4().hex[:6], "rb_built_" + uuid.uuid4().hex[:6]]
    live = await live_hash(stack, schemas[0], placed)

    result = rebuild.Result(schemas[1])
    pool = await rebuild.fresh_schema(stack.database_url, schemas[1])
    try:
        await rebuild.replay(stack.bootstrap, pool, result, batch=50, topics=topics)
        built = await rebuild.content_hash(pool)
        kept = await pool.fetchval("SELECT count(*) FROM ledger WHERE referral_id = 'ref_p_3'")
    finally:
        await pool.close()
    assert built == live
    assert result.skipped[rebuild.FAILED] == 1 and result.skipped[rebuild.REPEATED] == repeats
    assert result.events == len(found) - 1 and kept == len(lifecycle("x")) - 1
