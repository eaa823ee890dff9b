"""Who may do what on the network's Kafka: one principal per service and per Kafka-adapter
partner, their ACLs, and the calls that create them on a broker.

The table (`service_acls`, `partner_acls`) is the least each needs:
- a service reads the topics it consumes (`READ`, in its own consumer groups `<service>.*`) and
  writes the topics it publishes and its own dead-letter topic (`WRITE`; an idempotent
  producer needs nothing more since Kafka 3.0, KIP-679);
- intake also creates, reads and truncates the partners' inbound topics (`talentloop.inbound.*`);
- the console is the operators' tool: it reads every topic, replays dead letters onto them and
  moves the services' group offsets;
- a partner writes its own inbound topic (and a training provider with a Kafka training adapter
  its own `.training` topic) and nothing else: it reads nothing, not even its own topics
  (intake deletes what it processed there).
tests/unit/test_kafka_security.py checks the table against what the services consume and emit.

aiokafka has no admin call for SCRAM credentials (AlterUserScramCredentials, KIP-554) and
sends only one ACL per CreateAcls; the two requests are written here with aiokafka's protocol
types (the wire format is Kafka's `clients/src/main/resources/common/message/*.json`).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.admin import CreateAclsRequest_v1
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import CompactArray, CompactBytes, CompactString, Int8, Int16, Int32, Schema, TaggedFields

from contracts import topics
from deploy import kafka_credentials
from plumbing.kafka import KafkaSecurity, client_options

# Kafka's enum values (org.apache.kafka.common.resource / acl).
TOPIC, GROUP, CLUSTER = 2, 3, 4
LITERAL, PREFIXED = 3, 4
READ, WRITE, CREATE, DELETE, DESCRIBE = 3, 4, 5, 6, 8
ALLOW = 3
SCRAM_SHA_512 = 2
SCRAM_ITERATIONS = 8192  # Kafka's minimum is 4096

_OPERATIONS = {READ: "READ", WRITE: "WRITE", CREATE: "CREATE", DELETE: "DELETE", DESCRIBE: "DESCRIBE"}

SERVICES = ("intake", "routing", "employer_gateway", "outcomes", "support", "console")


@dataclass(frozen=True)
class Acl:
    """ALLOW `operation` on a resource (a topic, group or the cluster) to `principal`, from any host."""

    principal: str  # "User:<name>"
    resource_type: int
    resource_name: str
    pattern: int
    operation: int

    def describe(self) -> str:
        kind = {TOPIC: "topic", GROUP: "group", CLUSTER: "cluster"}[self.resource_type]
        name = self.resource_name + ("*" if self.pattern == PREFIXED else "")  # "*" alone: every one
        return f"{self.principal} {_OPERATIONS[self.operation]} {kind} {name}"


def _topics(user: str, names: Iterable[str], *operations: int, pattern: int = LITERAL) -> list[Acl]:
    return [Acl(f"User:{user}", TOPIC, n, pattern, op) for n in names for op in operations]


def _groups(user: str, prefix: str, *operations: int) -> list[Acl]:
    return [Acl(f"User:{user}", GROUP, prefix, PREFIXED, op) for op in operations]


# What each service consumes and publishes (its dead-letter topic comes on top).
READS: dict[str, tuple[topics.Topic, ...]] = {
    # Its e-mails to candidates: their referral, interview and offer, and erasures (plus the
    # partners' inbound topics).
    "intake": (topics.REFERRALS, topics.EMPLOYER_ACTIONS, topics.CANDIDATES),
    "routing": (topics.OPENINGS, topics.REFERRALS, topics.CANDIDATES, topics.EMPLOYER_ACTIONS),
    "employer_gateway": (topics.ROUTING, topics.REFERRALS, topics.CANDIDATES),
    "outcomes": (
        topics.REFERRALS, topics.ROUTING, topics.EMPLOYER_ACTIONS, topics.CANDIDATES, topics.OPENINGS,
        topics.SKILLS_GAP, topics.PROGRAMS, topics.TRAINING, topics.SERVICES,
    ),
    # Whose referral or enrollment is whose (a request names the requester's own), and erasures.
    "support": (topics.REFERRALS, topics.TRAINING, topics.CANDIDATES),
}
INBOUND_PREFIX = topics.partner_inbound("")


def service_acls(service: str) -> list[Acl]:
    user = kafka_credentials.service_user(service)
    if service == "console":
        # The operators' console (plumbing/operations.py): tail, lag, dead-letter replay, group resets.
        return [
            *_topics(user, [f"{topics.PREFIX}."], READ, WRITE, pattern=PREFIXED),
            *(Acl(f"User:{user}", GROUP, "*", LITERAL, op) for op in (READ, DESCRIBE)),  # lag, offset resets
            Acl(f"User:{user}", CLUSTER, "kafka-cluster", LITERAL, DESCRIBE),  # list groups, describe the cluster
        ]
    writes = [t.name for t in topics.ALL if t.producer == service]
    acls = [
        *_topics(user, [t.name for t in READS[service]], READ),
        *_topics(user, [*writes, topics.dead_letter_topic(service)], WRITE),
        *_groups(user, f"{service}.", READ),
    ]
    if service == "intake":
        acls += _topics(user, [INBOUND_PREFIX], CREATE, READ, DELETE, pattern=PREFIXED)
    return acls


def partner_acls(partner_id: str, *, training: bool = False) -> list[Acl]:
    """Write its own inbound topic (and, for a training provider with a Kafka training adapter,
    its own training topic); WRITE implies DESCRIBE (metadata), and nothing else is allowed."""
    names = [topics.partner_inbound(partner_id)] + ([topics.partner_inbound(partner_id, "training")] if training else [])
    return _topics(kafka_credentials.partner_user(partner_id), names, WRITE)


def network_acls(kafka_partners: Iterable[str], training_partners: Iterable[str] = ()) -> dict[str, list[Acl]]:
    """Username -> its ACLs, for every service and every partner with a Kafka adapter
    (`training_partners`: those whose training adapter reads Kafka, a subset)."""
    training = set(training_partners)
    table = {kafka_credentials.service_user(s): service_acls(s) for s in SERVICES}
    table.update({kafka_credentials.partner_user(p): partner_acls(p, training=p in training) for p in kafka_partners})
    return table


# -- the wire ------------------------------------------------------------------------------


class _DescribeScramResponse_v0(Response):
    API_KEY = 50
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("error_message", CompactString("utf-8")),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("credential_infos", CompactArray(("mechanism", Int8), ("iterations", Int32), ("tags", TaggedFields))),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _DescribeScramRequest_v0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 50
    API_VERSION = 0
    RESPONSE_TYPE = _DescribeScramResponse_v0
    SCHEMA = Schema(("users", CompactArray(("name", CompactString("utf-8")), ("tags", TaggedFields))), ("tags", TaggedFields))


class _DescribeScram(Request[_DescribeScramRequest_v0]):
    API_KEY = 50

    def __init__(self, users: list[str]) -> None:
        self._users = users

    def build(self, request_struct_class: type[_DescribeScramRequest_v0]) -> _DescribeScramRequest_v0:
        return request_struct_class([(u, {}) for u in self._users], {})


class _AlterScramResponse_v0(Response):
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterScramRequest_v0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = _AlterScramResponse_v0
    SCHEMA = Schema(
        ("deletions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8), ("tags", TaggedFields))),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterScram(Request[_AlterScramRequest_v0]):
    API_KEY = 51

    def __init__(self, upsertions: list[tuple[str, int, int, bytes, bytes, dict[int, bytes]]]) -> None:
        self._upsertions = upsertions

    def build(self, request_struct_class: type[_AlterScramRequest_v0]) -> _AlterScramRequest_v0:
        return request_struct_class([], self._upsertions, {})


class _CreateAcls(Request[CreateAclsRequest_v1]):
    """Every ACL in one request (aiokafka's CreateAclsRequest takes one)."""

    API_KEY = 30

    def __init__(self, acls: list[Acl]) -> None:
        self._acls = acls

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class(
            [(a.resource_type, a.resource_name, a.pattern, a.principal, "*", a.operation, ALLOW) for a in self._acls]
        )


def salted_password(password: str, salt: bytes, iterations: int = SCRAM_ITERATIONS) -> bytes:
    """SCRAM's Hi() (RFC 5802) for SHA-512: what the broker stores, never the password."""
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)


