"""Transactional outbox: events are written with the state change, then relayed to Kafka.

A service calls `enqueue` inside the transaction that changes its state, so the change
and the events it implies commit or vanish together. `OutboxRelay` publishes the rows in
id order through an idempotent producer (acks=all), waits for every ack, and only then
marks them published. A crash between the acks and the mark republishes them: consumers'
inboxes make that harmless.

- **One relay per service at a time.** Several processes of a service may run; each runs a
  relay, but only the one holding the service's advisory lock publishes (the others try
  again every poll), so one key's events reach Kafka in outbox order. The lock lives with
  the relay's own connection: a relay whose process or connection dies loses it at once,
  and another takes over within one poll interval.
- **The leader polls, no NOTIFY.** While it leads, the relay looks for new rows every
  `idle_poll_s` (50 ms) when the last round found fewer than a batch (at once otherwise);
  the query is one probe of a partial index. A `pg_notify` at commit would wake it sooner,
  but PostgreSQL serializes every notifying commit of the cluster on one lock held through
  the WAL flush: under load, commits that wrote to an outbox went one at a time (measured:
  62 % of the database's active samples waiting to commit in the gateway's load test).
- **The mark stays on the row's page.** The table keeps half of each page free
  (fillfactor 50), so marking a row published puts its new version beside the old one,
  where PostgreSQL logs only the bytes that changed: about 250 bytes of WAL a row instead
  of the whole row again (1.5 KB: the mark had written as much WAL as the insert, 8.7 KB
  per referral in the pipeline benchmark). A heap-only mark (no index entries either) would
  need no index to name `published_at`; keeping the unpublished ids in a table of their own
  for that (`009_outbox_pending.sql`, undone by `010_outbox_unpublished_index.sql`) made
  every claim walk that table's dead entries: 4.6 ms a claim instead of 0.2.
- **Poison is parked, not retried forever.** A row Kafka refuses for what it is (too large,
  an invalid topic) is parked with the reason; later rows of the same key wait behind it,
  rows of other keys flow. Operators list, release (`retry`) or `discard` parked rows
  (`talentloop outbox …`, the console). A broker or database fault parks nothing: the
  rows stay unpublished and the relay tries again.

Each row keeps the W3C trace context (`traceparent`, `tracestate`) of the span that wrote
it (an HTTP request, a consumed event); the relay sends it as Kafka headers, so the trace
continues in whichever consumer reads the event (`plumbing/tracing.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaProducer

from contracts import Envelope
from contracts.events import Payload
from contracts.registry import Encoded, encode
from plumbing import metrics, tracing
from plumbing.faults import describe, is_infrastructure
from plumbing.kafka import CONTENT_TYPE_HEADER
from plumbing.logging import get_logger

log = get_logger(__name__)

# Unpublished rows in id order, except parked ones and any row behind a parked row of its key.
CLAIM = """
SELECT id, topic, key, value, traceparent, tracestate FROM outbox o
WHERE published_at IS NULL AND parked_at IS NULL
  AND NOT EXISTS (
    SELECT 1 FROM outbox p
    WHERE p.key = o.key AND p.id < o.id AND p.parked_at IS NOT NULL AND p.published_at IS NULL
  )
