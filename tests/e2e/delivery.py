"""What the delivery-spine e2e tests (test_faults.py, test_instances.py) check, read straight
from PostgreSQL and Kafka: dead letters, outbox rows against what reached the topics, and
the outcomes ledger of a set of referrals.

Everything here reads; nothing changes the network.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts import Envelope
from contracts.topics import PREFIX
from plumbing import db
from plumbing.kafka import KafkaSecurity, client_options, partitions_of
from plumbing.operations import OUTBOX_SERVICES
from services.outcomes import rebuild
from tests.e2e.helpers import poll
from tests.kafka_helpers import read_topic

DEAD_LETTER_PREFIX = f"{PREFIX}.deadletter."


async def _consumer(bootstrap: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(**client_options(bootstrap), enable_auto_commit=False)
    await consumer.start()
    return consumer


async def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
    consumer = await _consumer(bootstrap)
    try:
        tps = await partitions_of(consumer, list(topics))
        return dict(await consumer.end_offsets(tps)) if tps else {}
    finally:
        await consumer.stop()


async def dead_letter_topics(bootstrap: str) -> list[str]:
    consumer = await _consumer(bootstrap)
    try:
        return sorted(t for t in await consumer.topics() if t.startswith(DEAD_LETTER_PREFIX))
    finally:
        await consumer.stop()


async def dead_letter_offsets(bootstrap: str) -> dict[str, int]:
    """Records ever written to each dead-letter topic (the sum of its end offsets)."""
    names = await dead_letter_topics(bootstrap)
    assert names, "no dead-letter topic exists: the network should have created one per consumer"
    totals: Counter[str] = Counter({name: 0 for name in names})
    for tp, end in (await end_offsets(bootstrap, names)).items():
        totals[tp.topic] += end
    return dict(totals)


async def new_dead_letters(bootstrap: str, before: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """Dead letters written since `before` (from `dead_letter_offsets`), with their reasons."""
    found: dict[str, list[dict[str, Any]]] = {}
    after = await dead_letter_offsets(bootstrap)
    for topic, total in after.items():
        if total > before.get(topic, 0):
            records = await read_topic(bootstrap, topic, at_least=total, timeout=10.0)
            tail = sorted(records, key=lambda r: (r.partition, r.offset))[before.get(topic, 0):]
            found[topic] = [
                {k: v.decode(errors="replace")[:300] for k, v in r.headers if k.startswith("dlq.")} for r in tail
            ]
    return found


async def partition_counts(bootstrap: str, topics: Iterable[str]) -> dict[str, int]:
    consumer = await _consumer(bootstrap)
    try:
        counts: Counter[str] = Counter()
        for tp in await partitions_of(consumer, list(topics)):
            counts[tp.topic] += 1
        return dict(counts)
    finally:
        await consumer.stop()


# --- the outbox and what reached Kafka -------------------------------------------------------


@dataclass(frozen=True)
class OutboxRow:
    id: int
    event_id: str
    topic: str
    key: str
    published: bool


async def outbox_high_water(database_url: str) -> dict[str, int]:
    """The highest outbox id of each service: rows after it were written by the test."""
    conn = await asyncpg.connect(database_url)
    try:
        return {s: await conn.fetchval(f"SELECT coalesce(max(id), 0) FROM {s}.outbox") for s in OUTBOX_SERVICES}
    finally:
        await conn.close()


async def outbox_rows(database_url: str, after: dict[str, int]) -> dict[str, list[OutboxRow]]:
    """Each service's outbox rows written after `after`, in id order."""
    conn = await asyncpg.connect(database_url)
    try:
        return {
            s: [
                OutboxRow(r["id"], str(r["event_id"]), r["topic"], r["key"], r["published_at"] is not None)
                for r in await conn.fetch(
                    f"SELECT id, event_id, topic, key, published_at FROM {s}.outbox WHERE id > $1 ORDER BY id",
                    after.get(s, 0),
                )
            ]
            for s in OUTBOX_SERVICES
        }
    finally:
        await conn.close()


async def unpublished(database_url: str) -> dict[str, int]:
    """Rows each service's relay still has to publish (parked ones included)."""
    conn = await asyncpg.connect(database_url)
    try:
        return {
            s: await conn.fetchval(f"SELECT count(*) FROM {s}.outbox WHERE published_at IS NULL")
            for s in OUTBOX_SERVICES
        }
    finally:
        await conn.close()


async def parked_rows(database_url: str) -> dict[str, list[dict[str, Any]]]:
    """Rows each service's relay parked (Kafka refused them for what they are), with why."""
    conn = await asyncpg.connect(database_url)
    try:
        found = {}
        for s in OUTBOX_SERVICES:
            rows = await conn.fetch(
                f"SELECT id, topic, key, park_reason FROM {s}.outbox"
                " WHERE parked_at IS NOT NULL AND published_at IS NULL ORDER BY id"
            )
            if rows:
                found[s] = [dict(r) for r in rows]
        return found
    finally:
        await conn.close()


