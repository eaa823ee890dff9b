"""Errors from the database reach callers as problem details: a value the database refuses is
the caller's (422); an unreachable database is a 503 to retry, not a bare 500."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from plumbing import problems

pytestmark = pytest.mark.unit


def app_raising(exc: Exception) -> FastAPI:
    app = FastAPI()
    problems.install(app)

    @app.get("/x/{value}")
    async def route(value: str) -> dict[str, str]:
        raise exc

    return app


async def call(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/x/a%00b")


async def test_a_value_the_database_refuses_is_a_422_problem():
    r = await call(app_raising(asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence: 0x00")))
    assert r.status_code == 422 and r.headers["content-type"].startswith(problems.MEDIA_TYPE)
    assert r.json()["type"].endswith(":invalid-input")


@pytest.mark.parametrize("exc", [
    ConnectionRefusedError(111, "Connect call failed"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.InterfaceError("pool is closing"),
])
async def test_an_unreachable_database_is_a_503_to_retry(exc):
    r = await call(app_raising(exc))
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert r.json()["type"].endswith(":unavailable")


async def test_a_bug_stays_a_500():
    r = await call(app_raising(asyncpg.InterfaceError("the server expects 2 arguments for this query, 1 was passed")))
    assert r.status_code == 500
