"""FastStream wiring for an EventConsumer: one subscriber, offsets committed after the effect.

- AckPolicy.NACK_ON_ERROR: the offset is committed only after `process` returns; if it
  raises (only when even the dead-letter publish failed) the record is sought back and
  comes again. FastStream's default ACK_FIRST would commit before the handler runs.
- A pass-through decoder: FastStream's default would JSON-decode (and on bad JSON raise
  before our code sees the record); we want the original bytes to parse or dead-letter.
- A parser that tolerates header values that are not UTF-8 (faststream#2458), which would
  otherwise fail before our handler and be skipped by the next commit.
- The handler gets the record's original headers (`raw_message`), so the trace context
  (`traceparent`) and anything else arrive byte for byte.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import WithJsonSchema

from contracts import messages
from contracts.topics import consumer_group
from plumbing.consumer import EventConsumer, Record, RecordConsumer


async def _raw_body(msg: Any) -> bytes:
    return msg.body


async def _tolerant_parser(record: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    safe = dataclasses.replace(
        record, headers=tuple((k, v.decode("utf-8", "replace").encode()) for k, v in (record.headers or ()))
    )
    message = await original(safe)
    message.raw_message = record
    return message


def attach(broker: KafkaBroker, consumer: EventConsumer, topics: list[str]) -> None:
    """One subscriber (and consumer group) per topic, each committing after the effect."""
    for topic in topics:
        handled = set(consumer.handlers)
        # A topic outside the contracts (a test's, a replay's) may carry any handled event.
        accepted = messages.accepted_on(topic, handled) or messages.versions_of(handled)
        description = (
            f"{consumer.name} applies {', '.join(m.event_type for m in accepted)} from {topic} "
            "(older versions are upcast); anything it cannot parse or apply goes to "
            f"{consumer.dead_letter_topic} with the reason."
        )
        attach = attach_batches if consumer.batch_handler is not None else attach_records
        attach(broker, consumer, topic, messages.schema_of(accepted), description)


def attach_batches(
    broker: KafkaBroker, consumer: EventConsumer, topic: str, schema: dict[str, Any], description: str
) -> None:
    """Subscribe `consumer.process_batch` to `topic`: up to BATCH records per call, the
    offsets committed after the batch's effect (as `attach_records` does for one)."""
    Body = Annotated[list[bytes], WithJsonSchema(schema)]

    async def on_batch(body: list[bytes], msg: KafkaMessage) -> None:
        records = [
            Record(r.topic, r.partition, r.offset, r.key, r.value, tuple(r.headers or ())) for r in msg.raw_message
        ]
        try:
            await consumer.process_batch(records)
        except Exception:
            await asyncio.sleep(1.0)  # as in attach_records: no hot loop while the broker is away
            raise

    on_batch.__annotations__ = {"body": Body, "msg": KafkaMessage, "return": None}
    broker.subscriber(
        topic,
        group_id=consumer_group(consumer.name, topic),
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        max_records=BATCH,
        batch_timeout_ms=100,
        decoder=_raw_batch,
        parser=_tolerant_batch_parser,
        title=f"{consumer.name}:{topic}",
        description=description,
    )(on_batch)


BATCH = 500


async def _raw_batch(msg: Any) -> list[bytes]:
    return msg.body


async def _tolerant_batch_parser(records: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    safe = tuple(
        dataclasses.replace(r, headers=tuple((k, v.decode("utf-8", "replace").encode()) for k, v in (r.headers or ())))
        for r in records
    )
    message = await original(safe)
    message.raw_message = records
    return message


def attach_records(
    broker: KafkaBroker, consumer: RecordConsumer, topic: str, schema: dict[str, Any], description: str
) -> None:
    """Subscribe `consumer.process` to `topic`; `schema` documents the records for AsyncAPI."""
    # The body stays raw bytes at run time (the consumer parses and dead-letters itself);
    # the schema tells the AsyncAPI document what the topic brings.
    Body = Annotated[bytes, WithJsonSchema(schema)]

    async def on_record(body: bytes, msg: KafkaMessage) -> None:
        r = msg.raw_message
        try:
            # `handle`: `process` in a span continuing the record's trace, counted in the metrics.
            await consumer.handle(Record(r.topic, r.partition, r.offset, r.key, r.value, tuple(r.headers or ())))
        except Exception:
            # Not even the dead letter could be written (broker away): pause before the
            # redelivery so a broker outage does not become a hot loop.
            await asyncio.sleep(1.0)
            raise

    # Annotations set explicitly: `Body` is local, so a postponed (string) annotation
    # could not be resolved by FastStream.
    on_record.__annotations__ = {"body": Body, "msg": KafkaMessage, "return": None}
    broker.subscriber(
        topic,
        group_id=consumer_group(consumer.name, topic),
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_raw_body,
        parser=_tolerant_parser,
        title=f"{consumer.name}:{topic}",
        description=description,
    )(on_record)
