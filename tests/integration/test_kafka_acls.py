"""Kafka authentication and authorisation on the local broker (issue 14, item 4).

The broker runs as `talentloop up` runs it: SASL/SCRAM-SHA-512 on its client listener and
the standard KRaft authorizer. The principals and ACLs are the network's own table
(deploy/kafka_principals.py), provisioned here for two partners with Kafka adapters. A partner
writes its own inbound topic and can do nothing else; a service reads and writes its own
topics; a client without credentials, or with a wrong password, is refused.
"""

from __future__ import annotations

import asyncio
import uuid

import confluent_kafka
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from contracts import topics
from deploy import kafka_credentials, kafka_principals
from deploy.topics import TopicSpec, create_topics
from plumbing.kafka import KafkaSecurity, client_options, new_producer
from tests.kafka_helpers import principal, read_topic, super_user

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:8]
PARTNER_A, PARTNER_B = f"acl-a-{RUN}", f"acl-b-{RUN}"
INBOUND_A, INBOUND_B = topics.partner_inbound(PARTNER_A), topics.partner_inbound(PARTNER_B)


@pytest.fixture(scope="module")
def principals(stack, network_config) -> dict[str, KafkaSecurity]:  # type: ignore[no-untyped-def]
    acls = kafka_principals.network_acls([PARTNER_A, PARTNER_B])
    passwords = kafka_credentials.passwords(network_config.home, acls)

    async def setup() -> list[str]:
        await create_topics(stack.bootstrap, [TopicSpec(INBOUND_A, 1), TopicSpec(INBOUND_B, 1)])
        created = await kafka_principals.provision(stack.bootstrap, super_user(), passwords, acls)
        # Something to read on talentloop.referrals, written by intake's own principal.
        producer = new_producer(stack.bootstrap, "acl-test", security=principal(network_config, "talentloop-intake"))
        await producer.start()
        try:
            await producer.send_and_wait(topics.REFERRALS.name, b"{}", key=RUN.encode())
        finally:
            await producer.stop()
        await _send(stack.bootstrap, super_user(), INBOUND_A, b"first")
        return created

    created = asyncio.run(setup())
    assert kafka_credentials.partner_user(PARTNER_A) in created  # made by this call, not found
    return {name: principal(network_config, name) for name in acls}


def _partner(principals: dict[str, KafkaSecurity], partner_id: str) -> KafkaSecurity:
    return principals[kafka_credentials.partner_user(partner_id)]


async def _send(bootstrap: str, security: KafkaSecurity, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(**client_options(bootstrap, security), enable_idempotence=True, acks="all",
                                request_timeout_ms=10_000)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, value, key=b"k"), 20)
    finally:
        await producer.stop()