async def wait_outboxes_drained(database_url: str, timeout: float = 60.0) -> None:
    """Every row of every outbox published; fails at once, naming them, if any is parked:
    a parked row and every later row of its key wait for an operator."""

    async def drained() -> bool | None:
        parked = await parked_rows(database_url)
        if parked:
            reasons = Counter((s, r["topic"], (r["park_reason"] or "")[:120]) for s, rows in parked.items() for r in rows)
            raise AssertionError(f"outbox rows parked (waiting for an operator): {dict(reasons)}")
        return True if not any((await unpublished(database_url)).values()) else None

    await poll("every outbox published", drained, timeout=timeout, every=0.5)


@dataclass(frozen=True)
class KafkaEvent:
    partition: int
    offset: int
    key: str
    event_id: str
    type: str


async def kafka_events(bootstrap: str, topic: str) -> list[KafkaEvent]:
    """Every event on `topic`, in (partition, offset) order."""
    records = await read_topic(bootstrap, topic, at_least=0, timeout=15.0)
    events = []
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        env = Envelope.from_bytes(r.value)
        events.append(KafkaEvent(r.partition, r.offset, (r.key or b"").decode(), str(env.id), env.type))
    return events


async def order_report(bootstrap: str, rows: dict[str, list[OutboxRow]]) -> dict[str, Any]:
    """Compare, per topic and key, the order of the outbox rows with the order on Kafka.

    Returns the problems found (empty lists when all holds) and what was compared:
    `reordered` (a key whose events on Kafka are not in outbox order), `duplicated` (an
    event on Kafka more than once), `missing` (a published row not on Kafka), `split` (one
    key on several partitions), `unpublished` (rows not published yet)."""
    by_topic: dict[str, list[OutboxRow]] = defaultdict(list)
    for service_rows in rows.values():
        for row in service_rows:
            by_topic[row.topic].append(row)
    report: dict[str, Any] = {
        "reordered": [], "duplicated": [], "missing": [], "split": [], "unpublished": [], "compared": Counter(),
    }
    for topic, topic_rows in sorted(by_topic.items()):
        ours = {r.event_id for r in topic_rows}
        on_kafka = [e for e in await kafka_events(bootstrap, topic) if e.event_id in ours]
        seen = Counter(e.event_id for e in on_kafka)
        report["duplicated"] += [(topic, eid, n) for eid, n in seen.items() if n > 1]
        kafka_by_key: dict[str, list[str]] = defaultdict(list)
        partitions: dict[str, set[int]] = defaultdict(set)
        for e in on_kafka:
            kafka_by_key[e.key].append(e.event_id)
            partitions[e.key].add(e.partition)
        report["split"] += [(topic, key, sorted(p)) for key, p in partitions.items() if len(p) > 1]
        outbox_by_key: dict[str, list[str]] = defaultdict(list)
        for r in sorted(topic_rows, key=lambda r: r.id):
            if not r.published:
                report["unpublished"].append((topic, r.key, r.id))
                continue
            outbox_by_key[r.key].append(r.event_id)
            if r.event_id not in seen:
                report["missing"].append((topic, r.key, r.id))
        for key, expected in outbox_by_key.items():
            got = list(dict.fromkeys(kafka_by_key.get(key, [])))  # first occurrences
            if got != expected and set(got) == set(expected):
                report["reordered"].append((topic, key, expected, got))
        report["compared"][topic] = len(on_kafka)
    report["compared"] = dict(report["compared"])
    return report


# --- outcomes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerEvent:
    event_type: str
    occurred_at: datetime
    event_id: str
    source_topic: str


