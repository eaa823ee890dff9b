"""Employers' declarations beyond openings (issue 16 items 3, 4 and 5): demand forecasts, hiring
standards and whether the coalition may publish their hiring. Thin, as api.py: parse and bound, check the caller, run one use case once per
Idempotency-Key, answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from contracts import bounds, events
from plumbing import idempotency, problems
from plumbing.auth import Principal, require
from plumbing.context import Context
from plumbing.idempotency import IdempotencyKey
from plumbing.service import context_of, correlation_id, pool_of
from services.employer_gateway import application, publication, standards, store
from services.employer_gateway.api import Caller, SocCode
from services.employer_gateway.application import NotFound

router = APIRouter(prefix="/v1", tags=["employers"])
UseCase = Callable[[Context, str, Mapping[str, Any], str], Awaitable[dict[str, Any]]]
Credentials = Annotated[list[events.CredentialRequirement], Field(max_length=bounds.REQUIRED_CREDENTIALS_MAX)]


class ForecastIn(BaseModel):
    """What you expect to hire for one occupation and kind of job in the coming 6 or 12 months.
    Replaces your earlier forecast for the same occupation, employment type and horizon."""

    model_config = ConfigDict(extra="forbid")
    onet_soc_code: SocCode
    employment_type: events.EmploymentKind = Field(description=events.KIND)
    horizon_months: Literal[6, 12] = Field(description="The coming 6 or 12 months.")
    slots_expected: int = Field(ge=0, le=10_000, description="How many people you expect to hire (0: none).")
    skills: bounds.Skills = Field(default_factory=list, examples=[["python", "sql"]])
    credentials: Credentials = Field(default_factory=list, description="Credentials you expect to ask for.")


class StandardsIn(BaseModel):
    """How you hire for one occupation, or for one of your openings (`opening_id`; the occupation
    is then the opening's). Public: the demand board shows it under `employer_name`. Replaces what
    you published before for the same occupation, or the same opening; an opening's own standards
    take the place of its occupation's for it."""

    model_config = ConfigDict(extra="forbid")
    employer_name: bounds.Name = Field(min_length=1, examples=["Civic Data Labs"])
    onet_soc_code: SocCode | None = Field(
        default=None, description="The occupation; optional with `opening_id` (then it must be the opening's)."
    )
    opening_id: bounds.Id | None = Field(default=None, description="One of your openings, if the standards are its own.")
    stages: list[events.InterviewStage] = Field(
        min_length=1, max_length=events.HIRING_STAGES_MAX, description="The interview stages, in order."
    )
    interview_format: events.HiringFormat
    portfolio_expected: bool = False
    assessment_expected: bool = False
    degree_requirement_dropped: bool = False
    accepted_equivalents: Credentials = Field(
        default_factory=list, description="Credentials you accept as equivalent to a degree."
    )


class PublicationIn(BaseModel):
    """Whether the coalition may publish your hiring for a calendar year in its annual open-data
    release: your hires of candidates who consented to aggregate reporting, by race, gender,
    educational background and training, small counts suppressed, under `employer_name`. Replaces
    your earlier choice for the year; the last one before the release is made counts."""

    model_config = ConfigDict(extra="forbid")
    year: int = Field(ge=events.PUBLICATION_YEAR_MIN, le=events.PUBLICATION_YEAR_MAX, examples=[2026])
    opted_in: bool = Field(description="True: the coalition may publish the year's hiring; false: it may not.")
    employer_name: bounds.Name = Field(min_length=1, examples=["Civic Data Labs"])


async def _declare(
    request: Request, who: Principal, key: str | None, body: BaseModel, status: int, use_case: UseCase
) -> JSONResponse:
    """Run one declaration of the employer (a use case) once per Idempotency-Key."""
    require(who, "employer")

    async def effect(conn):  # type: ignore[no-untyped-def]
        try:
            return status, await use_case(context_of(request, conn), who.id, body.model_dump(), correlation_id(request))
        except NotFound as exc:  # an opening that is not the employer's
            raise problems.not_found(exc.what) from None

    return await idempotency.run_once(pool_of(request), who, key, body.model_dump(mode="json"), effect)


@router.post(
    "/demand/forecasts",
    status_code=201,
    summary="Declare how many people you expect to hire in the coming 6 or 12 months (replaces your earlier"
    " forecast for the same occupation, employment type and horizon)",
    responses=problems.responses(400, 401, 403, 409, 422),
)
async def post_forecast(
    body: ForecastIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    return await _declare(request, who, idempotency_key, body, 201, application.declare_forecast)


@router.get("/demand/forecasts", summary="Your current demand forecasts", responses=problems.responses(401, 403))
async def list_forecasts(request: Request, who: Caller) -> list[dict[str, Any]]:
    require(who, "employer")
    return await store.list_forecasts(pool_of(request), who.id)


@router.post(
    "/hiring-standards",
    summary="Publish how you hire for an occupation or one of your openings (public, under your name;"
    " replaces what you published before for it)",
    responses=problems.responses(400, 401, 403, 404, 409, 422),
)
async def post_standards(
    body: StandardsIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    return await _declare(request, who, idempotency_key, body, 200, standards.publish)


@router.get("/hiring-standards", summary="Your published hiring standards", responses=problems.responses(401, 403))
async def list_standards(request: Request, who: Caller) -> list[dict[str, Any]]:
    require(who, "employer")
    return await standards.listed(pool_of(request), who.id)


@router.post(
    "/hiring-publication",
    summary="Opt in or out of the coalition publishing your hiring for a year (replaces your earlier choice for it)",
    responses=problems.responses(400, 401, 403, 409, 422),
)
async def post_publication(
    body: PublicationIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    return await _declare(request, who, idempotency_key, body, 200, publication.choose)


@router.get("/hiring-publication", summary="Your publication choices, per year", responses=problems.responses(401, 403))
async def list_publication(request: Request, who: Caller) -> list[dict[str, Any]]:
    require(who, "employer")
    return await publication.choices(pool_of(request), who.id)
