import json
from datetime import UTC, datetime

import pytest

from contracts import PAYLOADS, ContractError, Envelope, build, events, payload_of, topics

pytestmark = pytest.mark.unit

CONSENT = {"share_with_employers": True, "given_at": datetime(2026, 11, 1, tzinfo=UTC)}


def submitted(**over):
    return events.ReferralSubmittedV1(
        **{"referral_id": "ref_1", "partner_id": "p1", "candidate_id": "cand_1", "skills": ["python"],
           "consent": CONSENT, **over}
    )


def test_round_trip_through_bytes_keeps_every_attribute():
    env = build(submitted(), source="/talentloop/intake", correlation_id="corr-1")
    back = Envelope.from_bytes(env.to_bytes())
    assert back == env
    assert back.type == "referral.submitted.v1"
    assert back.subject == "ref_1" and back.partnerid == "p1"
    upcast = payload_of(back)  # consumers see the newest version
    assert upcast.event_type == "referral.submitted.v2"
    assert [(s.id, s.text) for s in upcast.skills] == [("python", "python")]


def test_envelope_is_cloudevents_structured_json():
    doc = json.loads(build(submitted(), source="/x", correlation_id="c").to_bytes())
    for attr in ("specversion", "id", "source", "type", "time", "subject", "datacontenttype", "dataschema", "data"):
        assert attr in doc
    assert doc["specversion"] == "1.0" and doc["datacontenttype"] == "application/json"


def test_opening_subject_is_the_opening_id():
    opening = events.OpeningPostedV1(
        opening_id="opn_1", employer_id="e1", title="Dev", onet_soc_code="15-1252.00", required_skills=["python"],
        capacity=2, wage={"amount": "30.00", "unit": "hour"}, location="NYC",
    )
    assert build(opening, source="/x", correlation_id="c").subject == "opn_1"
    assert opening.topic is topics.OPENINGS


@pytest.mark.parametrize(
    "raw, needle",
    [
        (b"", "empty"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"specversion": "1.0"}', "invalid envelope"),
    ],
)
def test_bad_bytes_are_contract_errors(raw, needle):
    with pytest.raises(ContractError, match=needle):
        Envelope.from_bytes(raw)


def test_unknown_type_and_bad_payload_are_contract_errors():
    env = build(submitted(), source="/x", correlation_id="c")
    with pytest.raises(ContractError, match="unknown event type"):
        payload_of(env.model_copy(update={"type": "referral.submitted.v9"}))
    with pytest.raises(ContractError, match="invalid referral.submitted.v1 data: skills"):
        payload_of(env.model_copy(update={"data": {**env.data, "skills": []}}))


def test_decline_other_needs_detail():
    with pytest.raises(ValueError, match="detail"):
        events.ReferralDeclinedV1(referral_id="r", employer_id="e", opening_id="o", reason="other")


def test_every_payload_names_a_versioned_type_and_a_known_topic():
    assert len(PAYLOADS) >= 9
    for name, model in PAYLOADS.items():
        assert name.endswith(f".v{model.schema_version.split('.')[0]}") and model.topic in topics.ALL
