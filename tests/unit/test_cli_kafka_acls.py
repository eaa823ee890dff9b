"""`talentloop kafka principals` and `kafka credentials` read the same ACLs as the network makes
(talentloop/network.provision_principals): a training provider with a Kafka training adapter may
write its training topic as well as its referral topic; a referring partner only its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy import kafka_credentials
from talentloop import cli

REFERRER = """partner_id: kafka-referrer
format: json
kafka: true
fields:
  external_id: {from: id}
  candidate.given_name: {from: person.first}
  candidate.family_name: {from: person.last}
  candidate.email: {from: person.email}
  skills: {from: "skills[]"}
  consent.share_with_employers: {from: share}
  consent.given_at: {from: consent}
"""
TRAINER = """partner_id: kafka-trainer
format: json
record: training
kafka: true
fields:
  external_id: {from: id}
  program_id: {from: program}
  candidate.given_name: {from: person.first}
  candidate.family_name: {from: person.last}
  candidate.email: {from: person.email}
  status: {from: state}
  enrolled_on: {from: start}
  consent.given_at: {from: consent}
"""


@pytest.fixture
def adapters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "kafka-referrer.json.yaml").write_text(REFERRER)
    (tmp_path / "kafka-trainer.training.json.yaml").write_text(TRAINER)
    monkeypatch.setenv("TALENTLOOP_ADAPTERS", str(tmp_path))
    return tmp_path


def test_a_training_provider_may_write_its_training_topic_and_a_referrer_only_its_own(adapters: Path) -> None:
    assert cli.partner_topics("kafka-trainer") == ["talentloop.inbound.kafka-trainer",
                                                   "talentloop.inbound.kafka-trainer.training"]
    assert cli.partner_topics("kafka-referrer") == ["talentloop.inbound.kafka-referrer"]
    listed = [acl.describe() for acl in cli.kafka_acls()[kafka_credentials.partner_user("kafka-trainer")]]
    assert any(line.endswith("topic talentloop.inbound.kafka-trainer.training") for line in listed)
