"""The topic settings on the real local broker: the network's topics as created (one replica,
said explicitly, logs kept whole, partner-status for 30 days), and `outcomes rebuild` refusing a
source topic whose log no longer starts at offset 0 instead of reporting a false mismatch."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from contracts import topics
from deploy.topics import (
    PARTNER_STATUS_RETENTION_MS,
    TopicPolicy,
    TopicSpec,
    align_topics,
    create_topics,
    topic_drift,
)
from plumbing.kafka import client_options
from services.outcomes import rebuild

pytestmark = pytest.mark.integration


async def test_the_network_topics_carry_their_retention_and_the_local_stack_s_single_replica(stack):
    assert TopicPolicy.from_env() == TopicPolicy.single_broker()  # said by the local stack when it started
    names = [topics.REFERRALS.name, topics.dead_letter_topic("outcomes"), topics.PARTNER_STATUS.name]
    admin = AIOKafkaAdminClient(**client_options(stack.bootstrap))
    await admin.start()
    try:
        described = {t["topic"]: t for t in await admin.describe_topics(names)}
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    finally:
        await admin.close()
    configs = {r[3]: {e[0]: e[1] for e in r[4]} for response in responses for r in response.resources}
    for name in names:
        assert all(len(p["replicas"]) == 1 for p in described[name]["partitions"]), name
        assert configs[name]["min.insync.replicas"] == "1", name
        assert configs[name]["unclean.leader.election.enable"] == "false", name
    for kept in names[:2]:
        assert (configs[kept]["retention.ms"], configs[kept]["retention.bytes"], configs[kept]["cleanup.policy"]) == (
            "-1", "-1", "delete"), kept
    assert configs[topics.PARTNER_STATUS.name]["retention.ms"] == str(PARTNER_STATUS_RETENTION_MS)


async def test_rebuild_refuses_a_source_topic_whose_first_records_were_deleted(stack):
    intact, cut = (f"test.truncated.{uuid.uuid4().hex[:8]}.{n}" for n in range(2))
    await create_topics(stack.bootstrap, [TopicSpec(intact, partitions=1), TopicSpec(cut, partitions=2)])
    producer = AIOKafkaProducer(**client_options(stack.bootstrap))
    await producer.start()
    try:
        for n in range(3):
            await producer.send_and_wait(cut, b"{}", partition=1, key=f"k{n}".encode())
    finally:
        await producer.stop()
    assert await rebuild.end_offsets(stack.bootstrap, [intact, cut]) == {
        TopicPartition(intact, 0): 0, TopicPartition(cut, 0): 0, TopicPartition(cut, 1): 3}

    admin = AIOKafkaAdminClient(**client_options(stack.bootstrap))
    await admin.start()
    try:
        await admin.delete_records({TopicPartition(cut, 1): RecordsToDelete(before_offset=2)}, timeout_ms=10_000)
    finally:
        await admin.close()

    schema = f"rb_{uuid.uuid4().hex[:8]}"
    with pytest.raises(rebuild.LogTruncated) as refused:
        await rebuild.rebuild(stack.bootstrap, stack.database_url, schema, topics=[intact, cut], workers=1)
    assert refused.value.starts == {TopicPartition(cut, 1): 2}
    assert f"{cut} partition 1 at 2" in str(refused.value) and "offset 0" in str(refused.value)
    conn = await asyncpg.connect(stack.database_url)
    try:  # refused before the scratch schema was made
        assert await conn.fetchval("SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1", schema) == 0
    finally:
        await conn.close()


async def test_a_topic_made_before_the_settings_shows_its_drift_and_is_aligned_keeping_its_own_configs(stack):
    name = f"test.drift.{uuid.uuid4().hex[:8]}"
    week = str(7 * 24 * 3600 * 1000)
    await create_topics(stack.bootstrap, [TopicSpec(name, partitions=1, config={"retention.ms": week, "segment.ms": "3600000"})])
    source = TopicSpec(name, partitions=1, keep_whole=True)  # what it is now: a source of truth kept whole
    [drift] = await topic_drift(stack.bootstrap, [source, TopicSpec(f"{name}.missing", 1)])
    assert drift.topic == name and drift.replicas is None
    assert drift.configs == {"retention.ms": (week, "-1")}
    assert drift.own["segment.ms"] == "3600000"

    await align_topics(stack.bootstrap, [drift])
    assert await topic_drift(stack.bootstrap, [source]) == []
    admin = AIOKafkaAdminClient(**client_options(stack.bootstrap))
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    finally:
        await admin.close()
    configs = {e[0]: e[1] for e in response.resources[0][4]}
    assert (configs["retention.ms"], configs["segment.ms"]) == ("-1", "3600000")  # its own config kept
