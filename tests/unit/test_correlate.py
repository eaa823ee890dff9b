"""The per-request middleware (plumbing/correlate.py) on an app built by `create_app` without its
lifespan: the correlation id reaches the route, the log context and the answer; a route that
raises is counted as 500 and its span records the error; a streamed answer's span and latency
end when the response starts, while the stream runs on in the span's context."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client.parser import text_string_to_metric_families

from plumbing import correlate, tracing
from plumbing.service import ServiceDefinition, correlation_id, create_app

pytestmark = pytest.mark.unit
SERVICE = "unit_correlate"

_spans: InMemorySpanExporter | None = None
release = asyncio.Event()


@pytest.fixture
def spans() -> InMemorySpanExporter:
    global _spans
    if _spans is None:
        _spans = InMemorySpanExporter()
        tracing.provider().add_span_processor(SimpleSpanProcessor(_spans))
    _spans.clear()
    return _spans


router = APIRouter()


@router.get("/v1/echo/{thing}")
async def echo(thing: str, request: Request) -> dict:
    return {
        "correlation_id": correlation_id(request),
        "logged": structlog.contextvars.get_contextvars().get("correlation_id"),
        "trace": tracing.current_ids(),
    }


@router.get("/v1/boom")
async def boom() -> dict:
    raise RuntimeError("boom")


@router.get("/v1/stream")
async def stream() -> StreamingResponse:
    async def lines():  # type: ignore[no-untyped-def]
        yield b"first\n"
        await release.wait()
        yield (tracing.current_ids() or ("none",))[0].encode() + b"\n"

    return StreamingResponse(lines(), media_type="text/plain")


def client(raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    definition = ServiceDefinition(name=SERVICE, title="t", description="t", migrations=Path("."), routers=[router])
    app = create_app(definition)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://svc")


def count(text: str, route: str, status: str) -> float:
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        if f.name == "talentloop_http_request_seconds"
        for s in f.samples
        if s.name.endswith("_count")
        and s.labels == {"service": SERVICE, "route": route, "method": "GET", "status": status}
    )


async def test_the_correlation_id_reaches_the_route_the_log_context_and_the_answer(spans) -> None:
    async with client() as c:
        given = await c.get("/v1/echo/a", headers={"X-Correlation-Id": "corr-123"})
        fresh = await c.get("/v1/echo/b")
    assert given.json()["correlation_id"] == given.json()["logged"] == "corr-123"
    assert given.headers["X-Correlation-Id"] == "corr-123"
    new_id = fresh.headers["X-Correlation-Id"]
    assert len(new_id) == 36 and fresh.json()["correlation_id"] == fresh.json()["logged"] == new_id
    trace_id, span_id = fresh.json()["trace"]
    assert fresh.headers["X-Trace-Id"] == trace_id
    (server,) = [s for s in spans.get_finished_spans() if s.context.span_id == int(span_id, 16)]
    assert server.name == "GET /v1/echo/{thing}" and server.kind is SpanKind.SERVER
    assert server.attributes["http.route"] == "/v1/echo/{thing}"
    assert server.attributes["http.response.status_code"] == 200


async def test_a_route_that_raises_is_a_500_counted_with_its_span_in_error(spans) -> None:
    async with client(raise_app_exceptions=False) as c:
        before = count((await c.get("/metrics")).text, "/v1/boom", "500")
        r = await c.get("/v1/boom")
        after = count((await c.get("/metrics")).text, "/v1/boom", "500")
    assert r.status_code == 500
    assert after == before + 1
    (server,) = [s for s in spans.get_finished_spans() if s.name == "GET /v1/boom"]
    assert server.status.status_code is StatusCode.ERROR
    assert server.attributes["http.response.status_code"] == 500
    assert any(e.name == "exception" for e in server.events)


async def test_a_streamed_answer_ends_its_span_when_the_response_starts(spans) -> None:
    definition = ServiceDefinition(name=SERVICE, title="t", description="t", migrations=Path("."), routers=[router])
    app = create_app(definition)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/v1/stream", "raw_path": b"/v1/stream", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"svc")], "client": ("127.0.0.1", 1), "server": ("svc", 80),
    }
    sent: list[dict] = []
    ended_while_open: list[str] = []

    async def receive() -> dict:
        await asyncio.Event().wait()  # no body, and the client never leaves
        raise AssertionError

    async def send(message: dict) -> None:
        sent.append(message)
        if message.get("body") == b"first\n":
            # The stream is still open, and its span is finished already.
            ended_while_open.extend(s.name for s in spans.get_finished_spans())
            release.set()

    release.clear()
    await asyncio.wait_for(app(scope, receive, send), 10)
    assert ended_while_open == ["GET /v1/stream"]
    (server,) = spans.get_finished_spans()
    assert server.attributes["http.response.status_code"] == 200
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = dict(start["headers"])
    trace_id = format(server.context.trace_id, "032x")
    assert headers[b"x-trace-id"].decode() == trace_id and b"x-correlation-id" in headers
    # ... and the rest of the stream still ran in that span's context.
    assert any(m.get("body") == trace_id.encode() + b"\n" for m in sent)


@pytest.mark.parametrize("value", ["x" * 1025, "tab\there", "new\nline", "é-accent", ""])
def test_a_correlation_id_no_event_could_carry_is_replaced(value):
    assert correlate.caller_correlation_id(value) is None


def test_a_fitting_correlation_id_is_kept():
    assert correlate.caller_correlation_id("crm-7:abc_DEF.1") == "crm-7:abc_DEF.1"
    assert correlate.caller_correlation_id("x" * 1024) == "x" * 1024
