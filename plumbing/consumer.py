"""Applying events exactly once in effect: inbox, bounded retries, dead letters.

`EventConsumer.process` is the whole delivery policy for one Kafka record, independent
of the client library that fetched it:

1. Bytes that are not a valid event (bad JSON, bad envelope, a type or version this
   build does not know, bad payload) go straight to the consumer's dead-letter topic:
   retrying cannot fix them; after an upgrade they can be replayed.
2. Known event types this consumer has no handler for are skipped (others own them).
   Older versions are upcast, so a handler sees only the newest model.
3. The handler runs inside one PostgreSQL transaction together with the inbox claim, so a
   redelivered event id changes nothing, and the effect and its outgoing events (outbox)
   commit together.
4. `Rejected` (the domain refuses the fact) is dead-lettered at once with its reason; any
   other error is retried with backoff up to `max_attempts`, then dead-lettered. The
   partition is held only for those bounded retries.

The offset may be committed only after `process` returns. If the dead-letter publish
itself fails, `process` raises, so the record is not committed and comes back.

`handle` is what the subscriber calls: `process` inside a consumer span that continues the
trace the record's `traceparent` header carries (so events the handler emits carry it on),
counted and timed in the process's metrics (`plumbing/metrics.py`).
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaProducer
from opentelemetry.trace import Status, StatusCode

from contracts import ContractError, Envelope, latest_type, payload_of
from contracts.events import Payload
from contracts.topics import dead_letter_topic
from plumbing import inbox, metrics, tracing
from plumbing.logging import bind_context, get_logger, unbind_context

log = get_logger(__name__)

Handler = Callable[[asyncpg.Connection, Envelope, Payload], Awaitable[None]]
# Applies several events at once (set-based), in the caller's transaction.
BatchHandler = Callable[[asyncpg.Connection, list[tuple[Envelope, Payload]]], Awaitable[None]]


class Rejected(Exception):
    """The domain refuses this event (e.g. a transition the lifecycle forbids)."""


@dataclass(frozen=True)
class Record:
    """What we need of a Kafka record, whichever client fetched it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()


Effect = Callable[[asyncpg.Connection], Awaitable[None]]


@dataclass
class _Delivery:
    """What `process` learns about the record in hand, for `handle`'s span and metrics."""

    event_type: str


_delivery: contextvars.ContextVar[_Delivery | None] = contextvars.ContextVar("talentloop_delivery", default=None)


def _note_event_type(event_type: str) -> None:
    delivery = _delivery.get()
    if delivery is not None:
        delivery.event_type = event_type


