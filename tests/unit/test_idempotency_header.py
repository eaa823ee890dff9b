"""The Idempotency-Key header is declared once (plumbing.idempotency.IdempotencyKey), and the
published documents say what the code checks: an empty or over-long key is a 422."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from plumbing import problems
from plumbing.idempotency import IdempotencyKey

pytestmark = pytest.mark.unit
OPENAPI = Path(__file__).parents[2] / "contracts" / "openapi"


def test_every_documented_idempotency_key_is_one_to_255_characters():
    found = 0
    for doc in OPENAPI.glob("*.json"):
        for path, operations in json.loads(doc.read_text())["paths"].items():
            for method, operation in operations.items():
                for param in operation.get("parameters", []):
                    if param["name"] == "Idempotency-Key":
                        found += 1
                        (text,) = [s for s in param["schema"]["anyOf"] if s.get("type") == "string"]
                        assert (text["minLength"], text["maxLength"]) == (1, 255), (doc.name, method, path)
    assert found >= 10  # intake's submissions and imports, the gateway's actions


@pytest.mark.parametrize("key, status", [("", 422), ("k" * 256, 422), ("k" * 255, 200), (None, 200)])
async def test_the_header_is_checked_as_documented(key, status):
    app = FastAPI()
    problems.install(app)

    @app.post("/x")
    async def x(idempotency_key: IdempotencyKey = None) -> dict:
        return {"key": idempotency_key}

    headers = {} if key is None else {"Idempotency-Key": key}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        r = await http.post("/x", headers=headers)
    assert r.status_code == status
    if status == 422:
        assert r.headers["content-type"].startswith("application/problem+json")
