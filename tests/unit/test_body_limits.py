"""The body size limits of every service (plumbing/body_limits.py), on an app built by
`create_app` without its lifespan: a declared Content-Length over the limit and a chunked
body that grows over it are both 413 problem details; uploads get their own limit; a body
within the limit reaches the route whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, File, UploadFile
from pydantic import BaseModel

from plumbing.service import ServiceDefinition, create_app
from plumbing.settings import Settings

pytestmark = pytest.mark.unit
JSON_LIMIT, UPLOAD_LIMIT = 4096, 64 * 1024


class Note(BaseModel):
    text: str


router = APIRouter()


@router.post("/notes")
async def post_note(note: Note) -> dict[str, int]:
    return {"length": len(note.text)}


@router.post("/uploads")
async def upload(file: Annotated[UploadFile, File()]) -> dict[str, int]:
    return {"size": len(await file.read())}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    definition = ServiceDefinition(name="limits", title="t", description="t", migrations=Path("."), routers=[router])
    settings = Settings(TALENTLOOP_MAX_JSON_BODY_BYTES=JSON_LIMIT, TALENTLOOP_MAX_CSV_BODY_BYTES=UPLOAD_LIMIT)
    app = create_app(definition, settings)  # no lifespan: these routes need no database
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as c:
        yield c


def note(size: int) -> bytes:
    return b'{"text": "' + b"x" * (size - 12) + b'"}'


async def chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


def assert_too_large(r: httpx.Response, limit: int) -> None:
    assert r.status_code == 413, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["connection"] == "close"
    assert "X-Correlation-Id" in r.headers  # the service's own middleware saw it too
    problem = r.json()
    assert problem["type"] == "urn:talentloop:problem:content-too-large"
    assert problem["status"] == 413 and problem["max_bytes"] == limit


async def test_a_json_body_within_the_limit_arrives_whole(client: httpx.AsyncClient) -> None:
    body = note(JSON_LIMIT)
    assert len(body) == JSON_LIMIT
    r = await client.post("/notes", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.json() == {"length": JSON_LIMIT - 12}
    # The same, streamed without a Content-Length.
    r = await client.post("/notes", content=chunks(body), headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.json() == {"length": JSON_LIMIT - 12}


async def test_a_declared_length_far_over_the_limit_is_refused_before_the_body_is_read(
    client: httpx.AsyncClient,
) -> None:
    sent = 0

    async def counted() -> AsyncIterator[bytes]:
        nonlocal sent
        for part in [b"x" * 1000] * 10:
            sent += 1
            yield part

    headers = {"content-type": "application/json", "content-length": str(10_000)}
    r = await client.post("/notes", content=counted(), headers=headers)
    assert_too_large(r, JSON_LIMIT)
    assert r.json()["detail"] == f"a JSON request body may be at most {JSON_LIMIT} bytes"
    assert sent == 0


async def test_a_chunked_body_is_refused_once_it_grows_over_the_limit(client: httpx.AsyncClient) -> None:
    sent = 0
    body = note(JSON_LIMIT + 1)

    async def counted() -> AsyncIterator[bytes]:
        nonlocal sent
        async for part in chunks(body + b" " * 100_000):
            sent += len(part)
            yield part

    r = await client.post("/notes", content=counted(), headers={"content-type": "application/json"})
    assert "content-length" not in r.request.headers
    assert_too_large(r, JSON_LIMIT)
    # Refused at the chunk that went over, then at most the limit again is read and dropped.
    assert sent <= 2 * JSON_LIMIT + 2000


async def test_a_body_a_little_over_the_limit_is_read_to_its_end_before_the_answer(client: httpx.AsyncClient) -> None:
    """So that a client which sends its whole body before it reads finds the 413 (over a
    socket, closing with unread input would reset the connection, the answer with it)."""
    sent = 0
    body = note(JSON_LIMIT + 3000)

    async def counted() -> AsyncIterator[bytes]:
        nonlocal sent
        async for part in chunks(body):
            sent += len(part)
            yield part

    headers = {"content-type": "application/json", "content-length": str(len(body))}
    r = await client.post("/notes", content=counted(), headers=headers)
    assert_too_large(r, JSON_LIMIT)
    assert sent == len(body)
    # Unless the client waits for `100 Continue`: then it is told before it sends.
    sent = 0
    r = await client.post("/notes", content=counted(), headers={**headers, "expect": "100-continue"})
    assert_too_large(r, JSON_LIMIT)
    assert sent == 0


async def test_uploads_have_their_own_limit(client: httpx.AsyncClient) -> None:
    small = {"file": ("a.csv", b"a,b\n" * 2000, "text/csv")}  # 8 KB: over the JSON limit, under the upload one
    r = await client.post("/uploads", files=small)
    assert r.status_code == 200 and r.json() == {"size": 8000}

    big = {"file": ("a.csv", b"a,b\n" * 20_000, "text/csv")}
    r = await client.post("/uploads", files=big)
    assert_too_large(r, UPLOAD_LIMIT)
    assert "upload request body" in r.json()["detail"]

    # Streamed (no Content-Length): the multipart body is counted as it arrives.
    request = client.build_request("POST", "/uploads", files=big)
    streamed = b"".join([part for part in request.stream])  # type: ignore[union-attr]
    headers = {"content-type": request.headers["content-type"]}
    r = await client.post("/uploads", content=chunks(streamed, 8192), headers=headers)
    assert "content-length" not in r.request.headers
    assert_too_large(r, UPLOAD_LIMIT)


async def test_a_json_route_does_not_take_an_upload_sized_body(client: httpx.AsyncClient) -> None:
    files = {"file": ("a.csv", b"a,b\n" * 2000, "text/csv")}
    r = await client.post("/notes", files=files)
    assert_too_large(r, JSON_LIMIT)


async def test_the_openapi_document_names_413_for_routes_with_a_body(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert "413" in doc["paths"]["/notes"]["post"]["responses"]
    assert "413" in doc["paths"]["/uploads"]["post"]["responses"]
    assert "413" not in doc["paths"]["/health"]["get"]["responses"]
