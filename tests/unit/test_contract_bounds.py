"""The largest valid event of every type fits one Kafka record, with room for the headers.

For every event type in the registry, the largest valid payload is built from its published
(writer) schema: every optional field present, every list at its maximum count, every text
at its maximum length in the worst characters its field allows (the control characters JSON
writes as six bytes if the field takes them, else four-byte UTF-8, else a quote that JSON
escapes), every number at its longest. The model itself decides what it allows: a candidate
it refuses is replaced by the next worse one. Wrapped in an envelope whose own text is at
its maximum too, the record must fit `MAX_MESSAGE_BYTES` (the producer's `max_request_size`
and every topic's `max.message.bytes`) with `HEADER_ALLOWANCE_BYTES` to spare.

A text or list without a bound has no largest value: the bound check below names it, so a new
field without a bound fails here rather than in production.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from pydantic import BaseModel, Field, ValidationError, create_model

from contracts import PAYLOADS, Envelope, compat, latest_type, payload_of, schemas
from contracts.bounds import BASE64URL_PATTERN, ONET_SOC, TEXT_PATTERN
from contracts.events import Payload
from contracts.topics import HEADER_ALLOWANCE_BYTES, MAX_MESSAGE_BYTES

pytestmark = pytest.mark.unit

# Worst first: six bytes in JSON (\u0001), four in UTF-8, two once escaped ("), one.
FILLERS = ("\x01", "\U0001f600", '"', "a")
# Formats whose text has a fixed shape.
FORMATS: dict[str, list[Any]] = {
    "date": ["2026-12-31"],
    "date-time": ["2026-12-31T23:59:59.999999-23:59", "2026-12-31T23:59:59.999999Z"],
    "uuid": [str(uuid.UUID(int=2**128 - 1, version=4))],
}
# Patterns that are not "any text": the worst value each allows, given the maxLength n.
# (\d in pydantic's regex is any Unicode digit: MATHEMATICAL BOLD DIGITS are four bytes.)
PATTERNS: dict[str, Any] = {
    ONET_SOC: lambda n: ["\U0001d7cf\U0001d7d3-\U0001d7cf\U0001d7d0\U0001d7d3\U0001d7d0.\U0001d7ce\U0001d7ce",
                         "15-1252.00"],
    BASE64URL_PATTERN: lambda n: ["A" * n],
    r"^[A-Z]{3}$": lambda n: ["USD"],
    r"^A256GCM$": lambda n: ["A256GCM"],
    r"^(completed|in_progress)$": lambda n: ["in_progress", "completed"],
    r"^[0-9]{1,10}(\.[0-9]{1,2})?$": lambda n: ["9999999999.99"],
    r"^[a-z_]+(\.[a-z_]+)+\.v[0-9]+$": lambda n: ["a." * ((n - 3) // 2) + "v9"],
    r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$": lambda n: ["abc" + "-abcdefgh" * ((n - 3) // 9) + "-abcd"[: (n - 3) % 9]],
}
LONG_FLOATS = (-1.2345678901234567e300, 1.2345678901234567e300, -1.2345678901234567e-300, 1.2345678901234567e-300,
               0.30000000000000004, 1.0, 0.0)


def published(model: type[BaseModel]) -> dict[str, Any]:
    return compat.resolve(model.model_json_schema(mode="serialization"))


# --- every text and list has a bound ----------------------------------------------------


def unbounded(node: Any, path: str = "") -> list[str]:
    """Paths in a (resolved) schema whose size has no maximum."""
    if not isinstance(node, dict):
        return []
    found: list[str] = []
    for branch in node.get("anyOf", []) + node.get("oneOf", []):
        found += unbounded(branch, path)
    kind = node.get("type")
    fixed = "enum" in node or "const" in node
    if kind == "string" and not fixed and node.get("format") not in FORMATS and "maxLength" not in node:
        found.append(f"{path or '(root)'}: text without maxLength")
    if kind == "integer" and not fixed and "maximum" not in node and "exclusiveMaximum" not in node:
        found.append(f"{path or '(root)'}: integer without maximum")
    if kind == "array":
        if "maxItems" not in node:
            found.append(f"{path or '(root)'}: list without maxItems")
        found += unbounded(node.get("items"), f"{path}[]")
    if kind == "object":
        for name, prop in node.get("properties", {}).items():
            found += unbounded(prop, f"{path}.{name}" if path else name)
        values = [*node.get("patternProperties", {}).values()]
        if isinstance(node.get("additionalProperties"), dict):
            values.append(node["additionalProperties"])
        if values or node.get("additionalProperties") is True:
            if "maxProperties" not in node:
                found.append(f"{path or '(root)'}: map without maxProperties")
            if "maxLength" not in node.get("propertyNames", {}):
                found.append(f"{path or '(root)'}: map keys without maxLength")
        for value in values:
            found += unbounded(value, f"{path}{{}}")
    return found


@pytest.mark.parametrize("event_type", sorted(PAYLOADS))
def test_every_text_list_and_count_of_every_event_has_a_bound(event_type):
    assert unbounded(published(PAYLOADS[event_type])) == []


def test_the_envelope_s_own_attributes_have_bounds():
    schema = published(Envelope)
    del schema["properties"]["data"]  # the payload, bounded by its own model (above)
    assert unbounded(schema) == []


def test_a_field_without_a_bound_is_named():
    probe = create_model("Probe", __base__=Payload, note=(str, ...), tags=(list[str], Field(max_length=3)))
    assert unbounded(published(probe)) == ["note: text without maxLength", "tags[]: text without maxLength"]


# --- the largest valid instance, built from the schema and the model's own validation ----


@dataclass
class Leaf:
    candidates: list[Any]
    path: str
    chosen: int = 0

    def value(self) -> Any:
        return self.candidates[self.chosen]

    def next(self, why: str) -> None:
        self.chosen += 1
        if self.chosen >= len(self.candidates):
            raise AssertionError(f"{self.path}: the model refuses every candidate value ({why})")


@dataclass
class Entries:
    """A map's entries: keys are leaves too (the model may refuse a key)."""

    items: list[tuple[Leaf, Any]]


