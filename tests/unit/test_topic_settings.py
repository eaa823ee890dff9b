"""Topic settings (deploy/topics.py): production replication by default, one replica only when
said, logs the rebuild and the dead letters depend on kept whole, per-topic overrides that
cannot shorten them; and `talentloop up` refusing one replica on an external cluster."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from contracts import topics
from deploy import kafka_principals
from deploy.stack import LocalStack
from deploy.topics import (
    KEEP_WHOLE,
    MIN_INSYNC_ENV,
    PARTNER_STATUS_RETENTION_MS,
    REPLICATION_ENV,
    SINGLE_REPLICA_ENV,
    TOPIC_CONFIG_ENV,
    TopicPolicy,
    TopicSettingsError,
    TopicSpec,
)
from talentloop.network import CONSUMERS, topic_specs

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def no_topic_settings_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from the production defaults: a local stack started earlier in the same
    pytest process put its single-broker settings into os.environ (deploy/stack.py)."""
    for name in (REPLICATION_ENV, MIN_INSYNC_ENV, SINGLE_REPLICA_ENV, TOPIC_CONFIG_ENV):
        monkeypatch.delenv(name, raising=False)


def specs() -> dict[str, TopicSpec]:
    return {s.name: s for s in topic_specs()}


def test_production_defaults_replicate_three_times_with_two_in_sync_and_no_unclean_leaders():
    policy = TopicPolicy.from_env({})
    referrals = specs()[topics.REFERRALS.name]
    assert policy.replicas(referrals) == 3
    configs = policy.configs(referrals)
    assert configs["min.insync.replicas"] == "2"
    assert configs["unclean.leader.election.enable"] == "false"
    assert configs["max.message.bytes"] == str(topics.MAX_MESSAGE_BYTES)


def test_every_topic_a_service_consumes_and_every_dead_letter_topic_is_kept_whole():
    consumed = {t.name for reads in kafka_principals.READS.values() for t in reads}
    kept = {name for name, spec in specs().items() if spec.keep_whole}
    assert consumed <= kept
    assert {topics.dead_letter_topic(c) for c in CONSUMERS} <= kept
    for name in kept:
        assert {k: TopicPolicy.from_env({}).configs(specs()[name])[k] for k in KEEP_WHOLE} == {
            "cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}, name


def test_partner_status_is_the_one_topic_with_a_retention_limit():
    partner_status = specs()[topics.PARTNER_STATUS.name]
    assert not partner_status.keep_whole
    assert TopicPolicy.from_env({}).configs(partner_status)["retention.ms"] == str(PARTNER_STATUS_RETENTION_MS)
    assert [t.name for t in topics.ALL if not t.source_of_truth] == [topics.PARTNER_STATUS.name]


def test_one_replica_is_refused_unless_it_is_said_to_be_meant():
    with pytest.raises(TopicSettingsError, match=SINGLE_REPLICA_ENV):
        TopicPolicy.from_env({REPLICATION_ENV: "1"})
    allowed = TopicPolicy.from_env({REPLICATION_ENV: "1", SINGLE_REPLICA_ENV: "true"})
    assert (allowed.replication_factor, allowed.min_insync_replicas) == (1, 1)
    assert TopicPolicy.from_env(TopicPolicy.single_broker().env()) == TopicPolicy.single_broker()


@pytest.mark.parametrize(
    ("env", "expected"),
    [({REPLICATION_ENV: "2"}, (2, 1)), ({REPLICATION_ENV: "5"}, (5, 2)), ({REPLICATION_ENV: "4", MIN_INSYNC_ENV: "3"}, (4, 3))],
)
def test_min_insync_follows_a_smaller_replication_factor_unless_set(env, expected):
    policy = TopicPolicy.from_env(env)
    assert (policy.replication_factor, policy.min_insync_replicas) == expected


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({REPLICATION_ENV: "three"}, REPLICATION_ENV),
        ({REPLICATION_ENV: "0"}, REPLICATION_ENV),
        ({MIN_INSYNC_ENV: "4"}, MIN_INSYNC_ENV),  # more than the 3 replicas: no acks=all write could succeed
        ({TOPIC_CONFIG_ENV: "{not json"}, TOPIC_CONFIG_ENV),
        ({TOPIC_CONFIG_ENV: '{"talentloop.referrals": "forever"}'}, TOPIC_CONFIG_ENV),
    ],
)
def test_bad_settings_are_refused_with_their_name(env, named):
    with pytest.raises(TopicSettingsError, match=named):
        TopicPolicy.from_env(env)