class ProvisionError(RuntimeError):
    pass


def _check(results: Any, what: str) -> None:
    errors = [f"{r}" for r in results if r[1 if what == "scram" else 0] != 0]
    if errors:
        raise ProvisionError(f"the broker refused {what}: {errors}")


async def existing_users(admin: AIOKafkaAdminClient, users: list[str]) -> set[str]:
    response = await admin._send_request(_DescribeScram(users))  # noqa: SLF001 - no public call in aiokafka
    if response.error_code != 0:
        raise ProvisionError(f"DescribeUserScramCredentials failed: {response.error_code} {response.error_message}")
    return {
        user for user, code, _, infos, _ in response.results
        if code == 0 and any(mechanism == SCRAM_SHA_512 for mechanism, _, _ in infos)
    }


async def provision(
    bootstrap: str, admin_security: KafkaSecurity, passwords: dict[str, str], acls: dict[str, list[Acl]],
    timeout: float = 30.0,
) -> list[str]:
    """Create the SCRAM users that do not exist yet (an existing user keeps its credential, so a
    running client is never cut off) and every ACL (creating an existing ACL changes nothing).
    Returns the users created, once each of them can log in."""
    admin = AIOKafkaAdminClient(**client_options(bootstrap, admin_security), client_id="talentloop-provision")
    await admin.start()
    try:
        users = sorted(passwords)
        new = [u for u in users if u not in await existing_users(admin, users)]
        if new:
            upserts = []
            for user in new:
                salt = secrets.token_bytes(32)
                upserts.append((user, SCRAM_SHA_512, SCRAM_ITERATIONS, salt, salted_password(passwords[user], salt), {}))
            response = await admin._send_request(_AlterScram(upserts))  # noqa: SLF001
            _check(response.results, "scram")
        wanted = [a for user in users for a in acls.get(user, [])]
        if wanted:
            response = await admin._send_request(_CreateAcls(wanted))  # noqa: SLF001
            _check(response.creation_responses, "acls")
        # A credential reaches the broker through the metadata log, a moment after the
        # controller took it: wait until the broker describes it (a login before then fails
        # and is logged as an error by the client), then prove it with a login.
        deadline = time.monotonic() + timeout
        while new and set(new) - await existing_users(admin, new):
            if time.monotonic() > deadline:
                raise ProvisionError(f"the broker does not know {sorted(new)} after {timeout:.0f} s")
            await asyncio.sleep(0.05)
    finally:
        await admin.close()
    await asyncio.gather(*(wait_for_login(bootstrap, admin_security.as_user(u, passwords[u]), timeout) for u in new))
    return new


