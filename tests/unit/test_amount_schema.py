"""A wage's amount: what the published documents allow is exactly what the model accepts.

Schemathesis found `POST /v1/openings` refusing amounts its OpenAPI document allowed (any
string, any number from 0 up). The documents' schema and the check are now one definition
(`contracts.events.AMOUNT_READ` and `_amount`); this compares the committed documents, as
a JSON Schema validator reads them (jsonschema_rs, the one schemathesis uses), with the model
on the extremes and on generated values. The HTTP path: tests/integration/test_wage_amounts.py.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.events import Wage

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]

# The extremes and the near misses of each branch (number, text).
ALLOWED = [0, 0.0, -0.0, 0.01, 0.57, 31.5, 9999999999, 9999999999.99, "0", "0.5", "31.50", "9999999999.99",
           "0000000000.00"]
FORBIDDEN = [-0.01, 0.001, 0.005, 1e-7, 10000000000, 9999999999.991, 1e300, "", "abc", " 1", "1 ", "+1", "-0",
             "1e3", "1E+9", "0.001", ".5", "5.", "10000000000", "1.000", "١٢", "12\n", True, None, [1], {"a": 1}]


def amount_schemas() -> list[tuple[str, dict]]:
    """The amount's schema in every committed document that has one (what a client reads)."""
    out = []
    for path in sorted((ROOT / "contracts").glob("*api/*.json")):
        doc = json.loads(path.read_text())
        wage = doc.get("components", {}).get("schemas", {}).get("Wage")
        if wage:
            out.append((f"{path.parent.name}/{path.stem}", wage["properties"]["amount"]))
    return out


SCHEMAS = amount_schemas()


def accepted(value: object) -> bool:
    try:
        Wage(amount=value, unit="hour")  # type: ignore[arg-type]
    except ValidationError:
        return False
    return True


def test_the_gateways_documents_publish_the_amount():
    assert {name for name, _ in SCHEMAS} >= {"openapi/employer_gateway", "asyncapi/employer_gateway"}


@pytest.mark.parametrize(("name", "schema"), SCHEMAS, ids=[n for n, _ in SCHEMAS])
def test_the_documents_and_the_model_agree_on_the_extremes(name, schema):
    validator = jsonschema_rs.validator_for(schema)
    assert [v for v in ALLOWED if not validator.is_valid(v)] == [], f"{name} forbids amounts the model accepts"
    assert [v for v in FORBIDDEN if validator.is_valid(v)] == [], f"{name} allows amounts the model refuses"
    assert [v for v in ALLOWED if not accepted(v)] == []
    assert [v for v in FORBIDDEN if accepted(v)] == []


AMOUNTS = st.one_of(
    st.integers(min_value=-10, max_value=10**11),
    st.floats(min_value=-1, max_value=2e10, allow_nan=False),
    st.integers(min_value=0, max_value=10**12).map(lambda cents: cents / 100),
    st.decimals(min_value=0, max_value=Decimal("2e10"), places=3, allow_nan=False).map(str),
    st.from_regex(r"\A[0-9 .eE+-]{0,14}\Z"),
)


@settings(max_examples=400, deadline=None)
@given(value=AMOUNTS)
def test_the_published_schema_and_the_model_agree_on_any_value(value):
    validator = jsonschema_rs.validator_for(dict(SCHEMAS)["openapi/employer_gateway"])
    assert validator.is_valid(value) == accepted(value), value


def test_what_is_written_is_what_the_writer_schema_allows():
    written = jsonschema_rs.validator_for(Wage.model_json_schema(mode="serialization")["properties"]["amount"])
    for value in ALLOWED:
        assert written.is_valid(Wage(amount=value, unit="hour").model_dump(mode="json")["amount"]), value