ORDER BY id
LIMIT $1
"""


async def enqueue(conn: asyncpg.Connection, envelope: Envelope, payload_type: type[Payload]) -> None:
    await enqueue_many(conn, [(envelope, payload_type)])


# $5, $6: the trace context, the same for every row.
INSERT = """
INSERT INTO outbox (event_id, topic, key, value, traceparent, tracestate)
SELECT *, $5::text, $6::text FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[])
"""


async def enqueue_many(conn: asyncpg.Connection, items: list[tuple[Envelope, type[Payload]]]) -> None:
    """Several events in one round trip (bulk imports write thousands per transaction).

    They carry the trace context current here (none outside a span).
    """
    traceparent, tracestate = tracing.outbox_context()
    await conn.execute(
        INSERT,
        [env.id for env, _ in items],
        [model.topic.name for _, model in items],
        [env.subject for env, _ in items],
        [env.to_bytes() for env, _ in items],
        traceparent,
        tracestate,
    )


async def enqueue_encoded(conn: asyncpg.Connection, items: Sequence[Encoded]) -> None:
    """`enqueue_many` for events already written (`contracts.registry.encode`): what
    `Context.emit_many` uses."""
    traceparent, tracestate = tracing.outbox_context()
    await conn.execute(
        INSERT,
        [e.id for e in items],
        [e.payload.topic.name for e in items],
        [e.subject for e in items],
        [e.value for e in items],
        traceparent,
        tracestate,
    )


async def emit(
    conn: asyncpg.Connection,
    payload: Payload,
    *,
    source: str,
    correlation_id: str,
    causation_id: str | None = None,
    partner_id: str | None = None,
    employer_id: str | None = None,
) -> Envelope:
    """Wrap `payload` in a new envelope and put it in the outbox of this transaction."""
    encoded = encode(
        payload,
        source=source,
        correlation_id=correlation_id,
        causation_id=causation_id,
        partner_id=partner_id,
        employer_id=employer_id,
    )
    await enqueue_encoded(conn, [encoded])
    return encoded.envelope()


async def backlog(pool: asyncpg.Pool) -> int:
    """Rows waiting to be published, parked ones included."""
    return await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")


async def backlog_and_age(pool: asyncpg.Pool) -> tuple[int, float, int]:
    """Unpublished rows, the age in seconds of the oldest of them (0 if none), parked rows."""
    row = await pool.fetchrow(
        "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS age,"
        " count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked"
        " FROM outbox WHERE published_at IS NULL"
    )
    return row["n"], max(0.0, row["age"]), row["parked"]


@dataclass(frozen=True)
class ParkedRow:
    id: int
    event_id: uuid.UUID
    topic: str
    key: str
    size: int
    parked_at: datetime
    reason: str
    waiting_behind: int  # later rows of the same key held back by this one


async def parked(conn: asyncpg.Connection | asyncpg.Pool, limit: int = 100) -> list[ParkedRow]:
    """Parked rows, oldest first, with how many rows of their key wait behind them."""
    rows = await conn.fetch(
        "SELECT p.id, p.event_id, p.topic, p.key, octet_length(p.value) AS size, p.parked_at, p.park_reason,"
        " (SELECT count(*) FROM outbox w WHERE w.key = p.key AND w.id > p.id AND w.published_at IS NULL) AS waiting"
        " FROM outbox p WHERE p.parked_at IS NOT NULL AND p.published_at IS NULL ORDER BY p.id LIMIT $1",
        limit,
    )
    return [
        ParkedRow(r["id"], r["event_id"], r["topic"], r["key"], r["size"], r["parked_at"], r["park_reason"], r["waiting"])
        for r in rows
    ]


async def release(conn: asyncpg.Connection | asyncpg.Pool, ids: list[int]) -> int:
    """Let the relay try parked rows again (after the cause was fixed, e.g. a topic's limit
    raised). Returns how many were released."""
    result = await conn.execute(
        "UPDATE outbox SET parked_at = NULL, park_reason = NULL"
        " WHERE id = ANY($1::bigint[]) AND parked_at IS NOT NULL AND published_at IS NULL",
        ids,
    )
    return int(result.split()[-1])


async def discard(conn: asyncpg.Connection | asyncpg.Pool, ids: list[int], by: str) -> int:
    """Give up on parked rows: never published, kept for the record, no longer blocking
    their key. Returns how many were discarded."""
    result = await conn.execute(
        "UPDATE outbox SET published_at = now(), discarded_at = now(),"
        " park_reason = park_reason || ' (discarded by ' || $2 || ')'"
        " WHERE id = ANY($1::bigint[]) AND parked_at IS NOT NULL AND published_at IS NULL",
        ids,
        by,
    )
    return int(result.split()[-1])


class OutboxRelay:
    """Publishes one service's outbox while it holds the service's relay lock."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        batch: int = 500,
        poll_s: float = 0.5,
        service: str | None = None,
        idle_poll_s: float = 0.05,
    ) -> None:
        self._pool = pool
        self._service = service  # the metrics label; by default the schema the pool uses
        self._producer = producer
        self._batch = batch
        self._poll_s = poll_s  # a follower's tries for the lock
        self._idle_poll_s = idle_poll_s  # the leader's looks for new rows
        self._wake = asyncio.Event()
        self.published = 0
        self.parked = 0
        self.leading = False

    async def publish_once(self, conn: asyncpg.Connection | None = None) -> int:
        """Publish one batch of rows through `conn` (the leader's own connection; a pooled
        one if None); returns how many rows it dealt with (published or parked). Raises on a
        broker or database fault: nothing is marked then but what Kafka acknowledged."""
        if conn is None:
            async with self._pool.acquire() as pooled:
                return await self.publish_once(pooled)
        rows = await conn.fetch(CLAIM, self._batch)
        if not rows:
            return 0
        sent: list[tuple[asyncpg.Record, asyncio.Future[object]]] = []
        refused: dict[int, str] = {}
        blocked_keys: set[str] = set()
        for r in rows:
            if r["key"] in blocked_keys:
                continue  # behind a row of its key parked in this very batch
            try:
                future = await self._producer.send(
                    r["topic"],
                    r["value"],
                    key=r["key"].encode(),
                    headers=[CONTENT_TYPE_HEADER, *tracing.kafka_headers(r["traceparent"], r["tracestate"])],
                )
            except Exception as exc:
                if is_infrastructure(exc):
                    raise
                refused[r["id"]] = describe(exc)
                blocked_keys.add(r["key"])
                continue
            sent.append((r, future))
        results = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
        published: list[int] = []
        fault: BaseException | None = None
        for (r, _), result in zip(sent, results, strict=True):
            if not isinstance(result, BaseException):
                published.append(r["id"])
            elif is_infrastructure(result):
                fault = fault or result
            else:
                refused[r["id"]] = describe(result)
        async with conn.transaction():
            if published:
                await conn.execute("UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", published)
            for row_id, reason in refused.items():
                await conn.execute("UPDATE outbox SET parked_at = now(), park_reason = $2 WHERE id = $1", row_id, reason)
        self._count(rows, published, refused)
        if fault is not None:
            raise fault
        return len(published) + len(refused)

    def _count(self, rows: list[asyncpg.Record], published: list[int], refused: dict[int, str]) -> None:
        self.published += len(published)
        self.parked += len(refused)
        done = set(published)
        topics = Counter(r["topic"] for r in rows if r["id"] in done)
        for topic, n in topics.items():
            metrics.published(self._service or "unknown", topic, n)
        for r in rows:
            if r["id"] in refused:
                log.error("outbox.parked", outbox_id=r["id"], topic=r["topic"], reason=refused[r["id"]][:500])

    async def run(self) -> None:
        """Lead when the lock is free, publish while leading; a fault is waited out."""
        while True:
            try:
                await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker or database away: rows stay unpublished
                log.warning("outbox.publish_failed", error=describe(exc, 500))
                renew = getattr(self._producer, "renew_if_needed", None)  # plumbing.kafka.RenewingProducer
                if renew is not None:
                    with contextlib.suppress(Exception):  # the broker still away: renewed on a later fault
                        await renew(exc)
                await asyncio.sleep(1.0)
            finally:
                self.leading = False

    async def _lead(self) -> None:
        async with self._pool.acquire() as conn:
            schema = await conn.fetchval("SELECT current_schema()")
            self._service = self._service or schema
            while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", f"outbox relay {schema}"):
                await self._sleep(self._poll_s)  # another process of this service publishes
            self.leading = True
            try:
                while True:
                    if await self.publish_once(conn) >= self._batch:
                        continue
                    await self._sleep(self._idle_poll_s)
            finally:
                if not conn.is_closed():
                    await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"outbox relay {schema}")

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def wake(self) -> None:
        """Look for rows now (a test, or code that knows it just committed some)."""
        self._wake.set()
