"""Kafka client settings, once: every producer is idempotent with acks=all, and renews itself
when the broker stops taking its sequence numbers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import OutOfOrderSequenceNumber, UnknownProducerId

from contracts import CONTENT_TYPE
from contracts.topics import MAX_MESSAGE_BYTES

CONTENT_TYPE_HEADER = ("content-type", CONTENT_TYPE.encode())


# The idempotent producer's sequence state is broken for good: aiokafka 0.14 spends a sequence
# number on a batch it expires unsent while a partition has no leader (a broker restart), and
# the broker then refuses every later batch of that partition. Only a new producer (a new
# producer id) sends again.
PRODUCER_STATE_ERRORS = (OutOfOrderSequenceNumber, UnknownProducerId)


def needs_new_producer(exc: BaseException | None) -> bool:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, PRODUCER_STATE_ERRORS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class RenewingProducer:
    """An AIOKafkaProducer that replaces itself (`renew`) when its sequence state is broken.

    It behaves as the producer it wraps; `send_and_wait` renews by itself before raising such
    an error, and callers that collect `send` futures call `renew_if_needed` with what failed.
    """

    def __init__(self, factory: Callable[[], AIOKafkaProducer]) -> None:
        self._factory = factory
        self._producer = factory()
        self._lock = asyncio.Lock()
        self.renewals = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        return await self._producer.send(*args, **kwargs)

    async def send_and_wait(self, *args: Any, **kwargs: Any) -> Any:
        producer = self._producer
        try:
            return await producer.send_and_wait(*args, **kwargs)
        except PRODUCER_STATE_ERRORS:
            await self._renew(producer)
            raise

    async def renew_if_needed(self, exc: BaseException | None) -> None:
        if needs_new_producer(exc):
            await self._renew(self._producer)

    async def _renew(self, broken: AIOKafkaProducer) -> None:
        async with self._lock:
            if self._producer is not broken:
                return  # another caller renewed it already
            fresh = self._factory()
            await fresh.start()  # raises while the broker is away: the caller's fault path retries
            self._producer = fresh
            self.renewals += 1
        with contextlib.suppress(Exception):
            await broken.stop()


def new_producer(bootstrap: str, client_id: str, request_timeout_ms: int = 30_000) -> RenewingProducer:
    """The producer every service uses (not started yet)."""
    return RenewingProducer(lambda: _aiokafka_producer(bootstrap, client_id, request_timeout_ms))


def _aiokafka_producer(bootstrap: str, client_id: str, request_timeout_ms: int) -> AIOKafkaProducer:
    # aiokafka >= 0.13 defaults to acks=1 without idempotence; ask for both explicitly so a
    # broker failover neither loses an acknowledged record nor writes a retried one twice.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        request_timeout_ms=request_timeout_ms,
        # The topics' max.message.bytes: a record the producer lets through, the broker takes;
        # a larger one is refused at send() and parked by the outbox relay.
        max_request_size=MAX_MESSAGE_BYTES,
    )


async def partitions_of(consumer: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    """Every partition of those of `topics` that exist, for a consumer that assigns them itself.

    aiokafka's `partitions_for_topic` only reads the client's metadata cache, which holds
    nothing for topics the consumer has not subscribed to: refresh it first.
    """
    await consumer._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public refresh
    return [
        TopicPartition(topic, p) for topic in topics for p in sorted(consumer.partitions_for_topic(topic) or ())
    ]