def test_overrides_add_tiered_storage_but_cannot_shorten_a_log_kept_whole():
    referrals, partner_status = specs()[topics.REFERRALS.name], specs()[topics.PARTNER_STATUS.name]
    tiered = {topics.REFERRALS.name: {"remote.storage.enable": "true", "local.retention.ms": 86_400_000}}
    configs = TopicPolicy.from_env({TOPIC_CONFIG_ENV: json.dumps(tiered)}).configs(referrals)
    assert (configs["remote.storage.enable"], configs["local.retention.ms"], configs["retention.ms"]) == (
        "true", "86400000", "-1")
    for shortening in ({"retention.ms": "604800000"}, {"cleanup.policy": "compact"}, {"retention.bytes": "1"}):
        policy = TopicPolicy.from_env({TOPIC_CONFIG_ENV: json.dumps({topics.REFERRALS.name: shortening})})
        with pytest.raises(TopicSettingsError, match="kept whole"):
            policy.configs(referrals)
    longer = TopicPolicy.from_env({TOPIC_CONFIG_ENV: json.dumps({topics.PARTNER_STATUS.name: {"retention.ms": "-1"}})})
    assert longer.configs(partner_status)["retention.ms"] == "-1"


def test_an_external_cluster_with_one_replica_is_refused_before_anything_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # nothing listens: nothing may be tried
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv(REPLICATION_ENV, "1")
    monkeypatch.delenv(SINGLE_REPLICA_ENV, raising=False)
    with pytest.raises(TopicSettingsError, match=SINGLE_REPLICA_ENV):
        LocalStack(tmp_path).start()

    from talentloop.cli import app

    outcome = CliRunner().invoke(app, ["up", "--home", str(tmp_path)])
    assert outcome.exit_code == 2
    assert "Refusing to start" in outcome.output and SINGLE_REPLICA_ENV in outcome.output


def test_the_local_stack_says_one_replica_for_itself_and_the_processes_it_starts(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "environ", dict(os.environ))  # start() sets the policy in it; the copy goes afterwards
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv(REPLICATION_ENV, "3")  # a production setting left in the shell
    stack = LocalStack(tmp_path)
    monkeypatch.setattr(stack.kafka, "start", lambda: "127.0.0.1:1")
    monkeypatch.setattr(stack.kafka, "is_running", lambda: False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert stack.start().bootstrap == "127.0.0.1:1"
    assert TopicPolicy.from_env() == TopicPolicy.single_broker()


def test_talentloop_kafka_topics_creates_the_network_s_topics_with_the_settings(tmp_path, monkeypatch):
    import deploy.topics
    from talentloop.cli import app

    made: list[tuple[str, list[TopicSpec], TopicPolicy]] = []

    async def create(bootstrap, specs, timeout=30.0, security=None, policy=None):  # type: ignore[no-untyped-def]
        made.append((bootstrap, specs, policy))

    async def no_drift(*args, **kwargs):  # type: ignore[no-untyped-def]
        return []

    monkeypatch.setattr(deploy.topics, "create_topics", create)
    monkeypatch.setattr(deploy.topics, "topic_drift", no_drift)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.example.org:9093")
    monkeypatch.delenv(REPLICATION_ENV, raising=False)
    monkeypatch.delenv(MIN_INSYNC_ENV, raising=False)
    outcome = CliRunner().invoke(app, ["kafka", "topics", "--home", str(tmp_path)])
    assert outcome.exit_code == 0, outcome.output
    [(bootstrap, created, policy)] = made
    assert bootstrap == "kafka.example.org:9093" and policy == TopicPolicy.from_env({})
    assert [s.name for s in created] == [s.name for s in topic_specs()]
    line = next(x for x in outcome.output.splitlines() if x.startswith(topics.REFERRALS.name + " "))
    assert "replicas=3" in line and "min.insync.replicas=2" in line and "retention.ms=-1" in line

    monkeypatch.setenv(REPLICATION_ENV, "1")
    refused = CliRunner().invoke(app, ["kafka", "topics", "--home", str(tmp_path)])
    assert refused.exit_code == 2 and SINGLE_REPLICA_ENV in refused.output and len(made) == 1


def test_talentloop_kafka_topics_shows_existing_topics_that_differ_and_aligns_them(tmp_path, monkeypatch):
    import deploy.topics
    from talentloop.cli import app

    seven_days = deploy.topics.Drift(topics.REFERRALS.name, {"retention.ms": ("604800000", "-1")}, None, {})
    aligned: list[list[deploy.topics.Drift]] = []

    async def create(*args, **kwargs):  # type: ignore[no-untyped-def]
        return None

    async def drift(*args, **kwargs):  # type: ignore[no-untyped-def]
        return [seven_days]

    async def align(bootstrap, drifts, security=None):  # type: ignore[no-untyped-def]
        aligned.append(drifts)

    monkeypatch.setattr(deploy.topics, "create_topics", create)
    monkeypatch.setattr(deploy.topics, "topic_drift", drift)
    monkeypatch.setattr(deploy.topics, "align_topics", align)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.example.org:9093")
    monkeypatch.delenv(REPLICATION_ENV, raising=False)
    checked = CliRunner().invoke(app, ["kafka", "topics", "--home", str(tmp_path)])
    assert checked.exit_code == 1 and not aligned
    assert f"differs: {topics.REFERRALS.name} retention.ms=604800000 (wanted -1)" in checked.output
    assert "--align" in checked.output
    fixed = CliRunner().invoke(app, ["kafka", "topics", "--align", "--home", str(tmp_path)])
    assert fixed.exit_code == 0 and aligned == [[seven_days]] and "-> aligned" in fixed.output
