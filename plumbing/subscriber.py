"""FastStream wiring for an EventConsumer: one subscriber, offsets committed after the effect.

- AckPolicy.NACK_ON_ERROR: the offset is committed only after `process` returns; if it
  raises (only when even the dead-letter publish failed) the record is sought back and
  comes again. FastStream's default ACK_FIRST would commit before the handler runs.
- A pass-through decoder: FastStream's default would JSON-decode (and on bad JSON raise
  before our code sees the record); we want the original bytes to parse or dead-letter.
- A parser that tolerates header values that are not UTF-8 (faststream#2458), which would
  otherwise fail before our handler and be skipped by the next commit.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

from plumbing.consumer import EventConsumer, Record


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
    @broker.subscriber(
        *topics,
        group_id=consumer.name,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_raw_body,
        parser=_tolerant_parser,
        title=f"{consumer.name}:events",
        description=f"Every lifecycle event {consumer.name} applies ({', '.join(sorted(consumer.handlers))}).",
    )
    async def on_record(body: bytes, msg: KafkaMessage) -> None:
        r = msg.raw_message
        try:
            await consumer.process(Record(r.topic, r.partition, r.offset, r.key, r.value, tuple(r.headers or ())))
        except Exception:
            # Not even the dead letter could be written (broker away): pause before the
            # redelivery so a broker outage does not become a hot loop.
            await asyncio.sleep(1.0)
            raise