@dataclass
class RecordConsumer:
    """Inbox, bounded retries and dead letters for one consumer, whatever its records are."""

    name: str
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    max_attempts: int = 3
    backoff_s: float = 0.2
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def dead_letter_topic(self) -> str:
        return dead_letter_topic(self.name)

    # The `event_type` label of records whose type `process` does not name (a partner's raw
    # record, bytes that are not an event).
    record_type = "record"

    async def process(self, record: Record) -> str:
        raise NotImplementedError

    async def handle(self, record: Record) -> str:
        """`process` in a consumer span (child of the record's trace context), counted and timed."""
        delivery = _Delivery(self.record_type)
        token = _delivery.set(delivery)
        start = time.perf_counter()
        try:
            with tracing.consumer_span(record.topic, record.headers, self.name) as span:
                outcome = await self.process(record)
                span.set_attribute("talentloop.event_type", delivery.event_type)
                span.set_attribute("talentloop.outcome", outcome)
                if outcome == "dead_lettered":
                    span.set_status(Status(StatusCode.ERROR, "dead-lettered"))
        finally:
            _delivery.reset(token)
            # What `process` bound describes this record only; the next one starts clean.
            unbind_context("correlation_id", "event_id", "event_type")
        metrics.consumed(self.name, record.topic, delivery.event_type, outcome, time.perf_counter() - start)
        return outcome

    async def apply(self, record: Record, claim_id: uuid.UUID, effect: Effect) -> str:
        """Run `effect` once per `claim_id`, in one transaction with the inbox claim."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    if not await inbox.claim(conn, self.name, claim_id):
                        return self._count("duplicate")
                    await effect(conn)
                return self._count("applied")
            except Rejected as exc:
                await self.dead_letter(record, f"rejected: {exc}", "Rejected", attempts=attempt)
                return self._count("dead_lettered")
            except Exception as exc:  # noqa: BLE001 - any failure is retried, then dead-lettered
                log.warning("consumer.attempt_failed", attempt=attempt, error=repr(exc))
                if attempt == self.max_attempts:
                    await self.dead_letter(record, f"failed after {attempt} attempts: {exc!r}", type(exc).__name__, attempt)
                    return self._count("dead_lettered")
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    async def dead_letter(
        self, record: Record, reason: str, error_type: str, attempts: int, extra: Sequence[tuple[str, bytes]] = ()
    ) -> str:
        headers = [
            *[(k, v) for k, v in record.headers if not k.startswith("dlq.")],
            ("dlq.reason", reason.encode()[:4000]),
            ("dlq.error_type", error_type.encode()),
            ("dlq.consumer", self.name.encode()),
            ("dlq.original_topic", record.topic.encode()),
            ("dlq.original_partition", str(record.partition).encode()),
            ("dlq.original_offset", str(record.offset).encode()),
            ("dlq.attempts", str(attempts).encode()),
            ("dlq.failed_at", datetime.now(UTC).isoformat().encode()),
            *extra,
        ]
        await self.producer.send_and_wait(
            self.dead_letter_topic, record.value or b"", key=record.key, headers=headers
        )
        log.error("consumer.dead_lettered", reason=reason, topic=record.topic, offset=record.offset)
        metrics.dead_lettered(self.name, record.topic, error_type)
        return self._count("dead_lettered")

    def _count(self, outcome: str) -> str:
        self.counts[outcome] += 1
        return outcome


@dataclass
class EventConsumer(RecordConsumer):
    handlers: dict[str, Handler] = field(default_factory=dict)
    # When set, the subscriber hands over records in batches (`process_batch`).
    batch_handler: BatchHandler | None = None

    def __post_init__(self) -> None:
        stale = [t for t in self.handlers if latest_type(t) != t]
        if stale:
            raise ValueError(f"handlers must be registered for the newest versions, not {stale}")

    record_type = "invalid"  # until the envelope is parsed

    async def process(self, record: Record) -> str:
        """Apply one record; returns applied, duplicate, ignored or dead_lettered."""
        try:
            envelope = Envelope.from_bytes(record.value)
            _note_event_type(envelope.type)
            # Handlers are registered for the newest version; older ones are upcast to it.
            handler = self.handlers.get(latest_type(envelope.type))
            if handler is None:
                return self._count("ignored")
            payload = payload_of(envelope)
        except ContractError as exc:
            return await self.dead_letter(record, f"contract: {exc}", "ContractError", attempts=1)

        bind_context(correlation_id=envelope.correlationid, event_id=str(envelope.id), event_type=envelope.type)

        async def effect(conn: asyncpg.Connection) -> None:
            await handler(conn, envelope, payload)

        return await self.apply(record, envelope.id, effect)

    async def process_batch(self, records: list[Record]) -> Counter[str]:
        """Several records in one transaction: one inbox statement, the batch handler, one
        commit. Bytes that are not events are dead-lettered and unhandled types skipped, as in
        `process`. If the batch fails, each record goes through `process` on its own, with
        its retries and dead letter, so one bad event costs its batch only time.

        Records are not traced one by one here (no consumer span per record)."""
        outcomes: Counter[str] = Counter()
        parsed: list[tuple[Record, Envelope, Payload]] = []
        start = time.perf_counter()
        for record in records:
            try:
                envelope = Envelope.from_bytes(record.value)
                if self.handlers.get(latest_type(envelope.type)) is None:
                    outcomes[self._count("ignored")] += 1
                    metrics.consumed(self.name, record.topic, envelope.type, "ignored", 0.0)
                    continue
                parsed.append((record, envelope, payload_of(envelope)))
            except ContractError as exc:
                outcomes[await self.dead_letter(record, f"contract: {exc}", "ContractError", attempts=1)] += 1
                metrics.consumed(self.name, record.topic, self.record_type, "dead_lettered", 0.0)
        if not parsed:
            return outcomes
        assert self.batch_handler is not None
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                fresh = await inbox.claim_many(conn, self.name, [env.id for _, env, _ in parsed])
                new, seen = [], set()
                for _, env, payload in parsed:
                    if env.id in fresh and env.id not in seen:
                        seen.add(env.id)
                        new.append((env, payload))
                await self.batch_handler(conn, new)
        except Exception as exc:  # noqa: BLE001 - one by one: retries and dead letters as usual
            log.warning("consumer.batch_failed", records=len(parsed), error=repr(exc))
            for record, _, _ in parsed:
                outcomes[await self.handle(record)] += 1
            return outcomes
        share = (time.perf_counter() - start) / len(parsed)
        for record, env, _ in parsed:
            first = env.id in seen  # applied now: only its first copy in the batch counts so
            seen.discard(env.id)
            outcome = self._count("applied" if first else "duplicate")
            outcomes[outcome] += 1
            metrics.consumed(self.name, record.topic, env.type, outcome, share)
        return outcomes
