"""FastStream describes every channel a service consumes, for the AsyncAPI documents.

The records themselves are fetched, applied and committed by our own consume loop
(`plumbing/consume_loop.py`, which says why). The subscribers declared here are never
started: they give `faststream docs gen` each topic, its consumer group (one per consumer,
for all its topics) and the schema of what it carries, so the documents stay generated from the same definitions the services run.
"""

from __future__ import annotations

from typing import Annotated, Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import WithJsonSchema

from contracts import messages
from contracts.topics import consumer_group
from plumbing.consumer import EventConsumer, RecordConsumer


def attach(broker: KafkaBroker, consumer: EventConsumer, topics: list[str]) -> None:
    """Document one subscriber per topic the consumer reads, all in its one consumer group."""
    for topic in topics:
        handled = set(consumer.handlers)
        # A topic outside the contracts (a test's, a replay's) may carry any handled event.
        accepted = messages.accepted_on(topic, handled) or messages.versions_of(handled)
        description = (
            f"{consumer.name} applies {', '.join(m.event_type for m in accepted)} from {topic} "
            "(older versions are upcast); anything it cannot parse or apply goes to "
            f"{consumer.dead_letter_topic} with the reason."
        )
        attach_records(broker, consumer, topic, messages.schema_of(accepted), description)


def attach_records(
    broker: KafkaBroker,
    consumer: RecordConsumer,
    topic: str,
    schema: dict[str, Any],
    description: str,
    role: str = "events",
) -> None:
    """Document `topic` as read by `consumer` in its group of `role` (`Runtime.consume`);
    `schema` describes its records."""

    async def on_record(body: bytes, msg: KafkaMessage) -> None:
        raise RuntimeError("documentation only: records are applied by plumbing.consume_loop")

    # The annotated type is local, so a postponed (string) annotation could not be resolved
    # by FastStream: set the annotations explicitly.
    on_record.__annotations__ = {"body": Annotated[bytes, WithJsonSchema(schema)], "msg": KafkaMessage, "return": None}
    broker.subscriber(
        topic,
        group_id=consumer_group(consumer.name, role),
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        title=f"{consumer.name}:{topic}",
        description=description,
    )(on_record)
