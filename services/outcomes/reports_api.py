"""The reports over HTTP: JSON, CSV exports and a human-readable HTML page.

Operators get the whole coalition; a partner gets the same reports over its own referrals
(a training provider: its own enrollments; supportive services: the requests it made or was
asked for, reports/inputs.py).
Transparency tables suppress small cells whoever asks; a partner's funnel is suppressed by
groups (docs/reports.md). The time a report
is generated at comes from the service's clock and the vault from its dependencies
(`plumbing.context.Deps`), as the handlers get them.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from plumbing import problems
from plumbing.auth import Principal, principal, require
from plumbing.service import deps_of, pool_of
from plumbing.settings import Settings
from services.outcomes import store
from services.outcomes.reports import (
    DemandInputs,
    GoodJobPolicy,
    ReportSettings,
    build_reports,
    inputs,
    program_reports,
    to_csv,
    to_html,
)
from services.outcomes.reports.benchmarks import MIN_PROVIDERS
from services.outcomes.reports.ctdl import to_jsonld
from services.outcomes.reports.demand import MIN_EMPLOYERS, board
from services.outcomes.reports.suppression import THRESHOLD

router = APIRouter(prefix="/v1/reports", tags=["reports"])
Caller = Annotated[Principal, Depends(principal)]
Period = Annotated[Literal["month", "quarter"], Query(description="How the funnel buckets referrals by date")]
def _iso_date(value: object) -> object:
    """Only a calendar date as the document says (`2026-06-30`): pydantic would also take a
    number of seconds since 1970 (`as_of=0`)."""
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a date as YYYY-MM-DD")
    return value


AsOf = Annotated[
    date | None,
    BeforeValidator(_iso_date),
    Query(description="WIOA: count only exits whose measurement window has closed by then"),
]


class GoodJobRule(BaseSettings):
    """The good-job rule beyond its wage (`TALENTLOOP_GOOD_JOB_WAGE` and `_SOURCE` are in
    plumbing.settings): benefits required, a predictable schedule, days of advance notice, and
    the kinds of employment assessed, comma-separated (docs/reports.md)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")
    benefits: str = Field(default="health,paid_leave", alias="TALENTLOOP_GOOD_JOB_BENEFITS")
    predictable_schedule: bool = Field(default=False, alias="TALENTLOOP_GOOD_JOB_PREDICTABLE_SCHEDULE")
    min_notice_days: int = Field(default=0, ge=0, le=365, alias="TALENTLOOP_GOOD_JOB_MIN_NOTICE_DAYS")
    types: str = Field(default="full_time,part_time,apprenticeship", alias="TALENTLOOP_GOOD_JOB_TYPES")


class BenchmarkRule(BaseSettings):
    """Peer benchmarks' non-disclosure rule (docs/transparency.md, "Peer benchmarks"): a median
    only over programs of at least this many other providers (quartiles from twice as many)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")
    min_providers: int = Field(default=MIN_PROVIDERS, ge=2, le=100, alias="TALENTLOOP_BENCHMARK_MIN_PROVIDERS")


class DemandRule(BaseSettings):
    """The demand board's non-disclosure rule (docs/transparency.md, "Demand board"): a cell or a
    line only when what it counts comes from at least this many employers."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")
    min_employers: int = Field(default=MIN_EMPLOYERS, ge=2, le=100, alias="TALENTLOOP_DEMAND_MIN_EMPLOYERS")


def demand_min_employers() -> int:
    try:
        return DemandRule().min_employers
    except ValueError as exc:
        raise problems.Problem(500, "misconfigured", "The demand board's settings are not valid", str(exc)[:500]) from exc


def _names(text: str) -> tuple[str, ...]:
    return tuple(name for name in (part.strip() for part in text.split(",")) if name)


def good_job_policy(settings: Settings, rule: GoodJobRule | None = None) -> GoodJobPolicy:
    """The coalition's good-job rule from its settings (the environment, read at each report:
    a changed rule applies to the next one). An unknown benefit or employment type is refused."""
    rule = rule or GoodJobRule()
    return GoodJobPolicy(
        Decimal(settings.good_job_hourly_wage), settings.good_job_wage_source,
        required_benefits=_names(rule.benefits), require_predictable_schedule=rule.predictable_schedule,
        min_advance_notice_days=rule.min_notice_days, counted_types=_names(rule.types),
    )


def _policy(settings: Settings) -> GoodJobPolicy:
    try:
        return good_job_policy(settings)
    except ValueError as exc:  # the operator's setting, not the caller's request
        raise problems.Problem(500, "misconfigured", "The good-job rule's settings are not valid", str(exc)[:500]) from exc


def _settings(settings: Settings, partner: str | None, period: str = "month", as_of: date | None = None
              ) -> ReportSettings:
    """A report's settings for its reader: a partner's wage growth and wage medians over more
    people than the suppression threshold only (its timeline shows check-in wages as bands, never
    the figure); its grouped tables suppressed like every grouped table a non-operator reads
    (docs/reports.md, "Funnel suppression")."""
    try:
        rule = BenchmarkRule()
    except ValueError as exc:
        raise problems.Problem(500, "misconfigured", "The benchmark rule's settings are not valid", str(exc)[:500]) from exc
    return ReportSettings(_policy(settings), period, as_of, growth_min_wages=THRESHOLD + 1 if partner else 1,
                          suppress_funnel=partner is not None, benchmark_min_providers=rule.min_providers,
                          demand_min_employers=demand_min_employers(),
                          # support dates deliveries on the business calendar (docs/support.md)
                          business_timezone=ZoneInfo(settings.business_timezone))


