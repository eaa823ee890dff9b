"""`POST /v1/referrals` without FastAPI's dependency solving on its common path.

Under the offered load (500 referrals/s through this route) FastAPI's request handler was
about a third of intake's CPU, more than half of it solving the route's dependencies: the
caller, the `Idempotency-Key` header and the body's validation, which the route needs, and
about as much again of machinery around them (docs/performance.md, thirteenth session).

The route is declared as any other (`api.py`), so the OpenAPI document is what FastAPI makes
of the endpoint's signature. `SubmitRoute` answers the request partners send, a JSON body
that validates, with the same steps FastAPI takes: the body read and parsed as FastAPI reads
it, the caller (`principal`: 401 and 403 as before), then the endpoint. Anything else goes
to FastAPI's own handler, which answers it exactly as before: another content type, an empty
or malformed body, a body or an `Idempotency-Key` the validation refuses (FastAPI gathers
every error into one 422, and authenticates first), dependency overrides (tests), FastAPI's
own body limit. The body-read failure is answered as FastAPI answers it.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable, Coroutine
from typing import Any

import fastapi.routing
from annotated_types import MaxLen, MinLen
from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from plumbing.auth import principal
from plumbing.idempotency import IdempotencyKey

try:  # Starlette's own body limit (FastAPI's max_body_size); releases before it never set it
    from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
except ImportError:  # pragma: no cover - the locked Starlette has it
    MAX_BODY_SIZE_SCOPE_KEY = "starlette.max_body_size"

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

# What the endpoint takes, by name; anything else and the fast path would call it wrongly.
_PARAMETERS = ("body", "request", "who", "idempotency_key")


def _key_lengths() -> range:
    """The `Idempotency-Key` header's bounds as the header declares them (outside them
    FastAPI's handler gives the 422), so the fast path cannot drift from the declaration."""
    lengths = {type(m): m for m in typing.get_args(IdempotencyKey)[1].metadata}
    return range(lengths[MinLen].min_length, lengths[MaxLen].max_length + 1)


_KEY_LENGTH = _key_lengths()


def _only_the_caller(route: APIRoute) -> None:
    """Refuse a route whose handler would solve more than the caller (`principal`): a
    dependency added on the route, its router or where the router is included (a rate limit,
    a tenant guard) would never run on the fast path."""
    context = getattr(fastapi.routing, "_effective_route_context_var", None)
    effective = context.get() if context is not None else None
    solved = effective if effective is not None and effective.original_route is route else route
    calls = [d.call for d in solved.dependant.dependencies]
    if calls != [principal]:
        raise TypeError(f"SubmitRoute solves only the caller (principal), not {calls}")


class SubmitRoute(APIRoute):
    """An APIRoute whose handler takes the common request itself (module docstring). The
    endpoint must take exactly `body` (a pydantic model), `request`, `who` (the principal)
    and `idempotency_key`."""

    def get_route_handler(self) -> Handler:
        full = super().get_route_handler()
        _only_the_caller(self)
        endpoint = self.endpoint
        names = tuple(inspect.signature(endpoint).parameters)
        if sorted(names) != sorted(_PARAMETERS):
            raise TypeError(f"SubmitRoute needs an endpoint taking {_PARAMETERS}, not {names}")
        model = inspect.signature(endpoint, eval_str=True).parameters["body"].annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError("SubmitRoute needs a pydantic model as the endpoint's body")

        async def handler(request: Request) -> Response:
            if (
                request.headers.get("content-type") != "application/json"
                or getattr(request.app, "dependency_overrides", None)  # the app's, as FastAPI includes the route
                or MAX_BODY_SIZE_SCOPE_KEY in request.scope
            ):
                return await full(request)
            try:
                raw = await request.body()
            except HTTPException:
                raise
            except Exception as exc:  # as FastAPI's handler answers a body it could not read
                raise HTTPException(status_code=400, detail="There was an error parsing the body") from exc
            key = request.headers.get("idempotency-key")
            if not raw or (key is not None and len(key) not in _KEY_LENGTH):
                return await full(request)
            try:
                # As FastAPI reads a JSON body (Request.json) and validates it (from a dict).
                body = model.model_validate(json.loads(raw), from_attributes=True)
            except (ValueError, RecursionError):  # ValidationError and JSON's errors; the body is kept
                return await full(request)
            who = await principal(request)
            return await endpoint(body=body, request=request, who=who, idempotency_key=key)

        return handler
