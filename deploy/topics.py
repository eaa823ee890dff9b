"""Idempotent topic creation against any Kafka cluster (local or managed), with the network's
topic settings.

Replication is a setting with production defaults (`TopicPolicy`): replication factor 3,
`min.insync.replicas` 2 (every producer sends with acks=all, so a write is on two brokers
before it is acknowledged) and no unclean leader election (an out-of-date replica never
becomes leader, which would drop acknowledged records). The local single-broker stack says
replication factor 1 explicitly (deploy/stack.py); anywhere else a factor of 1 is refused
unless `TALENTLOOP_ALLOW_SINGLE_REPLICA` says a single replica is meant.

Retention follows what each topic is for: the ledger's sources of truth and the dead-letter
topics keep their whole log (`KEEP_WHOLE`: `outcomes rebuild` replays from offset 0, and a
dead letter stays until an operator replays it), partner-status keeps 30 days, partners'
inbound topics a day (services/intake/app.py). `TALENTLOOP_TOPIC_CONFIG` adds or changes
configs per topic (tiered storage, a longer partner-status) but cannot shorten a log kept whole.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from contracts import topics as contract_topics
from contracts.topics import MAX_MESSAGE_BYTES
from plumbing.kafka import KafkaSecurity, client_options

REPLICATION_ENV = "TALENTLOOP_TOPIC_REPLICATION_FACTOR"
MIN_INSYNC_ENV = "TALENTLOOP_TOPIC_MIN_INSYNC_REPLICAS"
SINGLE_REPLICA_ENV = "TALENTLOOP_ALLOW_SINGLE_REPLICA"
TOPIC_CONFIG_ENV = "TALENTLOOP_TOPIC_CONFIG"

# A log nothing deletes: no time or size limit, never compacted. Tiered storage
# (`remote.storage.enable`, `local.retention.*`) may move old segments off the brokers' disks;
# the log still starts at offset 0.
KEEP_WHOLE = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
PARTNER_STATUS_RETENTION_MS = 30 * 24 * 3600 * 1000

_TOPIC_ALREADY_EXISTS = 36
_RETRIABLE = {
    5,  # LEADER_NOT_AVAILABLE
    7,  # REQUEST_TIMED_OUT
    41,  # NOT_CONTROLLER
}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 3  # the network's topics take theirs from the setting (network_specs)
    replication_factor: int | None = None  # None: the policy's (TopicPolicy)
    config: dict[str, str] = field(default_factory=dict)
    keep_whole: bool = False  # KEEP_WHOLE: a source of truth or a dead-letter topic

    def topic_configs(self) -> dict[str, str]:
        """`config` over the defaults every topic gets: `max.message.bytes` is the producer's
        `max_request_size`, stated on the topic so that a broker or cluster default cannot
        make it smaller (a record the producer accepts and the topic refuses is never
        published) or larger (a record no consumer of ours was sized for); a log kept whole
        says so rather than taking the broker's default retention (7 days)."""
        return {"max.message.bytes": str(MAX_MESSAGE_BYTES), **(KEEP_WHOLE if self.keep_whole else {}), **self.config}


def network_specs(dead_letter_consumers: Iterable[str]) -> list[TopicSpec]:
    """Every event topic with the partitions setting (TALENTLOOP_TOPIC_PARTITIONS), the sources
    of truth kept whole and partner-status for 30 days, and a dead-letter topic of one partition
    (read by operators, not consumer groups) for each consumer, kept whole."""
    specs = [
        TopicSpec(
            t.name,
            partitions=t.partitions,
            keep_whole=t.source_of_truth,
            config={} if t.source_of_truth else {"retention.ms": str(PARTNER_STATUS_RETENTION_MS)},
        )
        for t in contract_topics.ALL
    ]
    specs += [
        TopicSpec(contract_topics.dead_letter_topic(c), partitions=1, keep_whole=True) for c in dead_letter_consumers
    ]
    return specs


class TopicSettingsError(ValueError):
    """The topic settings contradict themselves or what a topic must keep."""


