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


# --- whatever the bytes are, reading them fails as a ContractError (never worth retrying) ---


def routed_bytes() -> bytes:
    payload = events.ReferralRoutedV1(
        referral_id="ref_1", partner_id="p1", candidate_id="cand_1", opening_id="opn_1", employer_id="e1", score=0.5,
        matched_skills=["python"], missing_skills=[], candidate_skills=["python"], explanation="fits",
    )
    return build(payload, source="/talentloop/routing", correlation_id="c").to_bytes()


def read(raw: bytes) -> events.Payload:
    return payload_of(Envelope.from_bytes(raw))


@pytest.mark.parametrize(
    "raw, needle",
    [
        (b"[" * 5000, "not JSON: recursion limit exceeded"),
        (b'{"a":' * 3000, "not JSON: recursion limit exceeded"),
        (b'{"data": {"n": ' + b"9" * 5000 + b"}}", "not JSON: number out of range"),
        (b'{"source": "\xc3("}', "not JSON: invalid unicode code point"),  # a cut multi-byte sequence
        (b'{"source": "\xed\xa0\x80"}', "not JSON: invalid unicode code point"),  # a UTF-8-encoded surrogate
        (b'{"source": "\\ud800"}', "not JSON"),  # an escaped lone surrogate
        (b'{"specversion": "1.0"} trailing', "not JSON: trailing characters"),
        (b'"just a string"', "not an object"),
    ],
    ids=["deep-array", "deep-object", "5000-digit-int", "bad-utf8", "utf8-surrogate", "lone-surrogate", "trailing",
         "string"],
)
def test_hostile_bytes_are_contract_errors_not_crashes(raw, needle):
    with pytest.raises(ContractError, match=needle):
        Envelope.from_bytes(raw)


def test_a_long_but_convertible_number_in_a_payload_field_is_refused_by_the_payload():
    raw = routed_bytes().replace(b'"score":0.5', b'"score":1' + b"0" * 4000)
    with pytest.raises(ContractError, match="invalid referral.routed.v1 data: score"):
        read(raw)


@pytest.mark.parametrize("value", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_nan_and_infinity_are_refused(value):
    with pytest.raises(ContractError, match="invalid referral.routed.v1 data: score"):
        read(routed_bytes().replace(b'"score":0.5', b'"score":' + value))
    parts = b'"score_parts":{"skills":0.6}'
    doc = json.loads(routed_bytes())
    doc["data"]["details"] = {"required_matched": [], "preferred_matched": [], "preferred_missing": [],
                              "location": "remote", "score_parts": {"skills": 0.6}, "alternatives": 0}
    raw = json.dumps(doc, separators=(",", ":")).encode()
    assert parts in raw
    with pytest.raises(ContractError, match="details.score_parts.skills"):
        read(raw.replace(parts, b'"score_parts":{"skills":' + value + b"}"))
    with pytest.raises(ContractError, match="invalid envelope: source"):
        Envelope.from_bytes(routed_bytes().replace(b'"source":"/talentloop/routing"', b'"source":' + value))


def test_an_impossible_date_in_a_payload_is_a_contract_error_naming_the_field():
    placed = events.PlacementReportedV1(
        referral_id="ref_1", employer_id="e1", opening_id="opn_1", job_title="Dev", onet_soc_code="15-1252.00",
        wage={"amount": "30.00", "unit": "hour"}, hours_per_week=40, employment_type="full_time", benefits={},
        start_date="2026-02-27",
    )
    raw = build(placed, source="/x", correlation_id="c").to_bytes().replace(b"2026-02-27", b"2026-02-30")
    with pytest.raises(ContractError, match="invalid placement.reported.v1 data: start_date"):
        read(raw)


def test_an_upcaster_failing_in_any_way_is_a_contract_error_with_the_reason(monkeypatch):
    from contracts import upcasting

    def broken(data):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setitem(upcasting.UPCASTERS, "referral.submitted.v1", ("referral.submitted.v2", broken))
    env = build(submitted(), source="/x", correlation_id="c")
    with pytest.raises(ContractError, match="cannot read referral.submitted.v2 data: RecursionError: maximum recursion"):
        payload_of(env)


def test_memory_errors_are_not_the_records_fault(monkeypatch):
    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(events.ReferralRoutedV1, "model_validate", exhausted)
    with pytest.raises(MemoryError):
        read(routed_bytes())


# --- topics: partitions are a setting, every topic takes exactly the producer's largest record ---


def test_partitions_default_to_twelve_and_follow_the_setting(monkeypatch):
    from talentloop.network import topic_specs

    monkeypatch.delenv(topics.PARTITIONS_ENV, raising=False)
    assert topics.default_partitions() == 12 and topics.REFERRALS.partitions == 12
    monkeypatch.setenv(topics.PARTITIONS_ENV, "24")
    specs = {s.name: s for s in topic_specs()}
    assert all(specs[t.name].partitions == 24 for t in topics.ALL)
    assert specs[topics.dead_letter_topic("routing")].partitions == 1
    assert all(s.topic_configs()["max.message.bytes"] == str(topics.MAX_MESSAGE_BYTES) for s in specs.values())


@pytest.mark.parametrize("bad", ["0", "-3", "twelve", "1.5", "10001"])
def test_a_bad_partitions_setting_is_refused_with_its_name(monkeypatch, bad):
    monkeypatch.setenv(topics.PARTITIONS_ENV, bad)
    with pytest.raises(ValueError, match=topics.PARTITIONS_ENV):
        topics.default_partitions()


def test_a_topic_with_its_own_config_still_gets_the_message_size():
    from deploy.topics import TopicSpec

    inbound = TopicSpec(topics.partner_inbound("p1"), config={"retention.ms": "86400000"})  # as intake creates them
    assert inbound.topic_configs() == {"max.message.bytes": "1048576", "retention.ms": "86400000"}
