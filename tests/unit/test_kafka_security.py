"""The Kafka principals' ACL table matches what the services do, and one set of settings gives
every client library the same security (plumbing/kafka.py, deploy/kafka_principals.py)."""

from __future__ import annotations

import ssl

import certifi
import pytest

from contracts import topics
from deploy import kafka_credentials
from deploy.kafka_principals import (
    CLUSTER,
    GROUP,
    LITERAL,
    PREFIXED,
    READ,
    TOPIC,
    WRITE,
    Acl,
    network_acls,
    partner_acls,
    service_acls,
)
from plumbing.kafka import KafkaSecurity, client_options
from plumbing.settings import Settings
from talentloop.specs import definitions

pytestmark = pytest.mark.unit


def _topic_ops(acls: list[Acl]) -> dict[tuple[str, int], set[int]]:
    out: dict[tuple[str, int], set[int]] = {}
    for a in acls:
        if a.resource_type == TOPIC:
            out.setdefault((a.resource_name, a.pattern), set()).add(a.operation)
    return out


@pytest.mark.parametrize("definition", definitions(), ids=lambda d: d.name)
def test_each_service_may_read_what_it_consumes_and_write_what_it_emits(definition) -> None:  # type: ignore[no-untyped-def]
    ops = _topic_ops(service_acls(definition.name))
    consumed = {t.name for t in definition.consumes}
    emitted = {model.topic.name for model in definition.emits} | {topics.dead_letter_topic(definition.name)}
    granted_read = {name for (name, pattern), o in ops.items() if pattern == LITERAL and READ in o}
    granted_write = {name for (name, pattern), o in ops.items() if pattern == LITERAL and WRITE in o}
    # Exactly: a topic read without an ACL breaks the service, one granted beyond it widens it.
    assert granted_read == consumed
    assert granted_write == emitted
    groups = [a for a in service_acls(definition.name) if a.resource_type == GROUP]
    assert groups and all(a.pattern == PREFIXED and a.resource_name == f"{definition.name}." for a in groups)
    assert topics.consumer_group(definition.name, "x").startswith(f"{definition.name}.")
    assert not any(a.resource_type == CLUSTER for a in service_acls(definition.name))


def test_only_intake_touches_the_inbound_topics() -> None:
    inbound = topics.partner_inbound("")
    for service in ("routing", "employer_gateway", "outcomes"):
        assert (inbound, PREFIXED) not in _topic_ops(service_acls(service))
    assert READ in _topic_ops(service_acls("intake"))[(inbound, PREFIXED)]


def test_a_partner_may_write_its_own_inbound_topic_and_nothing_else() -> None:
    acls = partner_acls("forge-coding-bootcamp")
    assert {(a.principal, a.resource_type, a.resource_name, a.pattern, a.operation) for a in acls} == {
        ("User:partner-forge-coding-bootcamp", TOPIC, "talentloop.inbound.forge-coding-bootcamp", LITERAL, WRITE)
    }
    table = network_acls(["forge-coding-bootcamp", "acme"])
    assert set(table) == {
        *(kafka_credentials.service_user(s) for s in ("intake", "routing", "employer_gateway", "outcomes", "support")),
            kafka_credentials.service_user("console"),
        "partner-forge-coding-bootcamp",
        "partner-acme",
    }


def test_settings_give_every_client_library_the_same_security() -> None:
    settings = Settings(KAFKA_SASL_USERNAME="talentloop-routing", KAFKA_SASL_PASSWORD="pw")
    security = KafkaSecurity.from_settings(settings)
    assert security.effective_protocol == "SASL_PLAINTEXT"  # a username without a protocol
    assert client_options("b:9092", security) == {
        "bootstrap_servers": "b:9092",
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "talentloop-routing",
        "sasl_plain_password": "pw",
    }
    assert security.librdkafka() == {
        "security.protocol": "sasl_plaintext",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "talentloop-routing",
        "sasl.password": "pw",
    }
    assert KafkaSecurity.from_env(security.env()).aiokafka() == security.aiokafka()  # what a child process gets
    faststream = security.faststream()
    assert type(faststream).__name__ == "SASLScram512" and not faststream.use_ssl  # type: ignore[union-attr]


def test_no_credentials_is_plaintext_and_tls_is_passed_through() -> None:
    assert client_options("b:9092", KafkaSecurity()) == {"bootstrap_servers": "b:9092", "security_protocol": "PLAINTEXT"}
    assert KafkaSecurity().faststream() is None
    ca = certifi.where()  # any CA bundle will do: it is only loaded as trust anchors
    managed = KafkaSecurity(protocol="SASL_SSL", username="u", password="p", cafile=ca)
    options = managed.aiokafka()
    assert options["security_protocol"] == "SASL_SSL" and isinstance(options["ssl_context"], ssl.SSLContext)
    assert managed.librdkafka()["ssl.ca.location"] == ca
    assert managed.faststream().use_ssl  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "kwargs",
    [{"protocol": "SASL_PLAINTEXT"}, {"protocol": "TLS"}, {"username": "u", "password": "p", "mechanism": "GSSAPI"}],
)
def test_incomplete_or_unknown_settings_are_refused(kwargs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        KafkaSecurity(**kwargs)

