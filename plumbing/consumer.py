"""Applying records exactly once in effect, a batch at a time: inbox, splits, dead letters.

`RecordConsumer.process_batch` is the whole delivery policy for a batch of records (of one
topic, each partition's in offset order), independent of the client that fetched them (`plumbing/consume_loop.py` owns
the Kafka side: fetching, pausing, committing):

1. Each record is decoded first (`decode`, pure; the whole batch with the garbage collector
   paused, `_decode_all`). Whatever it raises (bad JSON, deep nesting, a 5,000-digit number,
   an unknown type, an impossible date, a bad payload) the record is poison: it is
   dead-lettered with the reason and its original bytes, at once, since retrying cannot fix
   it. Records no handler wants are skipped.
2. The rest is applied in ONE PostgreSQL transaction: one inbox statement claims every
   event id (a redelivered id changes nothing), then `apply_items` runs the effects, whose
   outgoing events go to the outbox of the same transaction.
3. If that transaction fails because of the infrastructure (`plumbing/faults.py`), nothing
   is dead-lettered: `InfrastructureFault` goes up and the loop tries the same batch later.
   Any other failure splits the batch in two halves, applied in order, until the failing
   record stands alone; a record alone gets `max_attempts` tries with backoff (a `Rejected`
   one none), then goes to the dead-letter topic. So one bad record costs its batch time
   and itself, never its neighbours.
4. Only when `process_batch` returns may the offsets of its records be committed.

A dead letter that would exceed the topic's record limit is still written: its value is cut
to fit and headers say so and carry the SHA-256 and length of the original.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from opentelemetry.trace import Status, StatusCode

from contracts import ContractError, Envelope, latest_type, payload_of
from contracts.events import Payload
from contracts.topics import HEADER_ALLOWANCE_BYTES, MAX_MESSAGE_BYTES, dead_letter_topic
from plumbing import heap, inbox, metrics, tracing
from plumbing.context import Context, Deps
from plumbing.faults import InfrastructureFault, describe, is_infrastructure
from plumbing.logging import bind_context, get_logger, unbind_context

log = get_logger(__name__)

# A handler gets the transaction and the service's dependencies (plumbing/context.py).
Handler = Callable[[Context, Envelope, Payload], Awaitable[None]]
# Applies several events at once (set-based), in the caller's transaction.
BatchHandler = Callable[[Context, list[tuple[Envelope, Payload]]], Awaitable[None]]


class Rejected(Exception):
    """The domain refuses this event (e.g. a transition the lifecycle forbids): dead-letter it now."""


class Poison(Exception):
    """A record that cannot be decoded; `decode` raises it with the dead letter's reason."""

    def __init__(self, reason: str, error_type: str, extra: Sequence[tuple[str, bytes]] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type
        self.extra = tuple(extra)


def _undecodable(exc: Exception) -> tuple[str, str, int, Sequence[tuple[str, bytes]]]:
    """The dead letter's reason, error type, attempts and extra headers for a record whose
    decoding raised `exc`."""
    if isinstance(exc, Poison):
        return exc.reason, exc.error_type, 1, exc.extra
    if isinstance(exc, ContractError):
        return f"contract: {exc}", "ContractError", 1, ()
    return f"undecodable: {describe(exc)}", type(exc).__name__, 1, ()


@dataclass(frozen=True)
class Record:
    """What we need of a Kafka record, whichever client fetched it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()


@dataclass(frozen=True)
class Item:
    """A decoded record, ready to apply: its inbox id and what the consumer made of it."""

    record: Record
    claim_id: uuid.UUID
    event_type: str
    data: Any = None


@dataclass
class RecordConsumer:
    """Inbox, batches, splits and dead letters for one consumer, whatever its records are."""

    name: str
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    max_attempts: int = 3
    backoff_s: float = 0.2
    counts: Counter[str] = field(default_factory=Counter)

    # The `event_type` label of records that could not be decoded.
    record_type = "record"

    @property
    def dead_letter_topic(self) -> str:
        return dead_letter_topic(self.name)

    def decode(self, record: Record) -> Item | None:
        """The record made ready to apply; None to skip it; raise `Poison` (or anything) to
        dead-letter it. Pure: no I/O, so nothing it raises is an infrastructure fault."""
        raise NotImplementedError

    async def apply_items(self, conn: asyncpg.Connection, items: list[Item]) -> set[uuid.UUID] | None:
        """Apply `items` (claimed in the inbox just now, in record order) in `conn`'s
        transaction. May return the claim ids of items it dead-lettered itself (a refusal
        that should not cost the rest of the batch a split), written before the commit."""
        raise NotImplementedError

    async def process(self, record: Record) -> str:
        """One record as a batch of one; returns applied, duplicate, ignored or dead_lettered."""
        (outcome,) = (await self.process_batch([record])).elements()
        return outcome

    async def process_batch(self, records: Sequence[Record]) -> Counter[str]:
        """Apply `records` (each partition's in offset order); returns the outcomes counted.

        Raises `InfrastructureFault` when the database or the broker failed: then nothing
        may be committed and the same records must come again."""
        outcomes: Counter[str] = Counter()
        items: list[Item] = []
        for record, decoded in zip(records, self._decode_all(records), strict=True):
            if isinstance(decoded, Exception):  # whatever decoding raised, the record is poison
                await self.dead_letter(record, *_undecodable(decoded))
                self._tally(outcomes, record, self.record_type, "dead_lettered")
            elif decoded is None:
                self._tally(outcomes, record, self.record_type, "ignored")
            else:
                items.append(decoded)
        await self._apply_splitting(items, outcomes)
        return outcomes

    def _decode_all(self, records: Sequence[Record]) -> list[Item | None | Exception]:
        """Each record decoded, or what decoding it raised, with the cyclic garbage collector
        paused. Decoding makes most of the containers a batch allocates (the envelopes, their
        data, the payload models: about 40 for a referral.submitted), all alive until the batch
        is applied and none in cycles, so each collection it triggered walked the records
        decoded so far again, for nothing: in support, half of the decoding's CPU
        (docs/performance.md). What the batch made is looked at once, by the first collection
        after it. Decoding is pure (no I/O, no await), so nothing else runs meanwhile."""
        decoded: list[Item | None | Exception] = []
        with heap.paused():
            for record in records:
                try:
                    decoded.append(self.decode(record))
                except Exception as exc:  # noqa: BLE001 - classified by process_batch
                    # Without its traceback, whose frames hold the whole batch until a collection.
                    decoded.append(exc.with_traceback(None))
        return decoded

    async def _apply_splitting(self, items: list[Item], outcomes: Counter[str]) -> None:
        if not items:
            return
        start = time.perf_counter()
        try:
            applied = await self._apply_once(items)
        except Exception as exc:  # noqa: BLE001 - classified right here
            if is_infrastructure(exc):
                raise InfrastructureFault(describe(exc)) from exc
            if len(items) == 1:
                await self._apply_alone(items[0], exc, outcomes)
                return
            log.info("consumer.batch_split", records=len(items), error=describe(exc, 300))
            middle = len(items) // 2
            await self._apply_splitting(items[:middle], outcomes)
            await self._apply_splitting(items[middle:], outcomes)
            return
        share = (time.perf_counter() - start) / len(items)
        grouped: Counter[tuple[str, str, str]] = Counter()
        for item in items:
            grouped[(item.record.topic, item.event_type, applied.pop(item.claim_id, "duplicate"))] += 1
        self._tally_many(outcomes, grouped, share)

    async def _apply_once(self, items: list[Item]) -> dict[uuid.UUID, str]:
        """One transaction: claim every id, apply the fresh ones. Returns the outcome of
        each claimed id (applied, or dead_lettered by `apply_items` itself)."""
        async with self.pool.acquire() as conn, conn.transaction():
            fresh = await inbox.claim_many(conn, self.name, [i.claim_id for i in items])
            todo, seen = [], set()
            for item in items:  # a batch may hold the same event twice (a producer retry)
                if item.claim_id in fresh and item.claim_id not in seen:
                    seen.add(item.claim_id)
                    todo.append(item)
            refused = (await self.apply_items(conn, todo) if todo else None) or set()
        return {claim: "dead_lettered" if claim in refused else "applied" for claim in seen}

    async def _apply_alone(self, item: Item, error: Exception, outcomes: Counter[str]) -> None:
        """The record that failed its batch, on its own: a few tries, then a dead letter."""
        record, attempt = item.record, 1
        while not isinstance(error, Rejected) and attempt < self.max_attempts:
            log.warning("consumer.attempt_failed", attempt=attempt, error=describe(error, 500), offset=record.offset)
            await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            attempt += 1
            try:
                applied = await self._apply_once([item])
            except Exception as exc:  # noqa: BLE001 - classified right here
                if is_infrastructure(exc):
                    raise InfrastructureFault(describe(exc)) from exc
                error = exc
                continue
            self._tally(outcomes, record, item.event_type, applied.get(item.claim_id, "duplicate"))
            return
        reason = f"rejected: {error}" if isinstance(error, Rejected) else f"failed after {attempt} attempts: {describe(error)}"
        await self.dead_letter(record, reason, type(error).__name__, attempt)
        self._tally(outcomes, record, item.event_type, "dead_lettered")

    async def dead_letter(
        self, record: Record, reason: str, error_type: str, attempts: int, extra: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        """Write `record` to this consumer's dead-letter topic with why; raises
        `InfrastructureFault` if the broker cannot take it (the record then comes again)."""
        headers = [
            *[(k, v) for k, v in record.headers if not k.startswith("dlq.")],
            ("dlq.reason", reason.encode()[:4000]),
            ("dlq.error_type", error_type.encode()[:200]),
            ("dlq.consumer", self.name.encode()),
            ("dlq.original_topic", record.topic.encode()),
            ("dlq.original_partition", str(record.partition).encode()),
            ("dlq.original_offset", str(record.offset).encode()),
            ("dlq.attempts", str(attempts).encode()),
            ("dlq.failed_at", datetime.now(UTC).isoformat().encode()),
            *extra,
        ]
        value = record.value or b""
        room = MAX_MESSAGE_BYTES - HEADER_ALLOWANCE_BYTES - sum(len(k) + len(v) for k, v in headers) - len(record.key or b"")
        if len(value) > room:
            value, headers = _truncated(value, max(0, room - 200), headers)
        try:
            await self.producer.send_and_wait(self.dead_letter_topic, value, key=record.key, headers=headers)
        except MessageSizeTooLargeError:
            # The headers a partner sent were larger than we allowed for: keep ours only.
            ours = [(k, v[:4000]) for k, v in headers if k.startswith("dlq.")]
            value, ours = _truncated(record.value or b"", MAX_MESSAGE_BYTES // 2, ours)
            await self._send_dead_letter(record, value, ours)
        except Exception as exc:
            raise InfrastructureFault(f"dead letter not written: {describe(exc)}") from exc
        log.error("consumer.dead_lettered", reason=reason[:500], topic=record.topic, offset=record.offset)
        metrics.dead_lettered(self.name, record.topic, error_type)

    async def _send_dead_letter(self, record: Record, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        try:
            await self.producer.send_and_wait(self.dead_letter_topic, value, key=record.key, headers=headers)
        except Exception as exc:
            raise InfrastructureFault(f"dead letter not written: {describe(exc)}") from exc

    def _tally(self, outcomes: Counter[str], record: Record, event_type: str, outcome: str, seconds: float = 0.0) -> None:
        outcomes[outcome] += 1
        self.counts[outcome] += 1
        metrics.consumed(self.name, record.topic, event_type, outcome, seconds)

    def _tally_many(self, outcomes: Counter[str], grouped: Counter[tuple[str, str, str]], seconds: float) -> None:
        """`_tally` of `n` records of each (topic, event type, outcome), `seconds` each: the
        same counts and observations, with each metric's labels looked up once per group
        rather than per record (two lookups a record were about 2 % of outcomes' CPU)."""
        for (topic, event_type, outcome), n in grouped.items():
            outcomes[outcome] += n
            self.counts[outcome] += n
            metrics.EVENTS_CONSUMED.labels(self.name, topic, event_type, outcome).inc(n)
            observe = metrics.HANDLER_SECONDS.labels(self.name, event_type, outcome).observe
            for _ in range(n):
                observe(seconds)


def _truncated(value: bytes, keep: int, headers: list[tuple[str, bytes]]) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The first `keep` bytes of `value`, with headers naming the whole one's size and digest."""
    return value[:keep], [
        *headers,
        ("dlq.truncated", b"true"),
        ("dlq.original_bytes", str(len(value)).encode()),
        ("dlq.original_sha256", hashlib.sha256(value).hexdigest().encode()),
    ]


@dataclass(frozen=True)
class _Event:
    envelope: Envelope
    payload: Payload
    handler: Handler


@dataclass
class EventConsumer(RecordConsumer):
    """Applies TalentLoop events: one handler per event type (the newest version; older
    versions are upcast), or one `batch_handler` for the whole batch (set-based)."""

    handlers: dict[str, Handler] = field(default_factory=dict)
    batch_handler: BatchHandler | None = None
    deps: Deps | None = None  # None: the service's defaults (`Deps.of(name)`)

    record_type = "invalid"  # until the envelope is parsed

    def __post_init__(self) -> None:
        if self.deps is None:
            self.deps = Deps.of(self.name)
        stale = [t for t in self.handlers if latest_type(t) != t]
        if stale:
            raise ValueError(f"handlers must be registered for the newest versions, not {stale}")

    def decode(self, record: Record) -> Item | None:
        envelope = Envelope.from_bytes(record.value)
        handler = self.handlers.get(latest_type(envelope.type))
        if handler is None:
            return None  # another service's event on a shared topic
        return Item(record, envelope.id, envelope.type, _Event(envelope, payload_of(envelope), handler))

    async def process_batch(self, records: Sequence[Record]) -> Counter[str]:
        try:
            return await super().process_batch(records)
        finally:
            unbind_context("correlation_id", "event_id", "event_type")

    async def apply_items(self, conn: asyncpg.Connection, items: list[Item]) -> None:
        assert self.deps is not None
        ctx = self.deps.bind(conn)
        if self.batch_handler is not None and len(items) > 1:
            await self.batch_handler(ctx, [(i.data.envelope, i.data.payload) for i in items])
            return
        for item in items:
            await self._apply_traced(ctx, item)
        return None

    async def _apply_traced(self, ctx: Context, item: Item) -> None:
        """One event in a consumer span that continues the trace its record carries, so the
        events its handler emits carry it on."""
        event: _Event = item.data
        bind_context(correlation_id=event.envelope.correlationid, event_id=str(event.envelope.id), event_type=event.envelope.type)
        with tracing.consumer_span(item.record.topic, item.record.headers, self.name) as span:
            span.set_attribute("talentloop.event_type", event.envelope.type)
            try:
                await event.handler(ctx, event.envelope, event.payload)
            except BaseException:
                span.set_attribute("talentloop.outcome", "failed")
                span.set_status(Status(StatusCode.ERROR, "failed"))
                raise
            span.set_attribute("talentloop.outcome", "applied")
