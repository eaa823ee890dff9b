"""The committed OpenAPI and AsyncAPI documents match the code; OpenAPI validates and documents every error."""

import json

import pytest
from openapi_spec_validator import validate

from talentloop import specs

pytestmark = pytest.mark.unit
DOCS = [p for p in specs.documents() if p.parent.name == "openapi"]


def test_committed_documents_match_the_code():
    assert specs.drift() == []


@pytest.mark.parametrize("path", sorted(DOCS), ids=lambda p: p.stem)
def test_document_is_valid_openapi(path):
    validate(json.loads(path.read_text()))


@pytest.mark.parametrize("path", sorted(DOCS), ids=lambda p: p.stem)
def test_every_route_documents_its_problem_details(path):
    doc = json.loads(path.read_text())
    for route, ops in doc["paths"].items():
        for method, op in ops.items():
            errors = {s: r for s, r in op["responses"].items() if int(s) >= 400}
            assert errors, f"{method} {route} documents no errors"
            for status, response in errors.items():
                assert list(response["content"]) == ["application/problem+json"], (method, route, status)
            if route.startswith("/v1/"):
                assert "401" in errors, f"{method} {route} does not document 401"
            # Key and webhook-endpoint management ignore Idempotency-Key: a replay would need the new
            # key's or signing secret's plaintext stored (and a redelivery is harmless to repeat).
            # An adapter reload re-reads the same files, so repeating it is harmless: no key to honour.
            if method == "post" and not route.startswith(("/v1/keys", "/v1/webhooks")) and route != "/v1/adapters/reload":
                assert {"409", "422"} <= errors.keys(), f"{method} {route}: idempotency errors undocumented"
