"""Training providers' adapters (`record: training`): the shipped one loads and maps a row,
referral fields are refused in a training mapping (and the reverse), and a partner may have
one adapter of each kind per format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts import topics
from services.intake import mapping

pytestmark = pytest.mark.unit
ADAPTERS = Path(__file__).parents[2] / "deploy" / "adapters"
ROW = {
    "ENROLLMENT_ID": "E-1", "PROGRAM_CODE": "RCC-IT", "FIRST_NM": "ana", "LAST_NM": "diaz", "PERSONAL_EMAIL": "",
    "CAMPUS_EMAIL": "ana@example.org", "PHONE": "", "ENROLL_STATUS": "CMPL", "ENROLL_DT": "20260901",
    "COMPLETION_DT": "20261218", "WITHDRAW_DT": "", "WITHDRAW_RSN": "", "MSG_DT": "20260920", "MSG_TYPE": "EXAM",
    "AWARD_DESC": "CompTIA A+", "AWARD_CTID": "ce-1", "AWARD_DT": "20261220", "DATA_SHARING": "Y",
    "OUTCOME_RELEASE": "", "RELEASE_DT": "20260830", "GENDER": "F", "VETERAN_IND": "U",
}
TRAINING = {
    "program_id": {"from": "PROGRAM"}, "candidate.given_name": {"from": "FIRST"},
    "candidate.family_name": {"from": "LAST"}, "candidate.email": {"from": "EMAIL"},
    "enrolled_on": {"from": "START"}, "consent.given_at": {"from": "CONSENT"},
}


def training_adapter(fields=None, **over) -> mapping.Adapter:  # type: ignore[no-untyped-def]
    return mapping.Adapter.model_validate(
        {"partner_id": "p-one", "format": "csv", "record": "training", "fields": {**TRAINING, **(fields or {})}, **over}
    )


def test_the_shipped_training_adapter_maps_a_registrar_row():
    adapter = mapping.load_all(ADAPTERS)[("riverbend-community-college", "csv", "training")]
    record, errors = mapping.training_from(adapter, ROW)
    assert errors == [] and record is not None
    assert (record.external_id, record.program_id, record.status.value) == ("E-1", "RCC-IT", "completed")
    assert record.candidate.email == "ana@example.org" and record.candidate.given_name == "Ana"
    assert str(record.completed_on) == "2026-12-18" and record.progress.milestone.value == "exam_passed"
    assert [(c.name, c.ctdl_id, str(c.awarded_on)) for c in record.credentials] == [("CompTIA A+", "ce-1", "2026-12-20")]
    assert record.consent.aggregate_reports is True and record.demographics.gender.value == "female"


def test_a_row_that_contradicts_itself_is_refused_naming_the_provider_s_column():
    adapter = mapping.load_all(ADAPTERS)[("riverbend-community-college", "csv", "training")]
    record, errors = mapping.training_from(adapter, {**ROW, "COMPLETION_DT": ""})
    assert record is None and [(e.field, e.code) for e in errors] == [("COMPLETION_DT", "completed-on-required")]
    record, errors = mapping.training_from(adapter, {**ROW, "ENROLL_STATUS": "WDRW", "COMPLETION_DT": "",
                                                     "WITHDRAW_DT": "20261002", "WITHDRAW_RSN": "NOPE"})
    assert record is None and ("WITHDRAW_RSN", "unmapped-value") in [(e.field, e.code) for e in errors]


def test_referral_fields_are_not_training_fields_and_the_reverse():
    with pytest.raises(ValueError, match="skills: not a training field"):
        training_adapter({"skills": {"from": "SKILLS"}})
    with pytest.raises(ValueError, match="every training record needs program_id"):
        mapping.Adapter.model_validate({"partner_id": "p-one", "format": "csv", "record": "training",
                                        "fields": {k: v for k, v in TRAINING.items() if k != "program_id"}})
    with pytest.raises(ValueError, match="status: not a referral field"):
        mapping.Adapter.model_validate({"partner_id": "p-one", "format": "csv", "fields": {"status": {"from": "S"}}})


def test_a_training_adapter_on_kafka_reads_the_provider_s_training_topic(tmp_path):
    json_adapter = training_adapter(format="json", kafka=True)
    assert json_adapter.topic == topics.partner_inbound("p-one", "training") == "talentloop.inbound.p-one.training"
    for name, record in (("a.yaml", "referral"), ("b.yaml", "training"), ("c.yaml", "training")):
        fields = TRAINING if record == "training" else {
            "candidate.given_name": {"from": "F"}, "candidate.family_name": {"from": "L"},
            "candidate.email": {"from": "E"}, "skills": {"from": "S"}, "consent.share_with_employers": {"const": True},
            "consent.given_at": {"from": "C"}}
        (tmp_path / name).write_text(json.dumps(
            {"partner_id": "p-one", "format": "csv", "record": record, "fields": fields}))
        if name == "c.yaml":
            with pytest.raises(ValueError, match="a second csv training adapter for p-one"):
                mapping.load_all(tmp_path)
        else:
            assert ("p-one", "csv", record) in mapping.load_all(tmp_path)


def test_a_training_provider_on_kafka_may_write_its_training_topic_too():
    from deploy.kafka_principals import LITERAL, TOPIC, WRITE, network_acls, partner_acls

    def written(acls):  # type: ignore[no-untyped-def]
        return {a.resource_name for a in acls if a.resource_type == TOPIC and a.pattern == LITERAL and a.operation == WRITE}

    assert written(partner_acls("p-one")) == {"talentloop.inbound.p-one"}
    assert written(partner_acls("p-one", training=True)) == {"talentloop.inbound.p-one", "talentloop.inbound.p-one.training"}
    table = network_acls(["p-one", "p-two"], ["p-two"])
    assert written(table["partner-p-one"]) == {"talentloop.inbound.p-one"}
    assert written(table["partner-p-two"]) == {"talentloop.inbound.p-two", "talentloop.inbound.p-two.training"}
    assert all(a.operation == WRITE for a in table["partner-p-two"])
