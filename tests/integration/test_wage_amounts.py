"""`POST /v1/openings` takes every wage amount its OpenAPI document allows and refuses, with a
422 problem naming the field, every one it forbids (issue 14: schemathesis found a
schema-valid amount refused). On real PostgreSQL; the values are classified by the committed
document first, so a document and a gateway that drift apart fail here.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import pytest

from tests.integration.test_gateway_openings import POSTING, gateway_pool, opening_events  # noqa: F401 (fixture)
from tests.integration.test_withdraw_update_erase import gateway_app

pytestmark = pytest.mark.integration
DOC = Path(__file__).resolve().parents[2] / "contracts/openapi/employer_gateway.json"

# (sent, written in opening.posted): the extremes of both forms the document allows.
ALLOWED = [("0", "0"), (0, "0"), ("9999999999.99", "9999999999.99"), (9999999999.99, "9999999999.99"),
           (0.57, "0.57"), ("31.50", "31.50")]
FORBIDDEN = ["10000000000", 10000000000, 9999999999.991, "0.001", 0.001, -0.01, "1e3", "-0", " 25", "abc", ""]


async def test_openings_accept_exactly_the_wage_amounts_the_document_allows(gateway_pool):  # noqa: F811
    schema = json.loads(DOC.read_text())["components"]["schemas"]["Wage"]["properties"]["amount"]
    documented = jsonschema_rs.validator_for(schema)
    assert [sent for sent, _ in ALLOWED if not documented.is_valid(sent)] == []
    assert [sent for sent in FORBIDDEN if documented.is_valid(sent)] == []
    async with gateway_app(gateway_pool) as http:
        for sent, _ in ALLOWED:
            r = await http.post("/v1/openings", json={**POSTING, "wage": {"amount": sent, "unit": "year"}})
            assert r.status_code == 201, (sent, r.text)
        for sent in FORBIDDEN:
            r = await http.post("/v1/openings", json={**POSTING, "wage": {"amount": sent, "unit": "year"}})
            assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", (sent, r.text)
            assert [e["field"] for e in r.json()["errors"]] == ["wage.amount"], (sent, r.text)
    posted = [e.data["wage"]["amount"] for e in await opening_events(gateway_pool)]
    assert posted == [written for _, written in ALLOWED]


async def test_an_unpaid_opening_takes_a_wage_of_zero_in_any_form_and_nothing_above(gateway_pool):  # noqa: F811
    unpaid = {**POSTING, "employment_type": "internship", "paid": False}
    async with gateway_app(gateway_pool) as http:
        for sent in ("0", 0, "0.00", 0.0):
            r = await http.post("/v1/openings", json={**unpaid, "wage": {"amount": sent, "unit": "hour"}})
            assert r.status_code == 201, (sent, r.text)
        for sent in ("0.01", 0.01, "25"):
            r = await http.post("/v1/openings", json={**unpaid, "wage": {"amount": sent, "unit": "hour"}})
            assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", (sent, r.text)
            assert [e["field"] for e in r.json()["errors"]] == ["paid"], (sent, r.text)
    posted = await opening_events(gateway_pool)
    assert [(e.data["paid"], e.data["wage"]["amount"]) for e in posted] == [(False, "0"), (False, "0"), (False, "0.00"),
                                                                            (False, "0.0")]
