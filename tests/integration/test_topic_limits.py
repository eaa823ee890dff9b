"""The network's topics on a real broker: the partition count is the setting, and each topic
takes exactly the producer's largest record (`max.message.bytes` on the topic itself, not
the broker's slightly larger default)."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from contracts import topics
from deploy.topics import TopicSpec, create_topics
from plumbing.kafka import client_options
from talentloop.network import topic_specs

pytestmark = pytest.mark.integration


def batch_size(key: bytes, value: bytes) -> int:
    """Bytes of the record batch Kafka checks against `max.message.bytes` for one record."""
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=0, is_transactional=0, producer_id=-1, producer_epoch=-1, base_sequence=-1,
        batch_size=2 * topics.MAX_MESSAGE_BYTES,
    )
    builder.append(0, timestamp=1_700_000_000_000, key=key, value=value, headers=[])
    return len(builder.build())


def value_for_batch(key: bytes, size: int) -> bytes:
    value = b"x" * (size - batch_size(key, b""))
    while batch_size(key, value) > size:  # the record's length prefix grows with it
        value = value[:-1]
    assert batch_size(key, value) == size
    return value


async def test_network_topics_have_the_setting_s_partitions_and_the_message_limit(stack):
    admin = AIOKafkaAdminClient(**client_options(stack.bootstrap))
    await admin.start()
    try:
        names = [s.name for s in topic_specs()]
        described = {t["topic"]: t for t in await admin.describe_topics(names)}
        configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    finally:
        await admin.close()
    for spec in topic_specs():
        assert len(described[spec.name]["partitions"]) == spec.partitions, spec.name
    assert len(described[topics.REFERRALS.name]["partitions"]) == topics.default_partitions() >= 12
    limits = {
        resource[3]: {entry[0]: entry[1] for entry in resource[4]}["max.message.bytes"]
        for response in configs
        for resource in response.resources
    }
    assert limits == {name: str(topics.MAX_MESSAGE_BYTES) for name in names}


async def test_the_largest_record_the_producer_sends_is_taken_and_a_few_bytes_more_are_refused(stack):
    topic = f"test.limits.{uuid.uuid4().hex[:10]}"  # not a network topic: its consumers would read the junk
    await create_topics(stack.bootstrap, [TopicSpec(topic, partitions=1)])
    key = b"ref_limit"
    at_limit = value_for_batch(key, topics.MAX_MESSAGE_BYTES)
    # Over the topic's limit but under the broker's default (1048588): only the topic's own
    # setting refuses it.
    over = value_for_batch(key, topics.MAX_MESSAGE_BYTES + 6)
    assert DefaultRecordBatchBuilder.estimate_size_in_bytes(key, at_limit, []) >= topics.MAX_MESSAGE_BYTES

    strict = AIOKafkaProducer(**client_options(stack.bootstrap), max_request_size=topics.MAX_MESSAGE_BYTES)
    loose = AIOKafkaProducer(**client_options(stack.bootstrap), max_request_size=2 * topics.MAX_MESSAGE_BYTES)
    await strict.start()
    await loose.start()
    try:
        # The producer's check is an upper bound: what it lets through, the topic takes.
        fits = value_for_batch(key, topics.MAX_MESSAGE_BYTES - 64)
        assert DefaultRecordBatchBuilder.estimate_size_in_bytes(key, fits, []) <= topics.MAX_MESSAGE_BYTES
        await strict.send_and_wait(topic, fits, key=key)
        await loose.send_and_wait(topic, at_limit, key=key)
        with pytest.raises(MessageSizeTooLargeError):
            await loose.send_and_wait(topic, over, key=key)
    finally:
        await strict.stop()
        await loose.stop()
