"""Transactional outbox: events are written with the state change, then relayed to Kafka.

A service calls `enqueue` inside the transaction that changes its state, so the change
and the events it implies commit or vanish together. `OutboxRelay` claims unpublished
rows with FOR UPDATE SKIP LOCKED (insert order is not commit order, so it never tails an
id sequence), publishes them through an idempotent producer, waits for every ack, and
only then marks them published. A crash between the acks and the mark republishes the
batch: consumers' inboxes make that harmless.

Each row keeps the W3C trace context (`traceparent`, `tracestate`) of the span that wrote
it (an HTTP request, a consumed event); the relay sends it as Kafka headers, so the trace
continues in whichever consumer reads the event (`plumbing/tracing.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import asyncpg
from aiokafka import AIOKafkaProducer

from contracts import Envelope, build
from contracts.events import Payload
from plumbing import metrics, tracing
from plumbing.kafka import CONTENT_TYPE_HEADER
from plumbing.logging import get_logger

log = get_logger(__name__)

CLAIM = """
SELECT id, topic, key, value, traceparent, tracestate FROM outbox
WHERE published_at IS NULL
ORDER BY id
LIMIT $1
FOR UPDATE SKIP LOCKED
"""


async def enqueue(conn: asyncpg.Connection, envelope: Envelope, payload_type: type[Payload]) -> None:
    await enqueue_many(conn, [(envelope, payload_type)])


async def enqueue_many(conn: asyncpg.Connection, items: list[tuple[Envelope, type[Payload]]]) -> None:
    """Several events in one round trip (bulk imports write thousands per transaction).

    They carry the trace context current here (none outside a span).
    """
    traceparent, tracestate = tracing.outbox_context()
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, value, traceparent, tracestate)"
        " SELECT *, $5::text, $6::text FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[])",
        [env.id for env, _ in items],
        [model.topic.name for _, model in items],
        [env.subject for env, _ in items],
        [env.to_bytes() for env, _ in items],
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
    envelope = build(
        payload,
        source=source,
        correlation_id=correlation_id,
        causation_id=causation_id,
        partner_id=partner_id,
        employer_id=employer_id,
    )
    await enqueue(conn, envelope, type(payload))
    return envelope


async def backlog(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")


async def backlog_and_age(pool: asyncpg.Pool) -> tuple[int, float]:
    """Unpublished rows and the age in seconds of the oldest of them (0 if none)."""
    row = await pool.fetchrow(
        "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS age"
        " FROM outbox WHERE published_at IS NULL"
    )
    return row["n"], max(0.0, row["age"])


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        batch: int = 200,
        poll_s: float = 0.5,
        service: str | None = None,
    ) -> None:
        self._pool = pool
        self._service = service  # the metrics label; by default the schema the pool uses
        self._producer = producer
        self._batch = batch
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self.published = 0

    async def publish_once(self) -> int:
        """Publish one batch; return how many rows it published."""
        async with self._pool.acquire() as conn, conn.transaction():
            if self._service is None:
                self._service = await conn.fetchval("SELECT current_schema()")
            rows = await conn.fetch(CLAIM, self._batch)
            if not rows:
                return 0
            sent = [
                await self._producer.send(
                    r["topic"],
                    r["value"],
                    key=r["key"].encode(),
                    headers=[CONTENT_TYPE_HEADER, *tracing.kafka_headers(r["traceparent"], r["tracestate"])],
                )
                for r in rows
            ]
            await asyncio.gather(*sent)
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
            )
        self.published += len(rows)
        for topic, n in Counter(r["topic"] for r in rows).items():
            metrics.published(self._service, topic, n)
        return len(rows)

    async def run(self) -> None:
        listener = await self._pool.acquire()
        schema = await listener.fetchval("SELECT current_schema()")
        channel = f"outbox_{schema}"
        await listener.add_listener(channel, self._on_notify)
        try:
            while True:
                try:
                    if await self.publish_once() == self._batch:
                        continue
                except Exception as exc:  # noqa: BLE001 - broker or database away
                    # The rows stay unpublished (the transaction rolled back); try again later.
                    log.warning("outbox.publish_failed", error=repr(exc))
                    await asyncio.sleep(1.0)
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_s)
        finally:
            with contextlib.suppress(Exception):
                await listener.remove_listener(channel, self._on_notify)
            await self._pool.release(listener)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()
