"""Kafka client settings, once: every producer is idempotent with acks=all."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts import CONTENT_TYPE
from contracts.topics import MAX_MESSAGE_BYTES

CONTENT_TYPE_HEADER = ("content-type", CONTENT_TYPE.encode())


def new_producer(bootstrap: str, client_id: str) -> AIOKafkaProducer:
    # aiokafka >= 0.13 defaults to acks=1 without idempotence; ask for both explicitly so a
    # broker failover neither loses an acknowledged record nor writes a retried one twice.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        request_timeout_ms=30_000,
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