async def _end_offset(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(**client_options(bootstrap), enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        return (await consumer.end_offsets([tp]))[tp]
    finally:
        await consumer.stop()


async def _topic_visible(bootstrap: str, security: KafkaSecurity, topic: str) -> bool:
    """Whether the broker tells `security`'s user about `topic` (its partitions and leaders,
    which any read or write needs first), or answers TOPIC_AUTHORIZATION_FAILED."""
    client = AIOKafkaClient(**client_options(bootstrap, security), request_timeout_ms=10_000)
    await client.bootstrap()
    try:
        client.add_topic(topic)
        await client.force_metadata_update()
        refused = topic in client.cluster.unauthorized_topics
        assert refused == (client.cluster.partitions_for_topic(topic) is None)
        return not refused
    finally:
        await client.close()


async def _fetch_own(bootstrap: str, security: KafkaSecurity, topic: str) -> None:
    """Fetch `topic` from its start without a group: the partition's leader is known (the topic
    is visible), so the Fetch itself is what the broker answers."""
    consumer = AIOKafkaConsumer(**client_options(bootstrap, security), enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        for _ in range(100):  # bounded: the first fetch answer decides
            if await consumer.getmany(tp, timeout_ms=200):
                return
        raise AssertionError(f"neither a record nor an error from {topic}")
    finally:
        await consumer.stop()


async def test_a_partner_writes_its_own_inbound_topic(stack, principals) -> None:  # type: ignore[no-untyped-def]
    value = f"own-{RUN}".encode()
    await _send(stack.bootstrap, _partner(principals, PARTNER_A), INBOUND_A, value)
    records = await read_topic(stack.bootstrap, INBOUND_A)
    assert value in [r.value for r in records]


async def test_a_partner_cannot_write_another_partners_topic(stack, principals) -> None:  # type: ignore[no-untyped-def]
    before = await _end_offset(stack.bootstrap, INBOUND_B)
    with pytest.raises(TopicAuthorizationFailedError):
        await _send(stack.bootstrap, _partner(principals, PARTNER_A), INBOUND_B, b"intruder")
    assert await _end_offset(stack.bootstrap, INBOUND_B) == before


async def test_a_partner_cannot_read_referrals_nor_any_topic(stack, principals) -> None:  # type: ignore[no-untyped-def]
    partner = _partner(principals, PARTNER_A)
    for topic in (topics.REFERRALS.name, INBOUND_B):  # it is not even told they exist
        assert await _topic_visible(stack.bootstrap, super_user(), topic)
        assert not await _topic_visible(stack.bootstrap, partner, topic), topic
    # It sees its own topic (it writes there) but may not read it: intake does.
    await _fetch_own(stack.bootstrap, super_user(), INBOUND_A)
    with pytest.raises(TopicAuthorizationFailedError):
        await _fetch_own(stack.bootstrap, partner, INBOUND_A)
    # Nor in a consumer group of its own choosing.
    await _refused_in_group(stack.bootstrap, partner, topics.REFERRALS.name, f"snoop-{RUN}")


async def _refused_in_group(bootstrap: str, security: KafkaSecurity, topic: str, group: str) -> None:
    consumer = AIOKafkaConsumer(topic, **client_options(bootstrap, security), group_id=group,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        with pytest.raises((GroupAuthorizationFailedError, TopicAuthorizationFailedError)):
            await consumer.start()
            await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()


def test_librdkafka_partner_is_held_to_the_same_acls(stack, principals) -> None:  # type: ignore[no-untyped-def]
    """A partner's own tooling (librdkafka, as confluent-kafka or kcat) logs in the same way."""
    config = {"bootstrap.servers": stack.bootstrap, **_partner(principals, PARTNER_A).librdkafka()}
    outcomes: dict[str, object] = {}

    def report(err, msg) -> None:  # type: ignore[no-untyped-def]
        outcomes[msg.topic()] = err

    producer = confluent_kafka.Producer({**config, "message.timeout.ms": 15000})
    producer.produce(INBOUND_A, b"librdkafka-own", callback=report)
    producer.produce(INBOUND_B, b"librdkafka-foreign", callback=report)
    assert producer.flush(30) == 0
    assert outcomes[INBOUND_A] is None
    foreign = outcomes[INBOUND_B]
    assert foreign is not None and foreign.code() == confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED


async def test_a_service_reads_and_writes_its_own_topics_only(  # type: ignore[no-untyped-def]
    stack, network_config, principals
) -> None:
    routing = principals[kafka_credentials.service_user("routing")]
    value = f"routing-{RUN}".encode()
    await _send(stack.bootstrap, routing, topics.ROUTING.name, value)
    with pytest.raises(TopicAuthorizationFailedError):  # intake's topic
        await _send(stack.bootstrap, routing, topics.REFERRALS.name, b"forged")
    # It reads what it consumes, in its own consumer group.
    consumer = AIOKafkaConsumer(topics.REFERRALS.name, **client_options(stack.bootstrap, routing),
                                group_id=topics.consumer_group("routing", f"acl-{RUN}"),
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        seen: list[bytes | None] = []
        for _ in range(100):
            batch = await consumer.getmany(timeout_ms=200)
            seen += [r.key for records in batch.values() for r in records]
            if RUN.encode() in seen:
                break
        assert RUN.encode() in seen
        await consumer.commit()
    finally:
        await consumer.stop()
    # ...but not in another service's group.
    await _refused_in_group(stack.bootstrap, routing, topics.REFERRALS.name, topics.consumer_group("outcomes", RUN))


@pytest.mark.parametrize("how", ["no credentials", "wrong password", "unknown user"])
async def test_a_client_that_does_not_authenticate_is_refused(stack, principals, how: str) -> None:  # type: ignore[no-untyped-def]
    intake = principals[kafka_credentials.service_user("intake")]
    security = {
        "no credentials": KafkaSecurity(protocol="PLAINTEXT"),
        "wrong password": intake.as_user(intake.username or "", "not-the-password"),
        "unknown user": intake.as_user(f"nobody-{RUN}", "whatever"),
    }[how]
    client = AIOKafkaClient(**client_options(stack.bootstrap, security), request_timeout_ms=5000)
    try:
        with pytest.raises((KafkaConnectionError, KafkaError)):
            await asyncio.wait_for(client.bootstrap(), 20)
    finally:
        await client.close()
