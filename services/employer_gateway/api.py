"""The employers' HTTP API: openings, the referral inbox, and what happened to each referral."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts import events
from plumbing import idempotency, outbox, problems
from plumbing.auth import Principal, principal, require
from plumbing.service import correlation_id, pool_of
from services.employer_gateway import store
from services.employer_gateway.domain import InvalidTransition, Referral, State, UnknownInterview

SOURCE = "/talentloop/employer-gateway"
router = APIRouter(prefix="/v1", tags=["employers"])
Caller = Annotated[Principal, Depends(principal)]
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", description="Repeat a POST safely: same key, same answer.")
]
ACTION_ERRORS = problems.responses(400, 401, 403, 404, 409, 422)


class OpeningIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200, examples=["Junior Software Developer"])
    onet_soc_code: str = Field(pattern=events.ONET_SOC, examples=["15-1252.00"])
    required_skills: list[str] = Field(min_length=1, examples=[["python", "sql"]])
    preferred_skills: list[str] = Field(default_factory=list, examples=[["docker"]])
    capacity: int = Field(ge=1, le=10_000, description="How many referrals you will take for this opening.")
    wage: events.Wage
    location: str = Field(min_length=1, max_length=200, examples=["Bronx, NY"])
    remote: bool = False


class DeclineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: events.DeclineReason
    detail: str | None = Field(default=None, max_length=1000, description="Required when reason is 'other'.")


class InterviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scheduled_for: AwareDatetime
    mode: events.InterviewMode = events.InterviewMode.video


class InterviewOutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: events.InterviewOutcome


class PlacementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_title: str = Field(min_length=1, max_length=200)
    onet_soc_code: str = Field(pattern=events.ONET_SOC)
    wage: events.Wage
    hours_per_week: float = Field(gt=0, le=80)
    employment_type: events.EmploymentType
    benefits: events.Benefits = Field(default_factory=events.Benefits)
    start_date: date


@router.post(
    "/openings",
    status_code=201,
    summary="Post an opening",
    responses=problems.responses(400, 401, 403, 409, 422),
)
async def post_opening(
    body: OpeningIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    require(who, "employer")
    event = events.OpeningPostedV1(opening_id=f"opn_{uuid.uuid4().hex}", employer_id=who.id, **body.model_dump())

    async def effect(conn):  # type: ignore[no-untyped-def]
        await store.insert_opening(conn, event)
        await outbox.emit(conn, event, source=SOURCE, correlation_id=correlation_id(request))
        return 201, {"opening_id": event.opening_id}

    return await idempotency.run_once(pool_of(request), who, idempotency_key, body.model_dump(mode="json"), effect)


@router.get("/openings", summary="Your openings", responses=problems.responses(401, 403))
async def list_openings(request: Request, who: Caller) -> list[dict[str, Any]]:
    require(who, "employer")
    return await store.list_openings(pool_of(request), who.id)


@router.get("/referrals", summary="Referrals routed to you (paged)", responses=problems.responses(401, 403, 422))
async def inbox(
    request: Request,
    who: Caller,
    status: Annotated[State | None, Query(description="Only referrals in this state")] = None,
    opening_id: str | None = None,
    after: Annotated[int | None, Query(ge=0, description="The `cursor` of the last item of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    require(who, "employer")
    items = await store.inbox_page(
        pool_of(request), who.id, state=status.value if status else None, opening_id=opening_id, after=after, limit=limit
    )
    return {"items": items, "next_after": items[-1]["cursor"] if len(items) == limit else None}


async def _act(
    request: Request,
    who: Principal,
    referral_id: str,
    key: str | None,
    body: BaseModel | None,
    decide: Callable[[Referral], events.Payload],
    status: int = 200,
) -> JSONResponse:
    """Load the employer's referral, apply one domain transition, store it and its event."""
    require(who, "employer")

    async def effect(conn):  # type: ignore[no-untyped-def]
        found = await store.load(conn, referral_id, who.id)
        if found is None:
            raise problems.not_found("referral")
        referral, partner_id = found
        try:
            event = decide(referral)
        except InvalidTransition as exc:
            raise problems.Problem(
                409, "invalid-transition", "Transition not allowed", str(exc), current_state=exc.current.value
            ) from None
        except UnknownInterview:
            raise problems.not_found("interview") from None
        await store.save(conn, referral)
        envelope = await outbox.emit(
            conn, event, source=SOURCE, correlation_id=correlation_id(request), partner_id=partner_id
        )
        return status, {
            "referral_id": referral_id,
            "state": referral.state.value,
            "event": {"id": str(envelope.id), "type": envelope.type},
            **({"interview_id": event.interview_id} if isinstance(event, events.InterviewScheduledV1) else {}),
        }

    fingerprint = {"path": request.url.path, "body": body.model_dump(mode="json") if body else None}
    return await idempotency.run_once(pool_of(request), who, key, fingerprint, effect)


@router.post("/referrals/{referral_id}/acknowledge", summary="Acknowledge a referral", responses=ACTION_ERRORS)
async def acknowledge(referral_id: str, request: Request, who: Caller, idempotency_key: IdempotencyKey = None):
    return await _act(request, who, referral_id, idempotency_key, None, lambda r: r.acknowledge())


@router.post("/referrals/{referral_id}/decline", summary="Decline a referral, with a reason", responses=ACTION_ERRORS)
async def decline(
    referral_id: str, body: DeclineIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
):
    if body.reason is events.DeclineReason.other and not body.detail:
        raise problems.Problem(422, "validation", "Request is not valid", "reason 'other' needs a detail")
    return await _act(
        request, who, referral_id, idempotency_key, body, lambda r: r.decline(body.reason, body.detail)
    )


@router.post(
    "/referrals/{referral_id}/interviews", status_code=201, summary="Schedule an interview", responses=ACTION_ERRORS
)
async def schedule_interview(
    referral_id: str, body: InterviewIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
):
    interview_id = f"int_{uuid.uuid4().hex}"
    return await _act(
        request,
        who,
        referral_id,
        idempotency_key,
        body,
        lambda r: r.schedule_interview(interview_id, body.scheduled_for, body.mode),
        status=201,
    )


@router.post(
    "/referrals/{referral_id}/interviews/{interview_id}/outcome",
    summary="Record an interview's outcome",
    responses=ACTION_ERRORS,
)
async def interview_outcome(
    referral_id: str,
    interview_id: str,
    body: InterviewOutcomeIn,
    request: Request,
    who: Caller,
    idempotency_key: IdempotencyKey = None,
):
    return await _act(
        request, who, referral_id, idempotency_key, body, lambda r: r.record_interview_outcome(interview_id, body.outcome)
    )


@router.post("/referrals/{referral_id}/placement", summary="Report a placement (a hire)", responses=ACTION_ERRORS)
async def placement(
    referral_id: str, body: PlacementIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
):
    return await _act(
        request,
        who,
        referral_id,
        idempotency_key,
        body,
        lambda r: r.report_placement(**body.model_dump(exclude={"wage", "benefits"}), wage=body.wage, benefits=body.benefits),
    )


