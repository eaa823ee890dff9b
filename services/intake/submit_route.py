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
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY

from plumbing.auth import principal

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

# What the endpoint takes, by name; anything else and the fast path would call it wrongly.
_PARAMETERS = ("body", "request", "who", "idempotency_key")
# The `Idempotency-Key` header's bounds (plumbing.idempotency.IdempotencyKey); outside them,
# FastAPI's handler gives the 422.
_KEY_LENGTH = range(1, 256)


class SubmitRoute(APIRoute):
    """An APIRoute whose handler takes the common request itself (module docstring). The
    endpoint must take exactly `body` (a pydantic model), `request`, `who` (the principal)
    and `idempotency_key`."""

    def get_route_handler(self) -> Handler:
        full = super().get_route_handler()
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
