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


async def _raw_body(msg: Any) -> Any:
    return msg.body  # bytes, or a list of bytes for a batch


def _utf8_headers(record: Any) -> Any:
    return dataclasses.replace(
        record, headers=tuple((k, v.decode("utf-8", "replace").encode()) for k, v in (record.headers or ()))
    )


async def _tolerant_parser(raw: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """Header values that are not UTF-8 made safe for FastStream (one record or a batch)."""
    message = await original(tuple(map(_utf8_headers, raw)) if isinstance(raw, tuple) else _utf8_headers(raw))
    message.raw_message = raw
    return message


def _record(r: Any) -> Record:
    return Record(r.topic, r.partition, r.offset, r.key, r.value, tuple(r.headers or ()))


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


BATCH = 500


def attach_batches(
    broker: KafkaBroker, consumer: EventConsumer, topic: str, schema: dict[str, Any], description: str
) -> None:
    """Subscribe `consumer.process_batch` to `topic`: up to BATCH records per call, the
    offsets committed after the batch's effect (as `attach_records` does for one)."""

    async def on_batch(body: list[bytes], msg: KafkaMessage) -> None:
        await _pausing_on_failure(consumer.process_batch([_record(r) for r in msg.raw_message]))

    _subscribe(broker, consumer, topic, description, on_batch, list[bytes], schema,
               batch=True, max_records=BATCH, batch_timeout_ms=100)


def attach_records(
    broker: KafkaBroker, consumer: RecordConsumer, topic: str, schema: dict[str, Any], description: str
) -> None:
    """Subscribe `consumer.process` to `topic`; `schema` documents the records for AsyncAPI."""

    async def on_record(body: bytes, msg: KafkaMessage) -> None:
        # `handle`: `process` in a span continuing the record's trace, counted in the metrics.
        await _pausing_on_failure(consumer.handle(_record(msg.raw_message)))

    _subscribe(broker, consumer, topic, description, on_record, bytes, schema)


async def _pausing_on_failure(work: Awaitable[object]) -> None:
    try:
        await work
    except Exception:
        # Not even the dead letter could be written (broker away): pause before the
        # redelivery so a broker outage does not become a hot loop.
        await asyncio.sleep(1.0)
        raise


def _subscribe(
    broker: KafkaBroker,
    consumer: RecordConsumer,
    topic: str,
    description: str,
    handler: Callable[..., Awaitable[None]],
    body: Any,
    schema: dict[str, Any],
    **options: Any,
) -> None:
    # The body stays raw bytes at run time (the consumer parses and dead-letters itself);
    # the schema tells the AsyncAPI document what the topic brings. Annotations are set
    # explicitly: the annotated type is local, so a postponed (string) annotation could not
    # be resolved by FastStream.
    handler.__annotations__ = {"body": Annotated[body, WithJsonSchema(schema)], "msg": KafkaMessage, "return": None}
    broker.subscriber(
        topic,
        group_id=consumer_group(consumer.name, topic),
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_raw_body,
        parser=_tolerant_parser,
        title=f"{consumer.name}:{topic}",
        description=description,
        **options,
    )(handler)