async def _program_reports(request: Request, who: Principal) -> tuple[dict[str, Any], str | None]:
    """Credential and program outcomes and peer benchmarks alone, read in one snapshot."""
    require(who, "operator", "partner")
    partner = who.id if who.kind == "partner" else None
    settings = _settings(deps_of(request).settings, partner)
    async with pool_of(request).acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        programs = await inputs.credential_inputs(conn)
    return program_reports(programs, settings, partner), partner


async def _reports(request: Request, who: Principal, period: str, as_of: date | None) -> tuple[dict[str, Any], str]:
    require(who, "operator", "partner")
    deps = deps_of(request)
    settings = deps.settings
    partner = who.id if who.kind == "partner" else None
    pool = pool_of(request)
    records = await store.report_records(pool, deps.vault, partner)
    gaps = [g for g in await store.gap_records(pool) if partner is None or g.partner_id == partner]
    report_settings = _settings(settings, partner, period, as_of)
    # The coalition funnel from training: a provider's own enrollments only (as GET /v1/funnel);
    # one snapshot, so the referrals joined are those of the enrollments read.
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        training = await store.pipeline_report_inputs(conn, partner)
        enrollments = await inputs.training_participations(conn, partner)
        # Supportive services: a partner's requests, as requester or as the provider asked.
        requests = await inputs.service_requests(conn, partner)
        # Credential and program outcomes, peer benchmarks: coalition-wide, cut to the reader's
        # view by the pure modules (a provider's benchmark sets its programs against the others').
        programs = await inputs.credential_inputs(conn)
        # The demand board: the same for every reader (no employer is named in its counts).
        demand = await inputs.demand_inputs(conn)
    built = build_reports(records, gaps, await store.opening_records(pool), report_settings, training, enrollments,
                          requests, programs, partner, demand)
    return built, (f"partner {partner}" if partner else "all partners")


@router.get("", summary="Every report as JSON", responses=problems.responses(401, 403, 422))
async def reports_json(request: Request, who: Caller, period: Period = "month", as_of: AsOf = None) -> dict[str, Any]:
    built, scope = await _reports(request, who, period, as_of)
    return {"scope": scope, "generated_at": deps_of(request).clock().isoformat(), **built}


@router.get(
    "/report.html",
    summary="The reports as one human-readable HTML page with charts",
    response_class=HTMLResponse,
    responses=problems.responses(401, 403, 422),
)
async def reports_html(request: Request, who: Caller, period: Period = "month", as_of: AsOf = None) -> HTMLResponse:
    built, scope = await _reports(request, who, period, as_of)
    page = to_html(built, "TalentLoop outcomes", deps_of(request).clock().date().isoformat(), scope)
    return HTMLResponse(page)


@router.get(
    "/credentials.jsonld",
    summary="Credential and program outcomes as CTDL JSON-LD (ceterms:Credential and"
    " ceterms:LearningOpportunityProfile with ceterms:aggregateData); a provider: its own programs, suppressed",
    response_class=Response,
    responses={200: {"description": "A JSON-LD document under the CTDL context",
                     "content": {"application/ld+json": {"schema": {"type": "object"}}}},
               **problems.responses(401, 403)},
)
async def credentials_jsonld(request: Request, who: Caller) -> JSONResponse:
    built, _ = await _program_reports(request, who)
    return JSONResponse(to_jsonld(built["credentials"], deps_of(request).clock().date().isoformat()),
                        media_type="application/ld+json")


@router.get(
    "/benchmarks",
    summary="Peer benchmarks: each program's rates beside the median and quartiles of comparable programs of other"
    " providers (a provider: its own programs only; operators: all)",
    responses=problems.responses(401, 403),
)
async def benchmarks_json(request: Request, who: Caller) -> dict[str, Any]:
    built, partner = await _program_reports(request, who)
    return {"scope": f"partner {partner}" if partner else "all partners",
            "generated_at": deps_of(request).clock().isoformat(), **built["benchmarks"]}


@router.get(
    "/{name}.csv",
    summary="One report table as CSV (funnel, funnel_lines, funnel_days, pipeline, good_jobs, wage_growth, wioa,"
    " skills_demanded, transparency, credential_outcomes, program_outcomes, benchmarks, …)",
    response_class=PlainTextResponse,
    responses=problems.responses(401, 403, 404, 422),
)
async def reports_csv(
    name: str, request: Request, who: Caller, period: Period = "month", as_of: AsOf = None
) -> PlainTextResponse:
    built, _ = await _reports(request, who, period, as_of)
    files = to_csv(built)
    if f"{name}.csv" not in files:
        raise problems.Problem(
            404, "not-found", "Not found", f"no report table {name!r}; there are: {', '.join(sorted(files))}"
        )
    return PlainTextResponse(
        files[f"{name}.csv"], media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}.csv"'}
    )


async def demand_board(request: Request, who: Caller) -> dict[str, Any]:
    """GET /v1/demand (registered in api.py, under /v1): the demand board for partners and operators.

    Employers are refused: one employer of a cell of N could take its own openings out of the
    cell's figures and learn about the N - 1 others (docs/transparency.md, "Demand board")."""
    require(who, "operator", "partner")
    async with pool_of(request).acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        found: DemandInputs = await inputs.demand_inputs(conn)
    shown = board(found.openings, found.forecasts, found.standards, demand_min_employers())
    return {"generated_at": deps_of(request).clock().isoformat(), **shown}
