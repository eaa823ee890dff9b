"""The middleware every service's HTTP requests pass through: correlation id, server span, latency metric.

For each request: the `X-Correlation-Id` header (or a new id) goes to `request.state` and the
log context; a server span continues the caller's `traceparent`; when the response starts,
the span is named after the route template (`GET /v1/referrals/{referral_id}`, never the
concrete path, so ids stay out of span names and metric labels), the request's latency is
observed by route, method and status (plumbing/metrics.py), and the answer carries
`X-Correlation-Id` and `X-Trace-Id`.

It is a plain ASGI middleware, not FastAPI's `@app.middleware("http")`: that one runs every
request's application in a task of its own behind memory streams, which cost more CPU than
the rest of a simple route (docs/observability.md). Semantics are those it had then: the
span ends and the latency is taken when the response starts (a streamed body, such as the
console's event stream, does not keep it open), the route keeps running in the span's
context, and a request whose application raises is counted as 500 and its span records the
exception.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.bounds import TRACE_ID_MAX
from plumbing import metrics, tracing
from plumbing.logging import bind_context, clear_context

# What an event's `correlationid` may hold (contracts/bounds.py): a caller's id beyond it
# would make every event of the request unpublishable, so such an id is replaced, not kept.
_CORRELATION_ID = re.compile(r"[\x21-\x7e]{1,%d}" % TRACE_ID_MAX)


def caller_correlation_id(value: str | None) -> str | None:
    """The caller's X-Correlation-Id if it is printable ASCII within the contract's bound."""
    return value if value is not None and _CORRELATION_ID.fullmatch(value) else None


class Correlate:
    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        clear_context()
        headers = Headers(scope=scope)
        correlation_id = caller_correlation_id(headers.get("x-correlation-id")) or str(uuid.uuid4())
        scope.setdefault("state", {})["correlation_id"] = correlation_id  # what request.state reads
        bind_context(service=self.service, correlation_id=correlation_id)
        method = scope["method"]
        start = time.perf_counter()
        span = None
        try:
            with tracing.server_span(method, headers, self.service, end_on_exit=False) as span:
                await self._traced(scope, receive, send, span, correlation_id, method, start)
        finally:
            if span is not None and span.is_recording():
                span.end()  # after the span recorded the exception that ended the request, if any

    async def _traced(
        self, scope: Scope, receive: Receive, send: Send, span: Any, correlation_id: str, method: str, start: float
    ) -> None:
        status = 500  # if the application raises before it answers
        finished = False
        ids = tracing.ids_of(span)

        def finish() -> None:
            nonlocal finished
            finished = True
            route = getattr(scope.get("route"), "path", None) or metrics.UNMATCHED_ROUTE
            span.update_name(f"{method} {route}")
            span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", status)
            metrics.http_request(self.service, route, method, status, time.perf_counter() - start)

        async def send_with_ids(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                out = MutableHeaders(scope=message)
                out["X-Correlation-Id"] = correlation_id
                if ids is not None:
                    out["X-Trace-Id"] = ids[0]
                finish()
                span.end()
            await send(message)

        try:
            await self.app(scope, receive, send_with_ids)
        finally:
            if not finished:
                finish()  # __call__ ends the span, once it has recorded the exception
