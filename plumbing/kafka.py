"""Kafka client settings, once: how every client authenticates (`KafkaSecurity`,
`client_options`), and every producer is idempotent with acks=all and renews itself when the
broker stops taking its sequence numbers.

Every aiokafka client and FastStream broker in the repository takes its connection options
from `client_options` (or `KafkaSecurity.faststream`), so one set of settings decides how all
of them reach the broker: SASL/SCRAM on the local broker, SASL_SSL or mutual TLS on a managed
cluster (docs/operators.md, "Kafka principals and ACLs").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import OutOfOrderSequenceNumber, UnknownProducerId

from contracts import CONTENT_TYPE
from contracts.topics import MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    from faststream.security import BaseSecurity

    from plumbing.settings import Settings

CONTENT_TYPE_HEADER = ("content-type", CONTENT_TYPE.encode())

# A producer's batch for one partition (`_aiokafka_producer`); a record larger than this goes
# in a batch of its own, so batches stay within the topics' max.message.bytes.
MAX_BATCH_BYTES = 262_144

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


@dataclass(frozen=True)
class KafkaSecurity:
    """Who a client is to the broker and how the connection is protected.

    `protocol` None means: SASL_PLAINTEXT when a username is set, else PLAINTEXT (a broker
    without authentication). TLS files are passed through for managed clusters: `cafile`
    to trust the brokers' certificates, `certfile`/`keyfile` for mutual TLS.
    """

    protocol: str | None = None
    mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = None
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    key_password: str | None = None

    def __post_init__(self) -> None:
        if self.protocol is not None and self.protocol not in PROTOCOLS:
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL must be one of {PROTOCOLS}, not {self.protocol!r}")
        if self.mechanism not in MECHANISMS:
            raise ValueError(f"KAFKA_SASL_MECHANISM must be one of {MECHANISMS}, not {self.mechanism!r}")
        if self.sasl and not (self.username and self.password):
            raise ValueError(f"{self.effective_protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaSecurity:
        # An empty variable counts as unset (the launcher passes every variable, set or not).
        return cls(
            protocol=settings.kafka_security_protocol or None,
            mechanism=settings.kafka_sasl_mechanism or "SCRAM-SHA-512",
            username=settings.kafka_sasl_username or None,
            password=settings.kafka_sasl_password or None,
            cafile=settings.kafka_ssl_cafile or None,
            certfile=settings.kafka_ssl_certfile or None,
            keyfile=settings.kafka_ssl_keyfile or None,
            key_password=settings.kafka_ssl_key_password or None,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSecurity:
        """The process's settings (the same environment variables `Settings` reads)."""
        env = os.environ if env is None else env
        return cls(
            protocol=env.get("KAFKA_SECURITY_PROTOCOL") or None,
            mechanism=env.get("KAFKA_SASL_MECHANISM") or "SCRAM-SHA-512",
            username=env.get("KAFKA_SASL_USERNAME") or None,
            password=env.get("KAFKA_SASL_PASSWORD") or None,
            cafile=env.get("KAFKA_SSL_CAFILE") or None,
            certfile=env.get("KAFKA_SSL_CERTFILE") or None,
            keyfile=env.get("KAFKA_SSL_KEYFILE") or None,
            key_password=env.get("KAFKA_SSL_KEY_PASSWORD") or None,
        )

    def as_user(self, username: str, password: str) -> KafkaSecurity:
        """The same connection (protocol, TLS files) as another principal."""
        return replace(self, username=username, password=password)

    @property
    def effective_protocol(self) -> str:
        if self.protocol is not None:
            return self.protocol
        return "SASL_PLAINTEXT" if self.username else "PLAINTEXT"

    @property
    def sasl(self) -> bool:
        return self.effective_protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.effective_protocol in ("SSL", "SASL_SSL")

    def env(self) -> dict[str, str]:
        """The environment variables that give a child process this security."""
        values = {
            "KAFKA_SECURITY_PROTOCOL": self.effective_protocol,
            "KAFKA_SASL_MECHANISM": self.mechanism,
            "KAFKA_SASL_USERNAME": self.username,
            "KAFKA_SASL_PASSWORD": self.password,
            "KAFKA_SSL_CAFILE": self.cafile,
            "KAFKA_SSL_CERTFILE": self.certfile,
            "KAFKA_SSL_KEYFILE": self.keyfile,
            "KAFKA_SSL_KEY_PASSWORD": self.key_password,
        }
        return {k: v or "" for k, v in values.items()}

    def _ssl_context(self) -> Any:
        from aiokafka.helpers import create_ssl_context

        return create_ssl_context(
            cafile=self.cafile, certfile=self.certfile, keyfile=self.keyfile, password=self.key_password
        )

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments of AIOKafkaProducer, AIOKafkaConsumer, AIOKafkaAdminClient, AIOKafkaClient."""
        options: dict[str, Any] = {"security_protocol": self.effective_protocol}
        if self.sasl:
            options.update(
                sasl_mechanism=self.mechanism, sasl_plain_username=self.username, sasl_plain_password=self.password
            )
        if self.tls:
            options["ssl_context"] = self._ssl_context()
        return options

    def librdkafka(self) -> dict[str, str]:
        """The same for librdkafka clients (confluent-kafka, kcat `-X`)."""
        options = {"security.protocol": self.effective_protocol.lower()}
        if self.sasl:
            options.update({"sasl.mechanisms": self.mechanism, "sasl.username": self.username or "",
                            "sasl.password": self.password or ""})
        for key, value in (("ssl.ca.location", self.cafile), ("ssl.certificate.location", self.certfile),
                           ("ssl.key.location", self.keyfile), ("ssl.key.password", self.key_password)):
            if self.tls and value:
                options[key] = value
        return options

    def faststream(self) -> BaseSecurity | None:
        """FastStream's KafkaBroker(security=...) for the same settings."""
        from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

        ssl_context = self._ssl_context() if self.tls else None
        if not self.sasl:
            return BaseSecurity(ssl_context=ssl_context) if self.tls else None
        kind = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}[self.mechanism]
        return kind(self.username or "", self.password or "", ssl_context=ssl_context, use_ssl=self.tls)


