"""Rebuild: replay every topic outcomes consumes from offset 0 into empty projections.

The replay runs the live ingestion (`handlers.batch_handler(live=False)`: no partner is
notified again) into a fresh schema (default `outcomes_rebuild`, dropped and created anew), in batches of
records per transaction, up to the end offsets the topics had when it started. Then it
hashes the normalized content of the ledger and of the projections, live and rebuilt: the
projections follow from the ledger's facts whatever order they arrive in, so a live network
that has caught up gives equal hashes. The live service keeps running meanwhile.

A record the live consumer dead-lettered must not stop the rebuild either, nor change what
it builds: a record that cannot be decoded (whatever decoding raises) is skipped, and a batch
that fails to apply is split, as the live consumer splits it, until the record that fails
alone is found and skipped. Both are counted (`Result.dead_lettered`, by reason in
`skipped`). A database fault is not the record's: it ends the rebuild with the error.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from contracts import Envelope, payload_of
from contracts.envelope import describe_exception
from contracts.events import Payload
from contracts.registry import latest_type
from plumbing import db
from plumbing.consumer import BatchHandler
from plumbing.faults import is_infrastructure
from plumbing.kafka import partitions_of
from plumbing.logging import get_logger
from services.outcomes.app import DEFINITION
from services.outcomes.handlers import HANDLERS, batch_handler

log = get_logger(__name__)

# Why records were skipped: the reasons the live consumer dead-letters them for.
UNDECODABLE = "not a valid event (dead-lettered when live)"
FAILED = "failed to apply (dead-lettered when live)"

# What the hash covers: every derived table, and the ledger, without arrival-dependent columns
# (sequence numbers, the time a row was written or redacted).
HASHED: dict[str, tuple[str, str]] = {
    "ledger": (
        "event_id, event_type, referral_id, opening_id, partner_id, employer_id, occurred_at, source_topic,"
        " envelope::text, redacted_at IS NOT NULL",
        "event_id",
    ),
    "referral_facts": (
        "referral_id, partner_id, employer_id, facts, scoped_facts::text, stages, status, anomalies, attempt, exit,"
        " record::text, partner_detail::text, candidate_id, demographics_sealed::text",
        "referral_id",
    ),
    "openings": ("*", "opening_id"),
    "erased_referrals": ("*", "referral_id"),
}


@dataclass
class Result:
    schema: str
    events: int = 0
    seconds: float = 0.0
    skipped: Counter[str] = field(default_factory=Counter)  # why records were not applied
    hashes: dict[str, dict[str, str]] = field(default_factory=dict)  # live/rebuilt -> table -> sha256

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def dead_lettered(self) -> int:
        """Records skipped because the live consumer dead-letters them."""
        return self.skipped[UNDECODABLE] + self.skipped[FAILED]

    @property
    def equal(self) -> bool:
        return self.hashes.get("live") == self.hashes.get("rebuilt")

    def as_dict(self) -> dict[str, Any]:
        return {"schema": self.schema, "events": self.events, "seconds": round(self.seconds, 2),
                "events_per_second": round(self.per_second, 1), "skipped": dict(self.skipped),
                "dead_lettered": self.dead_lettered,
                "hashes": self.hashes, "equal": self.equal}


async def content_hash(pool: asyncpg.Pool) -> dict[str, str]:
    """sha256 of each table's normalized rows, streamed in key order."""
    out = {}
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        for table, (columns, key) in HASHED.items():
            digest = hashlib.sha256()
            async for row in conn.cursor(f"SELECT {columns} FROM {table} ORDER BY {key}", prefetch=2000):
                digest.update(json.dumps([_plain(v) for v in row.values()], default=str).encode())
                digest.update(b"\n")
            out[table] = digest.hexdigest()
    return out


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


async def fresh_schema(database_url: str, schema: str) -> asyncpg.Pool:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
    pool = await db.create_pool(database_url, schema)
    await db.migrate(pool, DEFINITION.migrations)
    return pool


async def replay(
    bootstrap: str, pool: asyncpg.Pool, result: Result, batch: int = 1000, topics: Sequence[str] | None = None
) -> None:
    """Every record of the topics (outcomes' own by default), from offset 0 to the end offsets
    at the start, applied in transactions of up to `batch` records."""
    ingest = batch_handler(live=False)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=batch)
    await consumer.start()
    try:
        tps = await partitions_of(consumer, list(topics or [t.name for t in DEFINITION.consumes]))
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        todo = {tp for tp in tps if ends[tp] > 0}
        while todo:
            fetched = await consumer.getmany(*todo, timeout_ms=500, max_records=batch)
            records = [r for tp, recs in fetched.items() for r in recs if r.offset < ends[tp]]
            items = [item for item in (_parse(r.value, result) for r in records) if item is not None]
            result.events += await _apply(pool, ingest, items, result)
            for tp in list(todo):
                if await consumer.position(tp) >= ends[tp]:
                    todo.discard(tp)
    finally:
        await consumer.stop()


async def _apply(pool: asyncpg.Pool, ingest: BatchHandler, items: list[tuple[Envelope, Payload]],
                 result: Result) -> int:
    """Apply `items` in one transaction; if that fails for anything but a fault, in halves,
    in order, down to the one event that fails alone, which is skipped. Returns how many
    were applied."""
    if not items:
        return 0
    try:
        async with pool.acquire() as conn, conn.transaction():
            await ingest(conn, items)
        return len(items)
    except Exception as exc:
        if is_infrastructure(exc):
            raise
        if len(items) == 1:
            envelope = items[0][0]
            result.skipped[FAILED] += 1
            log.warning("rebuild.skipped", event_id=str(envelope.id), event_type=envelope.type,
                        error=describe_exception(exc, 500))
            return 0
        middle = len(items) // 2
        return await _apply(pool, ingest, items[:middle], result) + await _apply(pool, ingest, items[middle:], result)


def _parse(value: bytes | None, result: Result) -> tuple[Envelope, Payload] | None:
    """The record as outcomes' consumer decodes it, or None (counted) if it skips or
    dead-letters it. Whatever the bytes raise stays here (MemoryError aside)."""
    try:
        envelope = Envelope.from_bytes(value or b"")
        if latest_type(envelope.type) not in HANDLERS:
            result.skipped["not for outcomes"] += 1
            return None
        return envelope, payload_of(envelope)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - whatever decoding raises, the live consumer dead-letters the record
        result.skipped[UNDECODABLE] += 1
        return None


async def rebuild(
    bootstrap: str, database_url: str, schema: str = "outcomes_rebuild", batch: int = 1000,
    topics: Sequence[str] | None = None,
) -> Result:
    result = Result(schema)
    pool = await fresh_schema(database_url, schema)
    try:
        started = time.monotonic()
        await replay(bootstrap, pool, result, batch, topics)
        result.seconds = time.monotonic() - started
        result.hashes["rebuilt"] = await content_hash(pool)
    finally:
        await pool.close()
    live = await db.create_pool(database_url, DEFINITION.name)
    try:
        result.hashes["live"] = await content_hash(live)
    finally:
        await live.close()
    return result