def _whole_number(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise TopicSettingsError(f"{name} must be a whole number, not {raw!r}") from None


def _config_value(value: str | int) -> str:
    """A config value as Kafka reads it: JSON's true is "true" (not Python's "True")."""
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class TopicPolicy:
    """How the network's topics are replicated, and per-topic configs on top of their specs."""

    replication_factor: int = 3
    min_insync_replicas: int = 2
    allow_single_replica: bool = False
    overrides: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.replication_factor <= 32767:
            raise TopicSettingsError(f"{REPLICATION_ENV} must be at least 1, not {self.replication_factor}")
        if not 1 <= self.min_insync_replicas <= self.replication_factor:
            raise TopicSettingsError(
                f"{MIN_INSYNC_ENV} must be between 1 and the replication factor ({self.replication_factor}), "
                f"not {self.min_insync_replicas}: with more, no acks=all write would ever succeed"
            )
        if self.replication_factor == 1 and not self.allow_single_replica:
            raise TopicSettingsError(
                f"replication factor 1 on a cluster that is not the local stack: one broker's loss would lose "
                f"acknowledged records. Set {REPLICATION_ENV} (3 by default) to the replicas your cluster keeps, or "
                f"{SINGLE_REPLICA_ENV}=true if a single replica is really meant (a one-broker test cluster)"
            )

    @classmethod
    def single_broker(cls) -> TopicPolicy:
        """The local stack's one broker: one replica, said explicitly."""
        return cls(replication_factor=1, min_insync_replicas=1, allow_single_replica=True)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TopicPolicy:
        """The settings: replication factor (3), min.insync.replicas (2, or fewer than a smaller
        factor), whether one replica is allowed, and `TALENTLOOP_TOPIC_CONFIG`, a JSON object of
        topic name -> {config: value}."""
        env = os.environ if env is None else env
        replicas = _whole_number(env, REPLICATION_ENV, 3)
        insync = _whole_number(env, MIN_INSYNC_ENV, min(2, max(1, replicas - 1)))
        allow = env.get(SINGLE_REPLICA_ENV, "").strip().lower() in ("1", "true", "yes")
        raw = env.get(TOPIC_CONFIG_ENV, "").strip()
        try:
            overrides = json.loads(raw) if raw else {}
        except ValueError as exc:
            raise TopicSettingsError(f"{TOPIC_CONFIG_ENV} is not JSON: {exc}") from None
        if not isinstance(overrides, dict) or not all(
            isinstance(v, dict) and all(isinstance(x, (str, int)) for x in v.values()) for v in overrides.values()
        ):
            raise TopicSettingsError(
                f'{TOPIC_CONFIG_ENV} must map topic names to configs: {{"topic": {{"key": "value"}}}}'
            )
        overrides = {name: {k: _config_value(v) for k, v in configs.items()} for name, configs in overrides.items()}
        return cls(replicas, insync, allow, overrides)

    def env(self) -> dict[str, str]:
        """The settings of this policy, for a child process (a service creating its topics)."""
        out = {
            REPLICATION_ENV: str(self.replication_factor),
            MIN_INSYNC_ENV: str(self.min_insync_replicas),
            SINGLE_REPLICA_ENV: "true" if self.allow_single_replica else "false",
        }
        if self.overrides:
            out[TOPIC_CONFIG_ENV] = json.dumps(self.overrides, sort_keys=True)
        return out

    def replicas(self, spec: TopicSpec) -> int:
        return spec.replication_factor or self.replication_factor

    def configs(self, spec: TopicSpec) -> dict[str, str]:
        """The spec's configs with the replication settings and this topic's overrides; an
        override that would delete records of a log kept whole is refused."""
        extra = dict(self.overrides.get(spec.name, {}))
        if spec.keep_whole:
            shortened = {k: v for k, v in extra.items() if k in KEEP_WHOLE and v != KEEP_WHOLE[k]}
            if shortened:
                raise TopicSettingsError(
                    f"{TOPIC_CONFIG_ENV} would delete records of {spec.name}, whose log is kept whole (the ledger's "
                    f"rebuild replays it from offset 0, or it holds dead letters): {shortened}. Use tiered storage "
                    "(remote.storage.enable, local.retention.ms) to keep old segments off the brokers' disks"
                )
        return {
            "min.insync.replicas": str(min(self.min_insync_replicas, self.replicas(spec))),
            "unclean.leader.election.enable": "false",
            **spec.topic_configs(),
            **extra,
        }


class TopicCreationError(RuntimeError):
    pass


async def create_topics(
    bootstrap: str,
    topics: list[TopicSpec],
    timeout: float = 30.0,
    security: KafkaSecurity | None = None,
    policy: TopicPolicy | None = None,
) -> None:
    """Create `topics` if missing, replicated and configured by `policy` (the settings by
    default); existing topics are left as they are (not altered).

    Returns once every topic has a leader for each partition, so producers can use them
    straight away.
    """
    if not topics:
        return
    policy = policy or TopicPolicy.from_env()
    configs = {t.name: policy.configs(t) for t in topics}  # refused before anything is created
    admin = AIOKafkaAdminClient(**client_options(bootstrap, security), request_timeout_ms=int(timeout * 1000))
    await admin.start()
    try:
        pending = {t.name: t for t in topics}
        deadline = asyncio.get_running_loop().time() + timeout
        while pending:
            response = await admin.create_topics(
                [
                    NewTopic(t.name, t.partitions, policy.replicas(t), topic_configs=configs[t.name])
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


# DescribeConfigs' `config_source` (v1+) of a value set on the topic itself.
_DYNAMIC_TOPIC_CONFIG = 1


@dataclass(frozen=True)
class Drift:
    """How an existing topic differs from what its spec and the policy want."""

    topic: str
    configs: dict[str, tuple[str | None, str]]  # config -> (the topic's now, wanted)
    replicas: tuple[int, int] | None  # (now, wanted) when they differ: a reassignment, not a config
    own: dict[str, str]  # the configs set on the topic itself now, kept when it is aligned


async def topic_drift(
    bootstrap: str, topics: list[TopicSpec], security: KafkaSecurity | None = None, policy: TopicPolicy | None = None
) -> list[Drift]:
    """The existing topics among `topics` whose configs or replication factor differ from what
    `policy` wants (missing topics are `create_topics`' business): a network created before a
    setting changed, e.g. a source of truth still on the broker's 7-day retention."""
    policy = policy or TopicPolicy.from_env()
    admin = AIOKafkaAdminClient(**client_options(bootstrap, security))
    await admin.start()
    try:
        described = {t["topic"]: t for t in await admin.describe_topics([t.name for t in topics])}
        existing = [t for t in topics if described.get(t.name, {}).get("error_code") == 0]
        if not existing:
            return []
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t.name) for t in existing])
    finally:
        await admin.close()
    now: dict[str, dict[str, str | None]] = {}
    own: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.resources:
            name, entries = resource[3], resource[4]
            now[name] = {e[0]: e[1] for e in entries}
            # v0 says is_default; v1+ says where the value comes from
            own[name] = {
                e[0]: e[1]
                for e in entries
                if e[1] is not None and (e[3] == _DYNAMIC_TOPIC_CONFIG if response.API_VERSION >= 1 else not e[3])
            }
    out = []
    for spec in existing:
        wanted = policy.configs(spec)
        configs = {k: (now[spec.name].get(k), v) for k, v in wanted.items() if now[spec.name].get(k) != v}
        replicas = len(described[spec.name]["partitions"][0]["replicas"])
        off = (replicas, policy.replicas(spec)) if replicas != policy.replicas(spec) else None
        if configs or off:
            out.append(Drift(spec.name, configs, off, own[spec.name]))
    return out


async def align_topics(bootstrap: str, drifts: list[Drift], security: KafkaSecurity | None = None) -> None:
    """Give each drifted topic the wanted configs. AlterConfigs replaces a topic's whole set, so
    the configs set on it before are sent again beside the wanted ones. Replication factors are
    not changed here (kafka-reassign-partitions.sh, or the KafkaTopic's `replicas` on Strimzi)."""
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, d.topic, {**d.own, **{k: v for k, (_, v) in d.configs.items()}})
        for d in drifts
        if d.configs
    ]
    if not resources:
        return
    admin = AIOKafkaAdminClient(**client_options(bootstrap, security))
    await admin.start()
    try:
        for response in await admin.alter_configs(resources):
            failed = [f"{r[3]}: error {r[0]} {r[1] or ''}".strip() for r in response.resources if r[0] != 0]
            if failed:
                raise TopicCreationError("could not align topic configs: " + "; ".join(failed))
    finally:
        await admin.close()