def client_options(bootstrap: str, security: KafkaSecurity | None = None) -> dict[str, Any]:
    """`bootstrap_servers` and the security options of an aiokafka client; `security` defaults
    to this process's settings (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_*)."""
    return {"bootstrap_servers": bootstrap, **(security or KafkaSecurity.from_env()).aiokafka()}


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


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of a key, equal to aiokafka's (and the Java client's) `murmur2`, in a
    third of the time: four bytes at a time by `struct` instead of one by one (4-6 us of
    each record's send in the outbox relay, 1-2 % of a service's CPU)."""
    length = len(data)
    m = 0x5BD1E995
    h = 0x9747B28C ^ length
    end = length & ~3
    for (k,) in struct.iter_unpack("<I", data[:end]):
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        h = ((h * m) ^ (k * m)) & 0xFFFFFFFF
    extra = length & 3
    if extra:
        if extra == 3:
            h ^= data[end + 2] << 16
        if extra >= 2:
            h ^= data[end + 1] << 8
        h = ((h ^ data[end]) * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    return h ^ (h >> 15)


def partition_of_key(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka's `DefaultPartitioner` (a key's partition as every Kafka client picks it, so
    one key's records share a partition whoever writes them) with the faster `murmur2`."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]


def new_producer(
    bootstrap: str, client_id: str, request_timeout_ms: int = 30_000, security: KafkaSecurity | None = None
) -> RenewingProducer:
    """The producer every service uses (not started yet)."""
    security = security or KafkaSecurity.from_env()
    return RenewingProducer(lambda: _aiokafka_producer(bootstrap, client_id, request_timeout_ms, security))


def _aiokafka_producer(
    bootstrap: str, client_id: str, request_timeout_ms: int, security: KafkaSecurity
) -> AIOKafkaProducer:
    # aiokafka >= 0.13 defaults to acks=1 without idempotence; ask for both explicitly so a
    # broker failover neither loses an acknowledged record nor writes a retried one twice.
    return AIOKafkaProducer(
        **client_options(bootstrap, security),
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        # A relay's round (up to 500 rows of 1-2 KB over 12 partitions) fits one batch per
        # partition: with aiokafka's 16 KB a partition's batch filled after about a dozen
        # records, `send()` then waited for it to be acknowledged, and a round took several
        # produce requests one after the other.
        max_batch_size=MAX_BATCH_BYTES,
        partitioner=partition_of_key,
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