async def ledger_of(database_url: str, referral_ids: Iterable[str]) -> dict[str, list[LedgerEvent]]:
    """The outcomes ledger of these referrals, each in the order the events happened."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT referral_id, event_type, occurred_at, event_id, source_topic FROM outcomes.ledger"
            " WHERE referral_id = ANY($1::text[]) ORDER BY referral_id, occurred_at, event_type",
            list(referral_ids),
        )
    finally:
        await conn.close()
    out: dict[str, list[LedgerEvent]] = defaultdict(list)
    for r in rows:
        out[r["referral_id"]].append(LedgerEvent(r["event_type"], r["occurred_at"], str(r["event_id"]), r["source_topic"]))
    return dict(out)


async def facts_of(database_url: str, referral_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Outcomes' projection of each referral (what is deterministic in it)."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT referral_id, status, facts, stages, attempt, exit, anomalies FROM outcomes.referral_facts"
            " WHERE referral_id = ANY($1::text[])",
            list(referral_ids),
        )
    finally:
        await conn.close()
    return {
        r["referral_id"]: {
            "status": r["status"], "facts": sorted(r["facts"]), "stages": list(r["stages"]),
            "attempt": r["attempt"], "exit": r["exit"], "anomalies": sorted(r["anomalies"]),
        }
        for r in rows
    }


async def wait_in_ledger(
    database_url: str, expected: dict[str, Counter[str]], timeout: float = 90.0
) -> dict[str, list[LedgerEvent]]:
    """Wait until every referral of `expected` has at least the events counted there
    (event type -> how many) in the outcomes ledger; return their ledger."""

    async def arrived() -> dict[str, list[LedgerEvent]] | None:
        ledger = await ledger_of(database_url, expected)
        for rid, want in expected.items():
            have = Counter(e.event_type for e in ledger.get(rid, []))
            if any(have[t] < n for t, n in want.items()):
                return None
        return ledger

    try:
        return await poll(f"{len(expected)} referrals in the outcomes ledger", arrived, timeout=timeout, every=0.5)
    except TimeoutError:
        ledger = await ledger_of(database_url, expected)
        behind = {
            rid: dict(Counter(e.event_type for e in ledger.get(rid, [])))
            for rid, want in expected.items()
            if any(Counter(e.event_type for e in ledger.get(rid, []))[t] < n for t, n in want.items())
        }
        raise AssertionError(f"{len(behind)} referrals incomplete in the ledger, e.g. {list(behind.items())[:5]}") from None


async def live_outcomes_hash(database_url: str) -> dict[str, str]:
    pool = await db.create_pool(database_url, "outcomes")
    try:
        return await rebuild.content_hash(pool)
    finally:
        await pool.close()


async def rebuilt_equals_live(
    bootstrap: str, database_url: str, schema: str, workers: int | None = None
) -> tuple[rebuild.Result, dict[str, Any]]:
    """Replay every topic into a clean schema (`talentloop outcomes rebuild`, with `workers`
    processes: one per CPU by default) and compare its content hashes with the live
    projections; the live side is hashed again for a while in case its consumers still apply
    the last events. Returns the result and, for each table whose hashes differ, a few rows
    found only live and only rebuilt."""
    result = await rebuild.rebuild(bootstrap, database_url, schema=schema, batch=500, workers=workers)
    for _ in range(30):
        if result.equal:
            break
        await asyncio.sleep(1.0)
        result.hashes["live"] = await live_outcomes_hash(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        differ: dict[str, Any] = {}
        for table, (columns, _key) in rebuild.HASHED.items():
            if result.hashes["live"].get(table) == result.hashes["rebuilt"].get(table):
                continue
            only = {}
            for name, a, b in (("only_live", "outcomes", schema), ("only_rebuilt", schema, "outcomes")):
                rows = await conn.fetch(
                    f'SELECT {columns} FROM {a}.{table} EXCEPT SELECT {columns} FROM "{b}".{table} ORDER BY 1 LIMIT 3'
                )
                only[name] = [{k: str(v)[:600] for k, v in dict(r).items()} for r in rows]
            differ[table] = only
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
    return result, differ


# --- the services' own view ---------------------------------------------------------------------


async def health(http: httpx.AsyncClient, url: str) -> tuple[int, dict[str, Any] | None]:
    """(status code, body) of a service's /health; (0, None) when it does not answer."""
    try:
        r = await http.get(f"{url}/health", timeout=3.0)
    except httpx.HTTPError:
        return 0, None
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, None


def paused_loops(body: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [c for c in (body or {}).get("consuming") or [] if c.get("paused")]


async def paused_in_metrics(http: httpx.AsyncClient, url: str) -> list[str]:
    """The `talentloop_consumer_paused` series at 1 on a service's /metrics (which answers
    without the database)."""
    try:
        r = await http.get(f"{url}/metrics", timeout=3.0)
    except httpx.HTTPError:
        return []
    return [
        line.split(" ")[0]
        for line in r.text.splitlines()
        if line.startswith("talentloop_consumer_paused{") and line.rsplit(" ", 1)[-1] in ("1.0", "1")
    ]



async def group_members(bootstrap: str, groups: list[str]) -> dict[str, dict[str, list[int]]]:
    """Each consumer group's active members (member id -> partitions assigned to it).

    Through librdkafka: aiokafka 0.14's describe_consumer_groups cannot decode a Kafka 4
    broker's answer (ValueError "Buffer underrun decoding string")."""
    from confluent_kafka.admin import AdminClient

    def describe() -> dict[str, dict[str, list[int]]]:
        admin = AdminClient({"bootstrap.servers": bootstrap, **KafkaSecurity.from_env().librdkafka()})
        out: dict[str, dict[str, list[int]]] = {}
        for group, future in admin.describe_consumer_groups(groups, request_timeout=10).items():
            found = future.result()
            out[group] = {
                m.member_id: sorted(tp.partition for tp in (m.assignment.topic_partitions if m.assignment else []))
                for m in found.members
            }
        return out

    return await asyncio.to_thread(describe)