def texts(node: dict[str, Any], path: str, distinct: int = 0) -> list[str]:
    """Candidate texts for a string schema, worst first; `distinct` varies map keys."""
    if "enum" in node or "const" in node:
        values = node.get("enum", [node.get("const")])
        return sorted(values, key=lambda v: -len(json.dumps(v, ensure_ascii=False).encode()))
    if node.get("format") in FORMATS:
        return FORMATS[node["format"]]
    n = node.get("maxLength")
    assert n is not None, f"{path}: text without maxLength"
    pattern = node.get("pattern")
    if pattern is not None and pattern != TEXT_PATTERN:
        assert pattern in PATTERNS, f"{path}: add the worst value for pattern {pattern!r} to PATTERNS"
        return PATTERNS[pattern](n)
    tag = f"{distinct:04d}" if distinct else ""
    return [filler * (n - len(tag)) + tag for filler in FILLERS]


def plan(node: Any, path: str = "") -> Any:
    """The largest instance of a schema, as nested dicts and lists with Leaf values."""
    if "anyOf" in node or "oneOf" in node:
        options = node.get("anyOf", node.get("oneOf"))
        branches = [b for b in options if b.get("type") != "null"]
        assert branches, f"{path}: only null"
        planned = plan(branches[0], path)  # a value rather than null: optional fields are present
        if isinstance(planned, Leaf) and len(branches) < len(options):
            # ...unless the model refuses every value beside the others chosen (a field of one
            # kind of employment beside another kind): then it is left null, as it must be.
            planned.candidates.append(None)
        return planned
    kind = node.get("type")
    if kind == "object":
        if "properties" in node:
            return {name: plan(prop, f"{path}.{name}") for name, prop in node["properties"].items()}
        values = [*node.get("patternProperties", {}).values()] or [node.get("additionalProperties")]
        keys = {**node.get("propertyNames", {}), "type": "string"}
        return Entries([
            (Leaf(texts(keys, f"{path}{{key}}", distinct=i + 1), f"{path}{{key}}"), plan(values[0], f"{path}{{}}"))
            for i in range(node["maxProperties"])
        ])
    if kind == "array":
        return [plan(node["items"], f"{path}[{i}]") for i in range(node["maxItems"])]
    if kind == "string":
        return Leaf(texts(node, path), path)
    if kind == "integer":
        if "enum" in node:
            return Leaf(sorted(node["enum"], key=lambda v: -len(str(v))), path)
        top = node.get("maximum", node.get("exclusiveMaximum", 0) - 1)
        return Leaf([top], path)
    if kind == "number":
        return Leaf(sorted(LONG_FLOATS, key=lambda v: -len(json.dumps(v))), path)
    if kind == "boolean":
        return Leaf([False, True], path)
    raise AssertionError(f"{path}: no rule for schema {node}")


