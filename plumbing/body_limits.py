"""Request body size limits for every service: 413 problem details, never an unbounded read.

Two limits (plumbing/settings.py): routes that take an upload (a `File`/`Form` body, such
as intake's CSV import) get `TALENTLOOP_MAX_CSV_BODY_BYTES`, every other route
`TALENTLOOP_MAX_JSON_BODY_BYTES`. A declared `Content-Length` over the route's limit is
refused before a byte of the body is read (the route is known by then: routing comes
first, and FastAPI reads the body before it authenticates or runs the route); a body
without one (chunked) is counted as it streams in and refused at the first chunk that
goes over.

Refusing mid-stream needs care: frameworks turn an exception raised while they read the
body into their own answer (FastAPI: 400 "There was an error parsing the body"). So the
middleware remembers that it refused, drops whatever the application then tries to send,
and sends the 413 itself, as long as no response has started.

Most clients send the whole body before they read the answer, and a server that closes a
connection with unread input resets it, the 413 with it: the client sees "connection
reset", not the problem details. So before answering, a little more of a refused body is
read and discarded (at most the limit again, 8 MiB at most, for 5 s at most): a body a
little over the limit gets its 413 cleanly; a far larger one, or one its client would
send only after `100 Continue`, is not waited for.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, params
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plumbing import problems

JSON, UPLOAD = "JSON", "upload"
DRAIN_MAX_BYTES = 8 << 20
DRAIN_S = 5.0


class BodyTooLarge(Exception):
    """Raised to the application from `receive` once the body is over the limit."""


def install(app: FastAPI, settings: Any) -> None:
    """Limit every request body of `app` (call before adding middleware that should see the 413)."""
    app.add_middleware(
        BodyLimits,
        json_bytes=settings.max_json_body_bytes,
        upload_bytes=settings.max_csv_body_bytes,
    )


def too_large(limit: int, kind: str) -> problems.Problem:
    return problems.Problem(
        413,
        "content-too-large",
        "Request body too large",
        f"a {kind} request body may be at most {limit} bytes",
        max_bytes=limit,
    )


class BodyLimits:
    def __init__(self, app: ASGIApp, *, json_bytes: int, upload_bytes: int) -> None:
        self.app = app
        self.json_bytes = json_bytes
        self.upload_bytes = upload_bytes

    def limit_for(self, scope: Scope) -> tuple[int, str]:
        """The route's limit; known once routing has put the route in the scope, which it
        has by the time the route reads its body."""
        field = getattr(scope.get("route"), "body_field", None)
        if isinstance(getattr(field, "field_info", None), params.Form):  # File is a Form
            return self.upload_bytes, UPLOAD
        return self.json_bytes, JSON

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        limit: int | None = None
        kind = JSON
        received = 0
        refused = started = complete = False

        async def limited_receive() -> Message:
            nonlocal limit, kind, received, refused, complete
            if refused:
                raise BodyTooLarge
            if limit is None:
                limit, kind = self.limit_for(scope)
                if declared is not None and declared > limit:
                    refused = True  # before a byte of the body is read
                    raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > limit:
                    refused = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused and not started:
                return  # the application's answer to the exception it got; ours follows
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            # Whatever the application made of the refusal (re-raised, wrapped, a disconnect).
            if not refused or started:
                raise
        if refused and not started:
            limit = limit or self.json_bytes
            if not complete:
                await _drain(scope, receive, declared, received, limit + min(limit, DRAIN_MAX_BYTES))
            await _refuse(scope, receive, send, limit, kind)


def _header(scope: Scope, name: bytes) -> bytes | None:
    return next((v for k, v in scope.get("headers", ()) if k == name), None)


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None  # the server refuses a malformed one before we see it


async def _drain(scope: Scope, receive: Receive, declared: int | None, received: int, most: int) -> None:
    """Read and discard the rest of the body if it ends within `most` bytes in all (see the
    module's docstring)."""
    if declared is not None and declared > most:
        return
    if received == 0 and (_header(scope, b"expect") or b"").lower() == b"100-continue":
        return  # the client waits for our word before it sends: it gets the 413 instead
    try:
        async with asyncio.timeout(DRAIN_S):
            while received <= most:
                message = await receive()
                if message["type"] != "http.request":
                    return
                received += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return
    except TimeoutError:
        return


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int, kind: str) -> None:
    problem = too_large(limit, kind)
    # The rest of an unread body would be taken for the next request: end the connection.
    problem.headers["Connection"] = "close"
    await problems.problem_response(problem, Request(scope))(scope, receive, send)
