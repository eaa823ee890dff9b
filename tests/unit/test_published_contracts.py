"""The committed schemas match the models, each history is compatible, fixtures upcast."""

import json
from pathlib import Path

import jsonschema
import pytest

from contracts import PAYLOADS, Envelope, latest_type, payload_of, schemas
from contracts.events import ReferralRoutedV1, ReferralSubmittedV2

pytestmark = pytest.mark.unit
FIXTURES = Path(schemas.__file__).parent / "fixtures"


def test_committed_schemas_match_models_and_histories_are_compatible():
    assert schemas.problems() == []


def test_every_supported_version_has_a_published_schema():
    published = schemas.published()
    for model in PAYLOADS.values():
        assert model.schema_version in published[model.family()], model.event_type


def fixture_files():
    return sorted(FIXTURES.glob("*/*.json"))


def test_there_is_a_golden_fixture_for_every_published_version():
    have = {(p.parent.name, p.stem) for p in fixture_files()}
    want = {(f, v) for f, versions in schemas.published().items() if f != "envelope" for v in versions}
    assert want <= have


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_fixture_validates_against_its_schema_and_upcasts_to_the_newest(path: Path):
    doc = json.loads(path.read_text())
    jsonschema.validate(doc, json.loads(schemas.path_for("envelope", schemas.ENVELOPE_VERSION).read_text()))
    jsonschema.validate(doc["data"], json.loads(schemas.path_for(path.parent.name, path.stem).read_text()))
    payload = payload_of(Envelope.model_validate(doc))
    assert payload.event_type == latest_type(doc["type"])


def test_v1_referral_upcasts_to_v2_with_vocabulary_ids_and_text_kept():
    doc = json.loads((FIXTURES / "referral.submitted" / "1.0.json").read_text())
    payload = payload_of(Envelope.model_validate(doc))
    assert isinstance(payload, ReferralSubmittedV2)
    assert [s.text for s in payload.skills] == doc["data"]["skills"]
    assert payload.skills[0].id == "javascript"  # "JS" in the v1 fixture
    assert payload.skills[-1].id is None  # a skill the vocabulary does not know
    assert payload.consent.share_with_employers is True and payload.consent.aggregate_reports is False


def test_a_model_changed_without_a_new_version_is_reported(monkeypatch):
    real = schemas.expected()
    version = ReferralRoutedV1.schema_version
    path = schemas.path_for("referral.routed", version)
    changed = {**real, path: {**real[path], "required": [*real[path]["required"], "region"]}}
    changed[path]["properties"] = {**real[path]["properties"], "region": {"type": "string"}}
    monkeypatch.setattr(schemas, "expected", lambda: changed)
    [problem] = schemas.problems()
    assert f"referral.routed/{version}.json: differs from the model" in problem and "schema_version" in problem


@pytest.mark.parametrize("family", ["placement.reported", "offer.extended"])
def test_v1_terms_upcast_to_v2_with_a_pay_basis_and_nothing_else_guessed(family):
    doc = json.loads((FIXTURES / family / "1.1.json").read_text())
    payload = payload_of(Envelope.model_validate(doc)).model_dump(mode="json")
    assert payload["pay_basis"] == "hourly"  # the fixture's wage is by the hour
    kept = {k: v for k, v in doc["data"].items() if k != "benefits"}
    assert {k: payload[k] for k in kept} == kept
    assert payload["benefits"] == {**doc["data"]["benefits"], "dental": False, "vision": False, "tuition": False,
                                   "childcare": False, "other": []}
    assert [payload[k] for k in ("apprenticeship_registered", "engagement_hours", "schedule", "end_date")] == [None] * 4
