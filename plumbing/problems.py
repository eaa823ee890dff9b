"""RFC 9457 problem details for every HTTP error a service returns."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from plumbing import faults

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:talentloop:problem"


class ProblemDetail(BaseModel):
    """The body of every error response (RFC 9457)."""

    type: str = Field(examples=[f"{TYPE_BASE}:invalid-transition"])
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(default=None, description="Field errors, for validation problems.")
    current_state: str | None = Field(default=None, description="For invalid transitions: the state now.")
    existing_referral_id: str | None = Field(default=None, description="For duplicates: the referral already accepted.")
    routed: int | None = Field(default=None, description="For capacity-below-routed: referrals already routed there.")
    required_scope: str | None = Field(default=None, description="For insufficient-scope: the API key scope needed.")
    max_bytes: int | None = Field(default=None, description="For content-too-large: the most bytes this body may have.")


class Problem(Exception):
    def __init__(self, status: int, slug: str, title: str, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}

    def body(self, instance: str | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": f"{TYPE_BASE}:{self.slug}",
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            doc["detail"] = self.detail
        if instance:
            doc["instance"] = instance
        doc.update(self.extra)
        return doc


# Validation error types that deserve their own problem type when they are the only cause
# (e.g. intake's consent_required), so a client can branch on `type` alone.
NAMED_VALIDATION_ERRORS: dict[str, tuple[str, str]] = {}


def name_validation_error(error_type: str, slug: str, title: str) -> None:
    NAMED_VALIDATION_ERRORS[error_type] = (slug, title)


def invalid(pydantic_errors: Any) -> Problem:
    """422 for pydantic errors (a request's, or `ValidationError.errors()` of a check a route
    makes itself), one entry per field, the same shape either way."""
    errors = [
        {
            "field": ".".join(str(p) for p in e["loc"] if p != "body"),
            "message": e["msg"],
            "type": e["type"],
        }
        for e in pydantic_errors
    ]
    kinds = {e["type"] for e in errors}
    if len(kinds) == 1 and (named := NAMED_VALIDATION_ERRORS.get(next(iter(kinds)))):
        detail = "; ".join(e["message"] for e in errors)
        return Problem(422, named[0], named[1], detail, errors=errors)
    return Problem(422, "validation", "Request is not valid", f"{len(errors)} field error(s)", errors=errors)


def not_found(what: str) -> Problem:
    # Foreign tenants get the same answer as missing ids, so ids cannot be probed.
    return Problem(404, "not-found", "Not found", f"no {what} with that id is visible to you")


def problem_response(problem: Problem, request: Request) -> JSONResponse:
    return JSONResponse(
        problem.body(str(request.url.path)), status_code=problem.status, media_type=MEDIA_TYPE, headers=problem.headers
    )


def install(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(invalid(exc.errors()), request)

    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        problem = Problem(exc.status_code, f"http-{exc.status_code}", str(exc.detail))
        return problem_response(problem, request)

    async def on_data_error(request: Request, exc: asyncpg.DataError) -> JSONResponse:
        # The database refused a value the request carried (a NUL in a path parameter, a
        # number out of range): the caller's input, not a server fault.
        return problem_response(Problem(422, "invalid-input", "A value in the request cannot be stored", str(exc)[:300]), request)

    async def on_fault(request: Request, exc: Exception) -> JSONResponse:
        if not faults.is_infrastructure(exc):
            raise exc  # a bug: the server's own 500
        response = problem_response(
            Problem(503, "unavailable", "A dependency is unreachable; try again shortly", faults.describe(exc, 300)),
            request,
        )
        response.headers["Retry-After"] = "5"
        return response

    app.add_exception_handler(Problem, on_problem)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, on_http)  # type: ignore[arg-type]
    app.add_exception_handler(asyncpg.DataError, on_data_error)  # type: ignore[arg-type]
    for fault in (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
        app.add_exception_handler(fault, on_fault)  # type: ignore[arg-type]


DESCRIPTIONS = {
    400: "Bad request: a body that cannot be parsed (not JSON, not UTF-8, a broken multipart form) or a malformed Idempotency-Key",
    401: "Missing, unknown, expired or revoked API key",
    403: "This route is not for your kind of credentials, or your API key lacks the scope it needs",
    404: "No such resource visible to you",
    409: "Conflict: a transition the lifecycle forbids, or an Idempotency-Key still in use",
    413: "The request body is larger than this route accepts (`max_bytes` says how large it may be)",
    422: "The request body or parameters are not valid, or an Idempotency-Key was reused with another body",
    503: "A dependency (database) is unreachable",
}
PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetail"}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the problem details a route may return."""
    return {s: {"description": DESCRIPTIONS[s]} for s in statuses}


def document(app: FastAPI) -> None:
    """Make the OpenAPI document say what the service does: every error is problem+json.

    FastAPI documents its own validation error shape (HTTPValidationError) for 422; ours is
    a problem detail, as are all 4xx/5xx answers, so the document is rewritten once.
    """
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = original()
        for ops in doc.get("paths", {}).values():
            for op in ops.values():
                # Every authenticated route may also refuse a key without the scope it needs.
                if "401" in op.get("responses", {}):
                    op["responses"].setdefault("403", {})
                # Every body is size-limited (plumbing/body_limits.py), and one that cannot be
                # parsed at all (not JSON, not UTF-8, a broken multipart) is a 400 before validation.
                if "requestBody" in op:
                    op.setdefault("responses", {}).setdefault("413", {})
                    op["responses"].setdefault("400", {})
                for status, response in op.get("responses", {}).items():
                    if status.isdigit() and int(status) >= 400:
                        response["content"] = {MEDIA_TYPE: {"schema": PROBLEM_REF}}
                        response["description"] = DESCRIPTIONS.get(int(status), response.get("description", ""))
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        schemas["ProblemDetail"] = ProblemDetail.model_json_schema()
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
