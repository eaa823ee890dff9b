"""Transactional outbox: events are written with the state change, then relayed to Kafka.

A service calls `enqueue` inside the transaction that changes its state, so the change
and the events it implies commit or vanish together. `OutboxRelay` claims unpublished
rows with FOR UPDATE SKIP LOCKED (insert order is not commit order, so it never tails an
id sequence), publishes them through an idempotent producer, waits for every ack, and
only then marks them published. A crash between the acks and the mark republishes the
batch: consumers' inboxes make that harmless.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
from aiokafka import AIOKafkaProducer

from contracts import Envelope, build
from contracts.events import Payload
from plumbing.kafka import CONTENT_TYPE_HEADER
from plumbing.logging import get_logger

log = get_logger(__name__)

CLAIM = """
SELECT id, topic, key, value FROM outbox
WHERE published_at IS NULL
ORDER BY id
LIMIT $1
FOR UPDATE SKIP LOCKED
"""


async def enqueue(conn: asyncpg.Connection, envelope: Envelope, payload_type: type[Payload]) -> None:
    await enqueue_many(conn, [(envelope, payload_type)])


async def enqueue_many(conn: asyncpg.Connection, items: list[tuple[Envelope, type[Payload]]]) -> None:
    """Several events in one round trip (bulk imports write thousands per transaction)."""
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, value)"
        " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[])",
        [env.id for env, _ in items],
        [model.topic.name for _, model in items],
        [env.subject for env, _ in items],
        [env.to_bytes() for env, _ in items],
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


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        batch: int = 200,
        poll_s: float = 0.5,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._batch = batch
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self.published = 0

    async def publish_once(self) -> int:
        """Publish one batch; return how many rows it published."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(CLAIM, self._batch)
            if not rows:
                return 0
            sent = [
                await self._producer.send(
                    r["topic"], r["value"], key=r["key"].encode(), headers=[CONTENT_TYPE_HEADER]
                )
                for r in rows
            ]
            await asyncio.gather(*sent)
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
            )
        self.published += len(rows)
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
