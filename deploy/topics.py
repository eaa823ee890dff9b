"""Idempotent topic creation against any Kafka cluster (local or managed)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.topics import MAX_MESSAGE_BYTES
from plumbing.kafka import KafkaSecurity, client_options

_TOPIC_ALREADY_EXISTS = 36
_RETRIABLE = {
    5,  # LEADER_NOT_AVAILABLE
    7,  # REQUEST_TIMED_OUT
    41,  # NOT_CONTROLLER
}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 3  # the network's topics take theirs from the setting (talentloop.network.topic_specs)
    replication_factor: int = 1
    config: dict[str, str] = field(default_factory=dict)

    def topic_configs(self) -> dict[str, str]:
        """`config` over the defaults every topic gets: `max.message.bytes` is the producer's
        `max_request_size`, stated on the topic so that a broker or cluster default cannot
        make it smaller (a record the producer accepts and the topic refuses is never
        published) or larger (a record no consumer of ours was sized for)."""
        return {"max.message.bytes": str(MAX_MESSAGE_BYTES), **self.config}


class TopicCreationError(RuntimeError):
    pass


async def create_topics(
    bootstrap: str, topics: list[TopicSpec], timeout: float = 30.0, security: KafkaSecurity | None = None
) -> None:
    """Create `topics` if missing; existing topics are left as they are (not altered).

    Returns once every topic has a leader for each partition, so producers can use them
    straight away.
    """
    if not topics:
        return
    admin = AIOKafkaAdminClient(**client_options(bootstrap, security), request_timeout_ms=int(timeout * 1000))
    await admin.start()
    try:
        pending = {t.name: t for t in topics}
        deadline = asyncio.get_running_loop().time() + timeout
        while pending:
            response = await admin.create_topics(
                [
                    NewTopic(t.name, t.partitions, t.replication_factor, topic_configs=t.topic_configs())
                    for t in pending.values()
                ]
            )
            errors: list[str] = []
            for entry in response.topic_errors:
                name, code = entry[0], entry[1]
                message = entry[2] if len(entry) > 2 else None
                if code in (0, _TOPIC_ALREADY_EXISTS):
                    pending.pop(name, None)
                elif code not in _RETRIABLE:
                    errors.append(f"{name}: error {code} {message or ''}".strip())
            if errors:
                raise TopicCreationError("could not create topics: " + "; ".join(errors))
            if pending:
                if asyncio.get_running_loop().time() > deadline:
                    raise TopicCreationError(f"timed out creating topics {sorted(pending)}")
                await asyncio.sleep(0.2)
        await _wait_for_leaders(admin, [t.name for t in topics], deadline)
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], deadline: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        described = await admin.describe_topics(names)
        ready = {
            t["topic"]
            for t in described
            if t["error_code"] == 0
            and t["partitions"]
            and all(p["error_code"] == 0 and p["leader"] >= 0 for p in t["partitions"])
        }
        missing = set(names) - ready
        if not missing:
            return
        if loop.time() > deadline:
            raise TopicCreationError(f"topics without leaders after timeout: {sorted(missing)}")
        await asyncio.sleep(0.1)
