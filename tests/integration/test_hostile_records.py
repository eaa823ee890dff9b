"""Hostile records on a topic against real Kafka and PostgreSQL: `tail` (and so the console's
live stream, which is the same `Tail`) and the outcomes rebuild survive each one, say what
they skipped, and still show or apply the good events after it."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from contracts import Envelope, build
from deploy.topics import TopicSpec, create_topics
from plumbing.kafka import client_options
from plumbing.operations import Tail, TailFilter
from services.console.api import sse_message
from services.outcomes import rebuild
from talentloop.ops_cli import event_line
from tests.integration.test_outcomes_store import lifecycle
from tests.integration.test_withdraw_update_erase import T0

pytestmark = pytest.mark.integration


def good(ref: str, n: int = 0) -> Envelope:
    return build(lifecycle(ref)[n], source="/test", correlation_id="c", partner_id="p1", time=T0 + timedelta(hours=n))


def envelope_doc(**changes: object) -> dict:
    doc = json.loads(good(f"ref_{uuid.uuid4().hex[:6]}", 2).to_bytes())  # referral.acknowledged
    doc.update(changes)
    return doc


def hostile() -> dict[str, bytes | None]:
    """Each kind of record issue 13 names, and a few more: what every consumer dead-letters."""
    nine_thousand = b'{"specversion":"1.0","id":"' + str(uuid.uuid4()).encode() + b'","data":{"n":' + b"9" * 5000 + b"}}"
    return {
        "deep nesting": b"[" * 5000,
        "5,000-digit integer": nine_thousand,
        "invalid UTF-8": json.dumps(envelope_doc(correlationid="c")).encode().replace(b'"c"', b'"\xff\xfe\xfd"'),
        "bad payload": json.dumps(envelope_doc(data={"referral_id": 5, "employer_id": []})).encode(),
        "unknown type": json.dumps(envelope_doc(type="referral.teleported.v1")).encode(),
        "not JSON": b"\x00\x01 definitely not an event",
        "tombstone": None,
    }


def unshowable() -> dict[str, bytes | None]:
    """A valid event that the tail cannot show (its time in UTC falls before year 1): still
    not a reason to stop."""
    return {"time out of range": json.dumps(envelope_doc(time="0001-01-01T00:00:00+05:00")).encode()}


async def publish(bootstrap: str, topic: str, records: list[tuple[bytes, bytes | None]]) -> None:
    producer = AIOKafkaProducer(**client_options(bootstrap))
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def collect(tail: Tail, until_type: str, timeout: float = 30.0) -> list[dict]:
    """Views from the tail until one of `until_type` arrives."""
    seen: list[dict] = []

    async def read() -> None:
        async for view in tail.events(idle_s=0.5):
            if view is not None:
                seen.append(view)
                if view.get("type") == until_type and not view.get("undecodable"):
                    return

    await asyncio.wait_for(read(), timeout)
    return seen


async def test_tail_shows_each_hostile_record_as_undecodable_and_the_good_event_after_it(stack, topic) -> None:  # type: ignore[no-untyped-def]
    bad = {**hostile(), **unshowable()}
    after = good(f"ref_{uuid.uuid4().hex[:6]}")
    async with Tail(stack.bootstrap, topics=[topic]) as tail:
        await publish(stack.bootstrap, topic,
                      [(name.encode(), value) for name, value in bad.items()] + [(b"good", after.to_bytes())])
        views = await collect(tail, after.type)

    *undecodable, shown = views
    assert shown["id"] == str(after.id) and shown["offset"] == len(bad), shown
    assert [v["key"] for v in undecodable] == list(bad), undecodable
    assert [v["offset"] for v in undecodable] == list(range(len(bad)))
    assert all(v["undecodable"] and v["topic"] == topic and v["reason"] for v in undecodable)
    assert tail.undecodable == len(bad)
    reasons = {v["key"]: v["reason"] for v in undecodable}
    assert "recursion limit" in reasons["deep nesting"]
    assert "number out of range" in reasons["5,000-digit integer"]
    assert "unicode" in reasons["invalid UTF-8"].lower()
    assert "referral_id" in reasons["bad payload"]
    assert "unknown event type" in reasons["unknown type"]
    assert "OverflowError" in reasons["time out of range"]
    # The bytes themselves are never shown, only where the record is and why it cannot be read.
    assert not any("9999999999" in json.dumps(v) or "definitely" in json.dumps(v) for v in undecodable)
    # The terminal and the console's stream show them too, each as what it is.
    assert "UNDECODABLE" in event_line(undecodable[0]) and f"{topic}@0:0" in event_line(undecodable[0])
    assert sse_message(undecodable[0]).startswith("event: undecodable\ndata: {")
    assert sse_message(shown).startswith("event: event\ndata: {")


async def test_a_filtered_tail_counts_what_it_cannot_read_and_shows_only_what_matches(stack, topic) -> None:  # type: ignore[no-untyped-def]
    wanted = good(f"ref_{uuid.uuid4().hex[:6]}")
    other = good(f"ref_{uuid.uuid4().hex[:6]}")
    broken = json.dumps({**json.loads(wanted.to_bytes()), "id": str(uuid.uuid4()), "data": {"referral_id": 7}})
    async with Tail(stack.bootstrap, TailFilter(referral=wanted.subject), topics=[topic]) as tail:
        await publish(stack.bootstrap, topic, [(b"x", b"[" * 5000), (b"x", other.to_bytes()),
                                               (wanted.subject.encode(), broken.encode()),
                                               (wanted.subject.encode(), wanted.to_bytes())])
        views = await collect(tail, wanted.type)
    # The unreadable record may or may not be the referral's: counted, not shown. The broken
    # one's envelope names the referral: shown as undecodable. The other referral: not at all.
    assert [(v.get("undecodable", False), v["offset"]) for v in views] == [(True, 2), (False, 3)], views
    assert tail.undecodable == 2


async def test_the_rebuild_skips_what_the_live_consumer_dead_letters_and_builds_the_same(  # type: ignore[no-untyped-def]
    stack, topic, monkeypatch
) -> None:
    ref_a, ref_b = f"ref_{uuid.uuid4().hex[:6]}", f"ref_{uuid.uuid4().hex[:6]}"
    history = [good(ref_a, n) for n in range(3)] + [good(ref_b, n) for n in range(2)]
    # A valid event that fails whenever it is applied (as a bug or a constraint would make it):
    # the live consumer's batch fails, is split down to this event, which is dead-lettered.
    unstorable = good(ref_b, 2)
    real = rebuild.batch_handler

    def failing_on_it(**how):  # type: ignore[no-untyped-def]
        ingest = real(**how)

        async def apply(ctx, items):  # type: ignore[no-untyped-def]
            if any(env.id == unstorable.id for env, _ in items):
                raise ValueError("as if this event could not be applied")
            await ingest(ctx, items)

        return apply

    monkeypatch.setattr(rebuild, "batch_handler", failing_on_it)
    records = [(e.subject.encode(), e.to_bytes()) for e in history[:3]]
    records += [(b"bad", value) for value in hostile().values()]
    records += [(ref_b.encode(), history[3].to_bytes()), (ref_b.encode(), unstorable.to_bytes()),
                (ref_b.encode(), history[4].to_bytes())]
    clean_topic = f"{topic}.clean"
    await create_topics(stack.bootstrap, [TopicSpec(clean_topic, partitions=1)])
    await publish(stack.bootstrap, topic, records)
    await publish(stack.bootstrap, clean_topic, [(e.subject.encode(), e.to_bytes()) for e in history])

    schemas = [f"rb_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    try:
        hashes = []
        results = []
        for schema, source in zip(schemas, (topic, clean_topic), strict=True):
            result = rebuild.Result(schema)
            pool = await rebuild.fresh_schema(stack.database_url, schema)
            try:
                # Small batches: the hostile records and the unstorable event share batches with good ones.
                await rebuild.replay(stack.bootstrap, pool, result, batch=4, topics=[source])
                hashes.append(await rebuild.content_hash(pool))
                ledger = await pool.fetchval("SELECT count(*) FROM ledger")
            finally:
                await pool.close()
            results.append((result, ledger))
    finally:
        conn = await asyncpg.connect(stack.database_url)
        try:
            for schema in schemas:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    (dirty, dirty_ledger), (clean, clean_ledger) = results
    assert dirty.events == clean.events == len(history) == dirty_ledger == clean_ledger
    assert dirty.skipped[rebuild.UNDECODABLE] == len(hostile())
    assert dirty.skipped[rebuild.FAILED] == 1
    assert dirty.dead_lettered == len(hostile()) + 1 and dirty.as_dict()["dead_lettered"] == dirty.dead_lettered
    assert clean.dead_lettered == 0
    assert hashes[0] == hashes[1]  # what the live consumer dead-letters leaves no trace in the projections