def materialize(tree: Any) -> Any:
    if isinstance(tree, Leaf):
        return tree.value()
    if isinstance(tree, Entries):
        return {key.value(): materialize(value) for key, value in tree.items}
    if isinstance(tree, dict):
        return {k: materialize(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [materialize(v) for v in tree]
    return tree


def leaf_at(tree: Any, loc: tuple[Any, ...]) -> Leaf | None:
    node = tree
    for i, part in enumerate(loc):
        if isinstance(node, Leaf):
            return node  # a validator's inner location
        if isinstance(node, Entries):
            key, value = next(((k, v) for k, v in node.items if k.value() == part), (None, None))
            if key is None:
                return None
            if loc[i + 1 : i + 2] == ("[key]",):
                return key
            node = value
        elif isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return node if isinstance(node, Leaf) else None


def largest(model: type[BaseModel], overrides: dict[str, Any] | None = None) -> BaseModel:
    schema = published(model)
    overrides = overrides or {}
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in overrides}
    tree = {**plan(schema), **overrides}
    for _ in range(100):
        try:
            return model.model_validate(materialize(tree))
        except ValidationError as exc:
            for err in exc.errors():
                leaf = leaf_at(tree, err["loc"])
                assert leaf is not None, f"{model.__name__}: cannot place {err['loc']}: {err['msg']}"
                leaf.next(err["msg"])
    raise AssertionError(f"{model.__name__}: no valid largest instance after 100 rounds")


def largest_record(event_type: str) -> tuple[Envelope, bytes, bytes]:
    model = PAYLOADS[event_type]
    payload = largest(model)
    data = payload.model_dump(mode="json")
    envelope = largest(Envelope, {"type": event_type, "data": data})
    value = envelope.to_bytes()
    return envelope, envelope.subject.encode(), value


@pytest.mark.parametrize("event_type", sorted(PAYLOADS))
def test_the_largest_valid_event_fits_a_record_with_room_for_headers(event_type):
    envelope, key, value = largest_record(event_type)
    record = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, [])
    assert len(value) + HEADER_ALLOWANCE_BYTES <= MAX_MESSAGE_BYTES, f"{event_type}: {len(value):,} bytes"
    assert record + HEADER_ALLOWANCE_BYTES <= MAX_MESSAGE_BYTES, f"{event_type}: record of {record:,} bytes"

    # It is valid where it is published, and readers take it (older versions upcast to the newest).
    doc = json.loads(value)
    model = PAYLOADS[event_type]
    jsonschema.validate(doc["data"], json.loads(schemas.path_for(model.family(), model.schema_version).read_text()))
    jsonschema.validate(doc, json.loads(schemas.path_for("envelope", schemas.ENVELOPE_VERSION).read_text()))
    assert payload_of(Envelope.from_bytes(value)).event_type == latest_type(event_type)


