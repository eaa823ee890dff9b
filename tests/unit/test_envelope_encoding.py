"""`contracts.registry.encode` writes what `build(...).to_bytes()` writes, and refuses what it refuses.

Services emit through `encode` (plumbing.context), which skips the Envelope model's validation
and writes the payload's JSON once; `build` is the validated definition. For every event type
(its golden example and its largest valid payload, whose text is the worst JSON has to escape)
and for attributes drawn by hypothesis (control characters, quotes, lone surrogates, lengths
at and over the limits, naive and offset times), the two give the same bytes, an equal
Envelope, and the same refusals. Event ids are time-ordered UUIDs (version 7).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts import PAYLOADS, Envelope, build, events
from contracts.bounds import ID_MAX, TRACE_ID_MAX, URI_MAX
from contracts.ids import new_event_id
from contracts.registry import Encoded, Envelopes, encode
from tests.unit.test_contract_bounds import largest

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[2] / "contracts" / "fixtures"
AT = datetime(2026, 11, 30, 11, 45, 1, 123456, tzinfo=UTC)


def golden(event_type: str) -> events.Payload:
    model = PAYLOADS[event_type]
    doc = json.loads((FIXTURES / model.family() / f"{model.schema_version}.json").read_text())
    return model.model_validate(doc["data"])


EXAMPLES = {t: golden(t) for t in sorted(PAYLOADS)}


def assert_same(encoded: Encoded, built: Envelope) -> None:
    assert encoded.value == built.to_bytes()
    made = encoded.envelope()
    assert made == built
    assert made.model_dump() == built.model_dump()
    assert made.model_fields_set == built.model_fields_set
    assert (encoded.id, encoded.subject, encoded.time) == (built.id, built.subject, built.time)
    assert encoded.topic == type(encoded.payload).topic.name
    decoded = Envelope.from_bytes(encoded.value)
    assert decoded == Envelope.from_bytes(built.to_bytes())
    # (Not always equal to what was sent: JSON times carry whole minutes of offset.)
    assert (decoded == made) == (decoded == built)


def both(payload: events.Payload, **attributes):
    """(encode's result or its error type, build's result or its error type), same id."""
    event_id = new_event_id()
    try:
        encoded = encode(payload, event_id=event_id, **attributes)
    except ValidationError:
        encoded = ValidationError
    try:
        built = build(payload, event_id=event_id, **attributes)
    except ValidationError:
        built = ValidationError
    return encoded, built


@pytest.mark.parametrize("event_type", sorted(PAYLOADS))
def test_every_type_s_example_and_largest_payload_are_written_as_build_writes_them(event_type):
    for payload in (EXAMPLES[event_type], largest(PAYLOADS[event_type])):
        for attributes in (
            {"source": "/talentloop/routing", "correlation_id": "c-1", "time": AT},
            {"source": "/talentloop/employer-gateway", "correlation_id": 'a "quoted" \\ corr\tid\u2028é😀\x7f',
             "causation_id": "cause", "partner_id": "p\u00e9", "employer_id": "e\n1",
             "time": datetime(2026, 2, 28, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5, seconds=30)))},
            {"source": "/x", "correlation_id": "c" * TRACE_ID_MAX, "causation_id": "\x7f" * TRACE_ID_MAX,
             "partner_id": "\U0001f600" * ID_MAX, "employer_id": '"' * ID_MAX, "time": AT.replace(microsecond=0)},
        ):
            encoded, built = both(payload, **attributes)
            assert built is not ValidationError
            assert_same(encoded, built)


SAFE_TEXT = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=30)
TEXT = st.one_of(
    SAFE_TEXT,
    SAFE_TEXT,
    SAFE_TEXT,  # more likely than the rest: most draws should be written, not refused
    st.text(max_size=30),
    st.text(alphabet=st.sampled_from('ab"\\\x00\x01\t\n\r\x1f\x7f\u2028é😀\ud800'), max_size=12),
    st.sampled_from([None, "x" * TRACE_ID_MAX, "x" * (TRACE_ID_MAX + 1), "y" * ID_MAX, "y" * (ID_MAX + 1),
                     "z" * URI_MAX, "z" * (URI_MAX + 1), "a\n", "\ud800", "ok-1"]),
)
AWARE = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]))
TIMES = st.one_of(
    st.none(),
    AWARE,
    AWARE,
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                            timezone(timedelta(hours=-23, minutes=-59, seconds=-59)),
                                            timezone(timedelta(microseconds=1))])),
    st.datetimes(),  # naive: refused
)


@settings(max_examples=200, deadline=None)
@given(
    event_type=st.sampled_from(sorted(PAYLOADS)),
    source=st.one_of(st.sampled_from(["/talentloop/routing", "/talentloop/intake"]), TEXT),
    correlation_id=TEXT,
    causation_id=TEXT,
    partner_id=st.one_of(st.none(), st.none(), SAFE_TEXT, TEXT),
    employer_id=st.one_of(st.none(), st.none(), SAFE_TEXT, TEXT),
    time=TIMES,
)
@example(event_type="referral.routed.v1", source="/talentloop/routing", correlation_id="c\x0b",
         causation_id=None, partner_id=None, employer_id=None, time=AT)
@example(event_type="referral.routed.v1", source="/talentloop/routing", correlation_id="c",
         causation_id=None, partner_id=None, employer_id=None, time=datetime(2026, 1, 1))
def test_any_attributes_are_written_or_refused_as_build_does(event_type, source, correlation_id, causation_id,
                                                              partner_id, employer_id, time):
    attributes = {"source": source, "correlation_id": correlation_id, "causation_id": causation_id,
                  "partner_id": partner_id, "employer_id": employer_id, "time": time}
    if time is None:
        # Both take the time now; the same time makes their bytes comparable.
        attributes["time"] = encode(EXAMPLES[event_type], source="/x", correlation_id="c").time
    encoded, built = both(EXAMPLES[event_type], **attributes)
    if built is ValidationError:
        assert encoded is ValidationError
    else:
        assert encoded is not ValidationError
        assert_same(encoded, built)


def test_without_a_time_it_is_now_in_utc():
    before = datetime.now(UTC)
    encoded = encode(EXAMPLES["referral.routed.v1"], source="/x", correlation_id="c")
    assert before <= encoded.time <= datetime.now(UTC)
    assert encoded.time.utcoffset() == timedelta(0)
    assert Envelope.from_bytes(encoded.value).time == encoded.time


def test_the_payload_s_partner_and_employer_are_the_envelope_s_unless_given():
    routed = EXAMPLES["referral.routed.v1"]
    doc = json.loads(encode(routed, source="/x", correlation_id="c").value)
    assert (doc["partnerid"], doc["employerid"]) == (routed.partner_id, routed.employer_id)
    doc = json.loads(encode(routed, source="/x", correlation_id="c", partner_id="p", employer_id="e").value)
    assert (doc["partnerid"], doc["employerid"]) == ("p", "e")
    doc = json.loads(encode(EXAMPLES["opening.closed.v1"], source="/x", correlation_id="c").value)
    assert "partnerid" not in doc and "causationid" not in doc


# --- event ids ---------------------------------------------------------------------------


def test_event_ids_are_version_7_in_the_order_made_with_the_time_in_milliseconds():
    before = time.time_ns() // 1_000_000
    ids = [new_event_id() for _ in range(20_000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert sorted(str(i) for i in ids) == [str(i) for i in ids]  # the text sorts as the value
    for i in ids[:: 1_000]:
        assert i.version == 7 and i.variant == uuid.RFC_4122
        assert i == uuid.UUID(str(i)) and hash(i) == hash(uuid.UUID(str(i)))
        assert before <= i.int >> 80 <= after
    assert encode(EXAMPLES["referral.routed.v1"], source="/x", correlation_id="c").id.version == 7
    assert build(EXAMPLES["referral.routed.v1"], source="/x", correlation_id="c").id.version == 7


def test_a_forked_child_makes_its_own_random_bits():
    new_event_id()  # the parent has a supply of random bits
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(write, b"".join(new_event_id().bytes for _ in range(8)))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        child = {uuid.UUID(bytes=b[i : i + 16]) for b in [pipe.read()] for i in range(0, len(b), 16)}
    os.waitpid(pid, 0)
    parent = {new_event_id() for _ in range(8)}
    assert len(child) == 8
    assert {i.int & ((1 << 62) - 1) for i in child}.isdisjoint({i.int & ((1 << 62) - 1) for i in parent})


# --- the envelopes emit_many returns -------------------------------------------------------


def test_envelopes_are_a_sequence_made_when_looked_at():
    encoded = [encode(EXAMPLES[t], source="/x", correlation_id="c", time=AT) for t in sorted(PAYLOADS)[:3]]
    envelopes = Envelopes(encoded)
    assert len(envelopes) == 3
    assert envelopes[0] is envelopes[0]  # made once
    assert envelopes[-1] == encoded[2].envelope()
    assert envelopes[1:] == [e.envelope() for e in encoded[1:]]
    assert list(envelopes) == [e.envelope() for e in encoded]
    assert envelopes == [e.envelope() for e in encoded]
    (a, b, c) = envelopes
    assert [a.id, b.id, c.id] == [e.id for e in encoded]
    with pytest.raises(IndexError):
        envelopes[3]
    assert len(Envelopes([])) == 0 and list(Envelopes([])) == []
