"""Kafka in tests: reading topics from offset 0 without a consumer group, and the principals.

The session's clients log in as the broker's super-user (tests/conftest.py); `principal` gives
the security of another user of the local broker: a service's (`kafka_credentials.service_user`)
or a partner's (`kafka_credentials.partner_user`), made by `talentloop up` or `provision`.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from plumbing.kafka import KafkaSecurity, client_options
from talentloop.network import NetworkConfig


def principal(cfg: NetworkConfig, user: str) -> KafkaSecurity:
    """`user`'s security on the session's local broker (its password from the state directory)."""
    return cfg.stack().kafka.security_for(user)


def super_user() -> KafkaSecurity:
    """The security this test process connects with (the broker's super-user, see conftest)."""
    return KafkaSecurity.from_env()


async def read_topic(
    bootstrap: str, topic: str, *, at_least: int = 1, timeout: float = 20.0, security: KafkaSecurity | None = None
) -> list[ConsumerRecord]:
    consumer = AIOKafkaConsumer(**client_options(bootstrap, security), enable_auto_commit=False)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        partitions = None
        while not partitions:
            partitions = consumer.partitions_for_topic(topic) or await _fetch_partitions(consumer, topic)
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {topic} has no partitions")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[ConsumerRecord] = []
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
            positions = {tp: await consumer.position(tp) for tp in tps}
            caught_up = all(positions[tp] >= ends[tp] for tp in tps)
            if len(records) >= at_least and caught_up:
                return records
            if time.monotonic() > deadline:
                return records
            if caught_up:
                ends = await consumer.end_offsets(tps)
                await asyncio.sleep(0.1)
    finally:
        await consumer.stop()


async def _fetch_partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int] | None:
    await consumer._client.force_metadata_update()  # noqa: SLF001 - no public refresh in aiokafka
    await asyncio.sleep(0.1)
    return consumer.partitions_for_topic(topic)