def test_the_largest_instance_really_is_at_every_bound():
    envelope, _, value = largest_record("referral.routed.v1")
    data = envelope.data
    assert len(data["candidate_skills"]) == 100 and {len(s) for s in data["candidate_skills"]} == {200}
    assert data["candidate_skills"][0] == "\U0001f600" * 200  # four bytes each: \x01 is not allowed in text
    assert len(data["credentials"]) == 50 and data["credentials"][0]["issuer"] == "\U0001f600" * 200
    assert len(data["explanation"]) == 30_000 and data["details"]["fairness"] is not None
    assert len(envelope.correlationid) == 1024 and envelope.causationid is not None
    assert len(value) > 500_000  # not trivially small: the bounds are what is measured


def test_text_refuses_control_characters_but_keeps_tabs_and_line_breaks():
    from contracts.bounds import refuses_control_character
    from contracts.events import ReferralDeclinedV1, Wage

    base = {"referral_id": "ref_1", "employer_id": "e1", "opening_id": "opn_1", "reason": "other"}
    assert ReferralDeclinedV1(**base, detail="line one\n\tline two\r\n").detail
    for bad in ("\x00", "\x01", "\x1b[31m", "\x0b"):
        with pytest.raises(ValidationError, match="detail") as refused:
            ReferralDeclinedV1(**base, detail=f"before{bad}after")
        assert [refuses_control_character(e) for e in refused.value.errors()] == [True]
    with pytest.raises(ValidationError) as other_pattern:
        Wage(amount="1", unit="hour", currency="usd")
    assert [refuses_control_character(e) for e in other_pattern.value.errors()] == [False]


def test_amounts_are_written_plainly_whatever_zeros_or_exponent_they_came_with():
    from decimal import Decimal

    from contracts.events import Wage

    def written(amount):
        return Wage(amount=amount, unit="hour").model_dump(mode="json")["amount"]

    # Text is read only in the form it is written (contracts.events.AMOUNT_PATTERN); a Decimal
    # built in Python, with zeros or an exponent, is written plainly.
    assert written(Decimal("1." + "0" * 5000)) == "1.00"
    assert written(Decimal("0E+99999999999999")) == "0" and written(Decimal("1E+9")) == "1000000000"
    assert written(-0.0) == "0.0" and written(Decimal("-0.00")) == "0.00"
    assert (written("25"), written(30), written("31.50"), written(31.5)) == ("25", "30", "31.50", "31.5")
    for bad in ("99999999999.00", "0E+" + "9" * 30, "1.001", "1." + "0" * 5000, "1E+9", "-0", " 1", "abc"):
        with pytest.raises(ValidationError, match="amount"):
            Wage(amount=bad, unit="hour")


def test_text_keys_never_outgrow_the_text_they_come_from():
    from contracts.events import text_key

    assert text_key("  Python   3 ") == "python 3"
    assert len("ß" * 200) == 200 and text_key("ß" * 200) == "s" * 200  # casefold doubles it; the key is cut
    assert len(text_key("\u0390" * 200)) == 200


def test_the_schema_walk_sees_what_the_model_enforces():
    # A bound published but not enforced (or the reverse) would make the "largest" instance a
    # lie: the model must refuse one more item and one more character than the schema allows.
    from contracts.events import ReferralRoutedV1

    envelope, _, _ = largest_record("referral.routed.v1")
    data = copy.deepcopy(envelope.data)
    data["candidate_skills"].append("x")
    with pytest.raises(ValidationError, match="candidate_skills"):
        ReferralRoutedV1.model_validate(data)
    data = copy.deepcopy(envelope.data)
    data["explanation"] += "x"
    with pytest.raises(ValidationError, match="explanation"):
        ReferralRoutedV1.model_validate(data)
