"""`POST /v1/referrals` answers the same through `SubmitRoute`'s own path as through FastAPI's
handler (services/intake/submit_route.py), on the service app with real API keys, PostgreSQL
and Kafka: each request below is sent once each way and the answers compared (status,
problem details, the headers that matter), and the requests that validate are checked to be
answered without FastAPI's handler.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import fastapi
import fastapi.routing
import httpx
import pytest

from services.intake import api
from tests.support.intake_app import RIVERBEND, intake_app

pytestmark = pytest.mark.integration
ADAPTERS = Path(__file__).parents[2] / "deploy" / "adapters"
# Values that differ from one request to the next whichever path answers.
FRESH = {"referral_id", "candidate_id", "existing_referral_id", "instance", "correlation_id", "trace_id"}


def _unused() -> None:  # an override of nothing the route uses: FastAPI's handler answers
    return None


@pytest.fixture(scope="module")
async def intake(stack, tmp_path_factory) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("adapters")
    shutil.copy(ADAPTERS / f"{RIVERBEND}.csv.yaml", folder)
    async with intake_app(stack, folder) as client:
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]  # real keys, below
        yield client


@pytest.fixture(scope="module")
async def keys(intake) -> dict[str, str]:  # type: ignore[no-untyped-def]
    issue = intake.app.state.keys.issue
    return {
        "partner": (await issue("partner", RIVERBEND, ["read", "write"])).key,
        "reader": (await issue("partner", RIVERBEND, ["read"])).key,
        "employer": (await issue("employer", "emp-submit-route", ["read", "write"])).key,
    }


def referral(**over: Any) -> dict[str, Any]:
    n = uuid.uuid4().hex[:10]
    return {
        "external_id": f"sr-{n}",
        "candidate": {"given_name": "Sub", "family_name": f"Mit{n}", "email": f"sr-{n}@example.org"},
        "skills": ["Python", "SQL"],
        "consent": {"share_with_employers": True, "given_at": "2026-01-05T10:00:00Z"},
        **over,
    }


Send = Callable[..., Awaitable[httpx.Response]]


def _cases(keys: dict[str, str]) -> dict[str, Callable[[Send], Awaitable[list[httpx.Response]]]]:
    auth = {"Authorization": f"Bearer {keys['partner']}"}

    async def one(
        send: Send, body: Any = None, headers: dict[str, str] | None = None, **kw: Any
    ) -> list[httpx.Response]:
        given = {**auth, **(headers or {})}
        return [await send(json=referral() if body is None else body, headers=given, **kw)]

    async def duplicate(send: Send) -> list[httpx.Response]:
        r = referral()
        return [await send(json=r, headers=auth), await send(json={**r, "external_id": None}, headers=auth)]

    async def replayed(send: Send) -> list[httpx.Response]:
        r, key = referral(), {**auth, "Idempotency-Key": uuid.uuid4().hex}
        return [
            await send(json=r, headers=key),
            await send(json=r, headers=key),
            await send(json=referral(), headers=key),
        ]

    def raw(content: bytes | Callable[[], bytes], **headers: str) -> Callable[[Send], Awaitable[list[httpx.Response]]]:
        async def case(send: Send) -> list[httpx.Response]:  # a callable: a new body each send
            return [await send(content=content() if callable(content) else content, headers=headers)]

        return case

    return {
        "accepted": lambda send: one(send),
        "duplicate": duplicate,
        "idempotent replay and reuse": replayed,
        "no key": lambda send: one(send, headers={"Authorization": ""}),
        "unknown key": lambda send: one(send, headers={"Authorization": "Bearer tl_p_nope"}),
        "employer": lambda send: one(send, headers={"Authorization": f"Bearer {keys['employer']}"}),
        "read scope only": lambda send: one(send, headers={"Authorization": f"Bearer {keys['reader']}"}),
        "missing consent": lambda send: one(send, body={k: v for k, v in referral().items() if k != "consent"}),
        "not an object": lambda send: one(send, body=[1, 2]),
        "future consent": lambda send: one(
            send, body=referral(consent={"share_with_employers": True, "given_at": "2999-01-01T00:00:00Z"})
        ),
        "skill beyond the contract": lambda send: one(send, body=referral(skills=["Python", "s" * 201])),
        "control character": lambda send: one(send, body=referral(location="Chicago\x00")),
        "empty key": lambda send: one(send, headers={"Idempotency-Key": ""}),
        "longest key": lambda send: one(send, headers={"Idempotency-Key": uuid.uuid4().hex.ljust(255, "k")}),
        "long key": lambda send: one(send, headers={"Idempotency-Key": "k" * 256}),
        "bad key and bad body": lambda send: one(
            send, body={"skills": 1}, headers={"Authorization": "", "Idempotency-Key": "k" * 256}
        ),
        "malformed JSON": raw(b'{"skills": [', **{"content-type": "application/json", **auth}),
        "malformed JSON without a key": raw(b'{"skills": [', **{"content-type": "application/json"}),
        "empty body": raw(b"", **{"content-type": "application/json", **auth}),
        "not UTF-8": raw(b'{"a": "\xff"}', **{"content-type": "application/json", **auth}),
        "another content type": raw(b"{}", **{"content-type": "text/plain", **auth}),
        "JSON with a charset": raw(
            lambda: json.dumps(referral()).encode(), **{"content-type": "application/json; charset=utf-8", **auth}
        ),
        "body beyond the limit": raw(
            json.dumps(referral(notes="n" * 1_100_000)).encode(), **{"content-type": "application/json", **auth}
        ),
    }


# The requests whose body validates: SubmitRoute answers them itself, whatever the answer.
OWN_PATH = {
    "accepted",
    "duplicate",
    "idempotent replay and reuse",
    "no key",
    "unknown key",
    "employer",
    "read scope only",
    "future consent",
    "control character",
    "longest key",
}
# Refused while the body is read (413), before either path validates it.
READING = {"body beyond the limit"}


def _seen(r: httpx.Response) -> tuple[int, str, Any, dict[str, str]]:
    body = r.json() if r.content else None

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: "<fresh>" if k in FRESH else plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    headers = {h: r.headers.get(h, "") for h in ("content-type", "www-authenticate", "idempotent-replayed")}
    headers["location"] = "yes" if "location" in r.headers else ""
    return r.status_code, r.headers.get("content-type", ""), plain(body), headers


async def test_each_request_is_answered_as_fastapi_answers_it(intake, keys, monkeypatch):
    handled = 0  # requests FastAPI's own handler took (it asks for its telemetry first)
    telemetry = fastapi.routing.get_telemetry_data

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal handled
        handled += 1
        return telemetry(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "get_telemetry_data", counting)

    async def send(**kw: Any) -> httpx.Response:
        return await intake.post("/v1/referrals", **kw)

    app = intake.app
    for name, case in _cases(keys).items():
        handled = 0
        own = [_seen(r) for r in await case(send)]
        own_handled = handled
        app.dependency_overrides[_unused] = _unused  # FastAPI's handler
        try:
            handled = 0
            theirs = [_seen(r) for r in await case(send)]
        finally:
            app.dependency_overrides.clear()
        assert own == theirs, name
        assert handled == len(theirs), name  # FastAPI's handler did answer the second time
        if name in OWN_PATH:
            assert own_handled == 0, f"{name}: answered without FastAPI's handler"
        elif name not in READING:
            assert own_handled == len(own), f"{name}: left to FastAPI's handler"
    # The answers themselves (so the comparison compared something).
    assert [s for s, *_ in [_seen(r) for r in await _cases(keys)["idempotent replay and reuse"](send)]] == [
        201,
        201,
        422,
    ]


async def test_a_route_that_solves_more_than_the_caller_is_refused():
    """A dependency where the router is included (a rate limit, a tenant guard) would never run
    on the fast path: the route refuses to be built with one rather than skip it."""

    def gate() -> None:
        return None

    app = fastapi.FastAPI()
    app.include_router(api.router, dependencies=[fastapi.Depends(gate)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
        with pytest.raises(TypeError, match="only the caller"):
            await client.post("/v1/referrals", json=referral())
