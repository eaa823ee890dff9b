"""Rebuild: replay every topic outcomes consumes from offset 0 into empty projections.

The replay builds a fresh schema (default `outcomes_rebuild`, dropped and created anew by the
migrations) from the records the topics held when it started, then hashes the normalized
content of the ledger and of the projections, live and rebuilt: the projections follow from
the ledger's facts whatever order they arrive in, so a live network that has caught up gives
equal hashes. The live service keeps running meanwhile. No partner is notified again. A topic
whose log no longer starts at offset 0 (records deleted by retention or DeleteRecords) is
refused before anything is dropped (`LogTruncated`): its replay could only report a false mismatch.

It is built for speed, in passes, with the live code at each step:

1. Load: the partitions are shared among worker processes (one per CPU by default, one per
   `RECORDS_PER_WORKER` records at most: `default_workers`), each
   reading its own from offset 0 and appending every event about a referral to the ledger
   by COPY, `batch` records per transaction (`handlers.batch_handler(live=False,
   project=False)`), into a ledger whose indexes are built afterwards (sorting once is
   cheaper than keeping them up to date row by row). An event seen twice is kept once.
   Openings and erasures are set aside. The pass runs with the cyclic collector paused, a
   full collection every `SWEEP_EVERY` records (`plumbing.heap.Sweeps`), and a worker's imports
   are frozen out of its way (`plumbing.heap.settle`), as in the services.
2. The indexes are built (and an event two workers both appended kept once).
3. Openings and erasures are applied in their partitions' order through the live handler
   (`batch_handler(live=False)`): an erasure redacts the rows loaded before it, as live, so
   every event of an erased candidate ends redacted whatever order it came in. Programs,
   training, service and demand events follow the same way; one delivered twice is applied and
   counted once (its repeat among the skipped, as the load's repeats are).
4. Every referral is projected once from all its ledger events, the workers taking ranges of
   referral ids, as `store.reproject_many` derives them; projections are written by COPY.
   The collector is paused as in the first pass.
   Their compact events are not kept (`inputs_complete` false): the live service reads the
   ledger for such a referral, should this schema ever serve.

A record the live consumer dead-letters must not stop the rebuild nor change what it builds:
a record that cannot be decoded (whatever decoding raises) is skipped, and a batch that fails
to apply is split, as the live consumer splits it, until the record that fails alone is
found and skipped. An event about a referral whose projection fails in pass 4 is found the
same way: that referral's events are taken out of the ledger and applied again one batch at a
time through the live handler. All are counted (`Result.dead_lettered`, by reason in
`skipped`). A database fault is not the record's: it ends the rebuild with the error.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import multiprocessing
import os
import resource
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from contracts import Envelope, events, payload_of
from contracts.envelope import describe_exception
from contracts.events import Payload
from contracts.registry import latest_type
from plumbing import db, heap
from plumbing.consumer import BatchHandler
from plumbing.context import Deps
from plumbing.faults import is_infrastructure
from plumbing.kafka import client_options, partitions_of
from plumbing.logging import get_logger
from services.outcomes import projection, store
from services.outcomes.app import DEFINITION
from services.outcomes.handlers import APPLIED_AFTER_LOAD, HANDLERS, OPENING_EVENTS, batch_handler

log = get_logger(__name__)

BATCH = 5000  # records per transaction of the first pass
# Records (or ledger events) between the full collections of a pass run with the collector
# paused (plumbing.heap.Sweeps). Such a collection took 0.15 s of CPU and found 559 objects in
# cycles after 50,000 records (fifteenth session): rarely, as there is little to find.
SWEEP_EVERY = 500_000
FETCH_BYTES = 8 * 2**20  # per partition and fetch: more than one record of the largest size

# Why records were skipped: the reasons the live consumer dead-letters them for.
UNDECODABLE = "not a valid event (dead-lettered when live)"
FAILED = "failed to apply (dead-lettered when live)"
# A rebuild emits nothing (notifications went out when the events were live).
_DEPS = Deps.of("outcomes")
REPEATED = "repeated (a duplicate when live)"
# Set aside for pass 3; by exact type (isinstance on pydantic's ABCs costs more; none is subclassed).
# Programs, training and service events too: the first pass COPYs referral events only; an
# enrollment's and a service request's are few, appended and projected through the live path
# (handlers.APPLIED_AFTER_LOAD).
_LATER_TYPES = frozenset({events.CandidateErasedV1, *OPENING_EVENTS, *APPLIED_AFTER_LOAD})

# What the hash covers: every derived table, and the ledger, without arrival-dependent columns
# (sequence numbers, the time a row was written or redacted).
HASHED: dict[str, tuple[str, str]] = {
    "ledger": (
        "event_id, event_type, referral_id, opening_id, enrollment_id, program_id, request_id, partner_id, employer_id,"
        " occurred_at, source_topic,"
        " envelope::text, redacted_at IS NOT NULL",
        "event_id",
    ),
    "referral_facts": (
        "referral_id, partner_id, employer_id, facts, scoped_facts::text, stages, status, anomalies, attempt, exit,"
        " record::text, partner_detail::text, candidate_id, demographics_sealed::text, outcome, declined_by, flags,"
        " person_key, projected_with",
        "referral_id",
    ),
    "openings": ("*", "opening_id"),
    "erased_referrals": ("*", "referral_id"),
    "programs": ("*", "program_id"),
    "enrollment_facts": ("*", "enrollment_id"),
    "erased_enrollments": ("*", "enrollment_id"),
    "service_requests": ("*", "request_id"),
    "demand_forecasts": ("*", "employer_id, onet_soc_code, employment_type, horizon_months"),
    "hiring_standards": ("*", "employer_id, onet_soc_code, opening_id"),
    "publication_choices": ("*", "employer_id, year"),
}
# Tables whose indexes are built after the load (their primary keys stay).
DEFERRED_INDEXES = ("ledger", "referral_facts")
FACTS_COPY = ("referral_id", "partner_id", "employer_id", "facts", "scoped_facts", "stages", "status", "anomalies",
              "attempt", "exit", "record", "partner_detail", "candidate_id", "demographics_sealed",
              *store.EXTRA_COLUMNS, "projected_with")


@dataclass
class Result:
    schema: str
    events: int = 0
    seconds: float = 0.0
    skipped: Counter[str] = field(default_factory=Counter)  # why records were not applied
    hashes: dict[str, dict[str, str]] = field(default_factory=dict)  # live/rebuilt -> table -> sha256
    passes: dict[str, float] = field(default_factory=dict)  # seconds per pass
    # CPU seconds of this process and its worker processes over the passes (not the hashing)
    cpu_seconds: float = 0.0
    workers: int = 1  # processes of the load and projection passes

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
                "dead_lettered": self.dead_lettered, "passes": {k: round(v, 2) for k, v in self.passes.items()},
                "cpu_seconds": round(self.cpu_seconds, 2),
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


# --- the passes --------------------------------------------------------------------------------


@dataclass
class Loaded:
    """What a first pass over some partitions did, and what it left for later."""

    events: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    later: list[tuple[str, int, int, bytes]] = field(default_factory=list)  # openings and erasures: topic, partition, offset, value


async def replay(
    bootstrap: str,
    pool: asyncpg.Pool,
    result: Result,
    batch: int = BATCH,
    topics: Sequence[str] | None = None,
    *,
    database_url: str | None = None,
    workers: int = 1,
) -> None:
    """Every record of the topics (outcomes' own by default), from offset 0 to the end offsets
    at the start, into `pool`'s fresh schema: the four passes of the module's docstring. With
    `workers` > 1 (and the `database_url` they connect to), the load and the projection run in
    that many processes."""
    schema = await pool.fetchval("SELECT current_schema()")
    ends = await end_offsets(bootstrap, list(topics or [t.name for t in DEFINITION.consumes]))
    clock = time.monotonic()
    async with pool.acquire() as conn:
        restore = await _drop_indexes(conn)
    executor = None
    if workers > 1:
        if database_url is None:
            raise ValueError("workers need the database_url")
        executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        loop = asyncio.get_running_loop()
        if executor is None:
            parts = [await load(bootstrap, pool, ends, batch)]
        else:
            jobs = [loop.run_in_executor(executor, _load_in_process, bootstrap, database_url, schema, share, batch)
                    for share in _shares(ends, workers)]
            parts = list(await asyncio.gather(*jobs))
        for part in parts:
            result.events += part.events
            result.skipped.update(part.skipped)
        result.passes["load"] = time.monotonic() - clock

        clock = time.monotonic()
        async with pool.acquire() as conn:
            removed = await _restore_ledger_indexes(conn, restore)
        result.skipped[REPEATED] += removed
        result.events -= removed
        result.passes["ledger indexes"] = time.monotonic() - clock

        clock = time.monotonic()
        later = sorted(record for part in parts for record in part.later)
        items = _once([_parse(r[3], result) for r in later], result)
        result.events += await _apply_all(pool, batch_handler(live=False), items, result)
        async with pool.acquire() as conn:
            await conn.execute("TRUNCATE referral_facts, referral_inputs")  # all derived again in pass 4
        result.passes["openings and erasures"] = time.monotonic() - clock

        clock = time.monotonic()
        async with pool.acquire() as conn:
            ranges = await _referral_ranges(conn, workers)
        if executor is None:
            failing = await project_range(pool, *ranges[0])
        else:
            jobs = [loop.run_in_executor(executor, _project_in_process, database_url, schema, low, high)
                    for low, high in ranges]
            failing = [rid for found in await asyncio.gather(*jobs) for rid in found]
        if failing:
            result.events += await _apply_again(pool, sorted(failing), result)
        async with pool.acquire() as conn:
            await store.set_erased_people(conn)  # the erasures of pass 3, as live wrote them
            await _restore(conn, [sql for table, sql in restore if table != "ledger"])
        result.passes["projections"] = time.monotonic() - clock
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)


class LogTruncated(RuntimeError):
    """A topic the rebuild replays no longer starts at offset 0: records were deleted (by
    retention or DeleteRecords) and a replay cannot give back the ledger they made."""

    def __init__(self, starts: dict[TopicPartition, int]) -> None:
        self.starts = starts
        where = ", ".join(f"{tp.topic} partition {tp.partition} at {offset}" for tp, offset in sorted(starts.items()))
        super().__init__(
            f"refusing to rebuild: these logs no longer start at offset 0 ({where}). Their first records were "
            "deleted (retention or DeleteRecords), so a replay would build less than the live ledger holds and "
            "report a mismatch that is not one. Keep the ledger's source topics whole (retention.ms=-1, or tiered "
            "storage; docs/deploy.md, 'Topic settings') and restore the lost records before rebuilding."
        )


async def end_offsets(bootstrap: str, topics: list[str]) -> dict[TopicPartition, int]:
    """The end offset of every partition of `topics`, once each is known to start at offset 0
    (LogTruncated otherwise)."""
    consumer = AIOKafkaConsumer(**client_options(bootstrap), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topics)
        starts = await consumer.beginning_offsets(partitions)
        cut = {tp: offset for tp, offset in starts.items() if offset > 0}
        if cut:
            raise LogTruncated(cut)
        return await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


def _shares(ends: dict[TopicPartition, int], workers: int) -> list[dict[TopicPartition, int]]:
    """The partitions in `workers` shares of about the same number of records."""
    shares: list[dict[TopicPartition, int]] = [{} for _ in range(workers)]
    sizes = [0] * workers
    for tp, end in sorted(ends.items(), key=lambda item: -item[1]):
        i = sizes.index(min(sizes))
        shares[i][tp] = end
        sizes[i] += end
    return [s for s in shares if s]


async def load(bootstrap: str, pool: asyncpg.Pool, ends: dict[TopicPartition, int], batch: int) -> Loaded:
    """Pass 1 over these partitions (to their end offsets): events about referrals into the
    ledger, openings and erasures set aside. While one batch is written the next is read."""
    out = Loaded()
    ingest = batch_handler(live=False, project=False)
    seen: set[int] = set()
    consumer = AIOKafkaConsumer(**client_options(bootstrap), enable_auto_commit=False, max_poll_records=batch,
                                max_partition_fetch_bytes=FETCH_BYTES)
    await consumer.start()
    writing: asyncio.Task[int] | None = None
    tally = Result("")
    sweeps = heap.Sweeps(SWEEP_EVERY)
    # The collector paused for the whole pass, a full collection between batches every
    # SWEEP_EVERY records (plumbing.heap.Sweeps: why not around each fetch alone).
    try:
        with heap.paused():
            todo = {tp for tp, end in ends.items() if end > 0}
            consumer.assign(sorted(todo))
            if todo:
                await consumer.seek_to_beginning(*todo)
            while todo:
                fetched = await consumer.getmany(*todo, timeout_ms=500, max_records=batch)
                items = _decode(fetched, ends, tally, seen, out.later)
                if writing is not None:
                    out.events += await writing
                    sweeps.done(len(items))  # the batch written is gone; the one decoded lives
                writing = asyncio.create_task(_apply(pool, ingest, items, tally, fast=True))
                for tp in list(todo):
                    if await consumer.position(tp) >= ends[tp]:
                        todo.discard(tp)
            if writing is not None:
                out.events += await writing
    finally:
        if writing is not None and not writing.done():
            writing.cancel()
        await consumer.stop()
    out.skipped = tally.skipped
    return out


def _decode(fetched: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]], ends: dict[TopicPartition, int],
            tally: Result, seen: set[int], later: list[tuple[str, int, int, bytes]]) -> list[tuple[Envelope, Payload]]:
    """A fetch's records before their partitions' end offsets, decoded as outcomes' consumer
    decodes them: the events about referrals to load (each event id once: `seen`), openings,
    erasures and what is applied after the load set aside in `later`, the rest counted in `tally`.

    With the cyclic collector paused (plumbing.heap.paused, as the consumer decodes): a fetch's
    envelopes and payloads live until its batch is written and none is in a cycle, so
    collections meanwhile only walked them again, in each generation they were promoted to:
    at 10,000 referrals in one process, the collector took 52 us of CPU an event of the passes'
    130 before (docs/performance.md, fourteenth session)."""
    items = []
    with heap.paused():
        for tp, records in fetched.items():
            for r in records:
                if r.offset >= ends[tp]:
                    continue
                item = _parse(r.value, tally)
                if item is None:
                    continue
                if type(item[1]) in _LATER_TYPES:
                    later.append((r.topic, r.partition, r.offset, r.value))
                elif item[0].id.int in seen:
                    tally.skipped[REPEATED] += 1
                else:
                    seen.add(item[0].id.int)
                    items.append(item)
    return items


def _load_in_process(bootstrap: str, database_url: str, schema: str, ends: dict[TopicPartition, int],
                     batch: int) -> Loaded:
    async def run() -> Loaded:
        # A worker's imports live as long as it: frozen out of the collector's way, as a service's.
        heap.settle(heap.SERVICE_YOUNG_THRESHOLD)
        pool = await db.create_pool(database_url, schema, max_size=2)
        try:
            return await load(bootstrap, pool, ends, batch)
        finally:
            await pool.close()

    return asyncio.run(run())


async def _drop_indexes(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    """Drop the secondary indexes (and unique constraints) of the tables in
    `DEFERRED_INDEXES`; returns (table, statement) that build each again, as it was."""
    rows = await conn.fetch(
        "SELECT t.relname AS table_name, i.relname AS index_name, pg_get_indexdef(i.oid) AS index_def,"
        " c.conname, pg_get_constraintdef(c.oid) AS constraint_def"
        " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
        " LEFT JOIN pg_constraint c ON c.conindid = i.oid AND c.conrelid = t.oid"
        " WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY($1::text[])"
        " AND NOT x.indisprimary ORDER BY t.relname, i.relname",
        list(DEFERRED_INDEXES),
    )
    restore = []
    for r in rows:
        if r["conname"]:
            await conn.execute(f'ALTER TABLE {r["table_name"]} DROP CONSTRAINT "{r["conname"]}"')
            restore.append((r["table_name"],
                            f'ALTER TABLE {r["table_name"]} ADD CONSTRAINT "{r["conname"]}" {r["constraint_def"]}'))
        else:
            await conn.execute(f'DROP INDEX "{r["index_name"]}"')
            restore.append((r["table_name"], r["index_def"]))
    return restore


async def _restore(conn: asyncpg.Connection, statements: list[str]) -> None:
    # Index builds on a large ledger outlast the pool's statement timeout; memory to sort in.
    await conn.execute("SET statement_timeout = 0; SET maintenance_work_mem = '256MB'")
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.execute("RESET statement_timeout; RESET maintenance_work_mem")


async def _restore_ledger_indexes(conn: asyncpg.Connection, restore: list[tuple[str, str]]) -> int:
    """Pass 2: build the ledger's indexes. An event that two workers both appended (the same
    event id on two partitions) is kept once, the first row; returns how many rows went."""
    refused = []
    for sql in (sql for table, sql in restore if table == "ledger"):
        try:
            await _restore(conn, [sql])
        except asyncpg.UniqueViolationError:
            refused.append(sql)
    if not refused:
        return 0
    async with conn.transaction():
        # The append-only trigger guards the ledger against everything but redaction; this
        # ledger is the rebuild's own, not yet complete.
        await conn.execute("ALTER TABLE ledger DISABLE TRIGGER ledger_append_only")
        removed = await conn.fetchval(
            "WITH gone AS (DELETE FROM ledger l WHERE EXISTS (SELECT 1 FROM ledger f"
            " WHERE f.event_id = l.event_id AND f.seq < l.seq) RETURNING 1) SELECT count(*) FROM gone"
        )
        await conn.execute("ALTER TABLE ledger ENABLE TRIGGER ledger_append_only")
    await _restore(conn, refused)
    return removed


async def _referral_ranges(conn: asyncpg.Connection, parts: int) -> list[tuple[str | None, str | None]]:
    """`parts` ranges of referral ids [low, high) with about as many ledger rows each (from
    a sample of the ledger's pages)."""
    if parts <= 1:
        return [(None, None)]
    sample = sorted(r["referral_id"] for r in await conn.fetch(
        "SELECT referral_id FROM ledger TABLESAMPLE SYSTEM (2) WHERE referral_id IS NOT NULL"))
    cuts = sorted({sample[len(sample) * i // parts] for i in range(1, parts)}) if sample else []
    bounds: list[str | None] = [None, *cuts, None]
    return list(zip(bounds, bounds[1:], strict=False))


async def project_range(pool: asyncpg.Pool, low: str | None, high: str | None) -> list[str]:
    """Pass 4 for the referrals with ids in [low, high): each projected from all its ledger
    events, written by COPY. Returns the referrals whose projection failed."""
    failing: list[str] = []
    rows: list[tuple[object, ...]] = []
    sweeps, read = heap.Sweeps(SWEEP_EVERY), 0
    # As the load pass: the collector paused throughout, a sweep between batches.
    with heap.paused():
        async with pool.acquire() as conn:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                current, found = None, []
                async for r in conn.cursor(
                    "SELECT referral_id, event_type, occurred_at, employer_id, partner_id, envelope -> 'data' AS data"
                    " FROM ledger WHERE referral_id IS NOT NULL"
                    " AND ($1::text IS NULL OR referral_id >= $1) AND ($2::text IS NULL OR referral_id < $2)"
                    " ORDER BY referral_id", low, high, prefetch=5000,
                ):
                    read += 1
                    if r["referral_id"] != current:
                        if found:
                            _project_into(rows, failing, current, found)  # type: ignore[arg-type]
                        current, found = r["referral_id"], []
                    found.append(projection.LedgerEvent(r["event_type"], r["occurred_at"], r["employer_id"],
                                                        store.ledger_data(r["data"]), r["partner_id"]))
                    if len(rows) >= BATCH:
                        await _copy_facts(pool, rows)
                        rows = []
                        sweeps.done(read)
                        read = 0
                if found:
                    _project_into(rows, failing, current, found)  # type: ignore[arg-type]
        await _copy_facts(pool, rows)
    return failing


def _project_into(rows: list[tuple[object, ...]], failing: list[str], referral_id: str,
                  found: list[projection.LedgerEvent]) -> None:
    try:
        rows.append((*store._projection_row(referral_id, projection.project(referral_id, found)),  # noqa: SLF001
                     projection.VERSION))
    except Exception:  # noqa: BLE001 - an event live would have dead-lettered: found in `_apply_again`
        failing.append(referral_id)


async def _copy_facts(pool: asyncpg.Pool, rows: list[tuple[object, ...]]) -> None:
    if rows:
        async with pool.acquire() as conn:
            await conn.copy_records_to_table("referral_facts", columns=FACTS_COPY, records=rows)


def _project_in_process(database_url: str, schema: str, low: str | None, high: str | None) -> list[str]:
    async def run() -> list[str]:
        heap.settle(heap.SERVICE_YOUNG_THRESHOLD)
        pool = await db.create_pool(database_url, schema, max_size=2)
        try:
            return await project_range(pool, low, high)
        finally:
            await pool.close()

    return asyncio.run(run())


async def _apply_again(pool: asyncpg.Pool, referral_ids: list[str], result: Result) -> int:
    """The referrals whose projection failed: their events out of the ledger, then applied
    again in the order they were loaded through the live handler, which finds the one that
    fails (the one live dead-lettered). Returns how many more were applied than taken out."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE ledger DISABLE TRIGGER ledger_append_only")  # (the rebuild's own ledger)
        rows = await conn.fetch(
            "DELETE FROM ledger WHERE referral_id = ANY($1::text[]) RETURNING seq, envelope", referral_ids)
        await conn.execute("ALTER TABLE ledger ENABLE TRIGGER ledger_append_only")
    items = [_parse(r["envelope"].encode(), result) for r in sorted(rows, key=lambda r: r["seq"])]
    return await _apply_all(pool, batch_handler(live=False), items, result, one_batch_each=True) - len(rows)


async def _apply_all(pool: asyncpg.Pool, ingest: BatchHandler, items: list[tuple[Envelope, Payload] | None],
                     result: Result, one_batch_each: bool = False) -> int:
    """Apply `items` (None: skipped already) in order, in batches of at most BATCH."""
    todo = [item for item in items if item is not None]
    size = 1 if one_batch_each else BATCH
    applied = 0
    for start in range(0, len(todo), size):
        applied += await _apply(pool, ingest, todo[start:start + size], result)
    return applied


async def _apply(pool: asyncpg.Pool, ingest: BatchHandler, items: list[tuple[Envelope, Payload]],
                 result: Result, fast: bool = False) -> int:
    """Apply `items` in one transaction; if that fails for anything but a fault, in halves,
    in order, down to the one event that fails alone, which is skipped. Returns how many
    were applied. `fast`: this transaction may be lost in a crash (the rebuild starts over)."""
    if not items:
        return 0
    try:
        async with pool.acquire() as conn, conn.transaction():
            if fast:
                await conn.execute("SET LOCAL synchronous_commit = off")
            await ingest(_DEPS.bind(conn), items)
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
        return (await _apply(pool, ingest, items[:middle], result, fast)
                + await _apply(pool, ingest, items[middle:], result, fast))


def _once(items: list[tuple[Envelope, Payload] | None], result: Result) -> list[tuple[Envelope, Payload] | None]:
    """Each event of pass 3 once, the first in the partitions' order: a repeat is a duplicate
    live (the ledger keeps its first delivery), counted as pass 1 counts its repeats, so it is
    neither applied again nor counted among the events."""
    seen: set[object] = set()
    out: list[tuple[Envelope, Payload] | None] = []
    for item in items:
        if item is not None and item[0].id in seen:
            result.skipped[REPEATED] += 1
            continue
        if item is not None:
            seen.add(item[0].id)
        out.append(item)
    return out


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


# Records a worker process should have to be worth starting. A spawned worker imports the
# service anew, about 1.6 s of CPU (eleventh session), what loading some 45,000 records costs
# (about 35 us each): a rebuild of fewer records than two workers' worth runs in this process,
# sparing the starts (about 30 us an event of a 100,000-event rebuild, 90 of a 30,000-event one).
# Not fewer workers than that at 100,000 events: one process there took 10-15 % less CPU but
# 1.5 times as long on the shared machine (docs/performance.md, eleventh session).
RECORDS_PER_WORKER = 40_000


def default_workers(records: int, cpus: int) -> int:
    """Processes for a rebuild of `records` records (the topics' end offsets, summed): one per
    CPU at most, and one per `RECORDS_PER_WORKER` records (in this process below that)."""
    return max(1, min(cpus, records // RECORDS_PER_WORKER))


def _cpu_of_process_and_children() -> float:
    """User and system seconds of this process and of its children that ended (the workers,
    once the pool has shut down)."""
    own, ended = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + ended.ru_utime + ended.ru_stime


async def rebuild(
    bootstrap: str, database_url: str, schema: str = "outcomes_rebuild", batch: int = BATCH,
    topics: Sequence[str] | None = None, workers: int | None = None,
    replayed: Callable[[], object] | None = None,
) -> Result:
    """Rebuild into `schema` (`workers` processes; by default one per CPU, fewer for a short
    history: `default_workers`) and compare the
    hashes with the live schema's. `replayed` is called once the passes are done, before the
    hashing (a benchmark reads its meters there). LogTruncated when a topic's log no longer
    starts at offset 0."""
    result = Result(schema)
    # Refused before anything is dropped.
    ends = await end_offsets(bootstrap, list(topics or [t.name for t in DEFINITION.consumes]))
    workers = result.workers = workers or default_workers(sum(ends.values()), os.cpu_count() or 1)
    pool = await fresh_schema(database_url, schema)
    try:
        started, cpu = time.monotonic(), _cpu_of_process_and_children()
        await replay(bootstrap, pool, result, batch, topics, database_url=database_url, workers=workers)
        result.seconds = time.monotonic() - started
        result.cpu_seconds = _cpu_of_process_and_children() - cpu
        if replayed is not None:
            replayed()
        result.hashes["rebuilt"] = await content_hash(pool)
    finally:
        await pool.close()
    live = await db.create_pool(database_url, DEFINITION.name)
    try:
        result.hashes["live"] = await content_hash(live)
    finally:
        await live.close()
    return result