async def wait_for_login(bootstrap: str, security: KafkaSecurity, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        client = AIOKafkaClient(**client_options(bootstrap, security), request_timeout_ms=5000)
        try:
            await client.bootstrap()
            return
        except Exception as exc:  # not known to the broker yet
            if time.monotonic() > deadline:
                raise ProvisionError(f"{security.username} cannot log in to {bootstrap}: {exc!r}") from exc
        finally:
            await client.close()
        await asyncio.sleep(0.1)



def main() -> None:
    """`python -m deploy.kafka_principals`: create the principals and ACLs on the broker of
    KAFKA_BOOTSTRAP_SERVERS, as the super-user of KAFKA_SASL_* (the compose file's
    `kafka-principals` job). Passwords come from TALENTLOOP_KAFKA_PASSWORDS, a JSON object
    username -> password; a partner with a Kafka adapter (TALENTLOOP_ADAPTERS) but no password
    there is an error, a user with a password but no ACLs gets nothing."""
    import json
    import os
    import sys

    from plumbing.settings import Settings
    from services.intake import mapping

    settings = Settings()
    adapters = mapping.load_all(settings.adapters_dir).values()
    partners = sorted({a.partner_id for a in adapters if a.kafka})
    acls = network_acls(partners, {a.partner_id for a in adapters if a.kafka and a.record == "training"})
    passwords = json.loads(os.environ.get("TALENTLOOP_KAFKA_PASSWORDS") or "{}")
    missing = sorted(set(acls) - set(passwords))
    if missing:
        sys.exit(f"TALENTLOOP_KAFKA_PASSWORDS has no password for {missing}")
    created = asyncio.run(
        provision(settings.kafka_bootstrap_servers, KafkaSecurity.from_settings(settings),
                  {u: passwords[u] for u in acls}, acls, timeout=120.0)
    )
    print(f"principals: {len(acls)} ({len(created)} new); ACLs: {sum(len(a) for a in acls.values())}")


if __name__ == "__main__":
    main()
