"""The support service's HTTP API, for partners: the providers' directory, requests for the people
they referred or enrolled, and the provider's answers.

Thin: each route parses and bounds its input (the events' own bounds), checks the caller, runs
one use case of `application` in the request's transaction (at most once per Idempotency-Key)
and turns its result, or a refusal, into the answer: another partner's request, referral or
enrollment is a 404 like a missing one, the other party's action a 403, a transition from an
ended state or of a request whose person was erased a 409, a refused field a 422 naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contracts import bounds, events
from plumbing import idempotency, problems
from plumbing.auth import Principal, principal, request_path, require
from plumbing.context import Context
from plumbing.idempotency import IdempotencyKey
from plumbing.service import context_of, correlation_id, deps_of, pool_of
from services.support import application, store
from services.support.application import NotFound, OtherParty
from services.support.domain import InvalidTransition, RequestErased, ServiceRequest, State

router = APIRouter(prefix="/v1", tags=["support"])
problems.name_validation_error(events.INCONSISTENT, "inconsistent", "Fields contradict each other")
Caller = Annotated[Principal, Depends(principal)]
ACTION_ERRORS = problems.responses(400, 401, 403, 404, 409, 422)
Types = Annotated[
    list[events.ServiceType],
    Field(min_length=1, max_length=len(events.ServiceType), description=f"What you offer: {events.SERVICE_TYPES}."),
]


class ProviderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: bounds.Name = Field(min_length=1, examples=["Eastside Rides Cooperative"])
    service_types: Types


class RequestIn(BaseModel):
    """Name the person through exactly one of your own referral or enrollment ids."""

    model_config = ConfigDict(extra="forbid")
    provider_id: bounds.Id = Field(description="A provider from GET /v1/service-providers.")
    service_type: events.ServiceType = Field(description=f"One the provider offers: {events.SERVICE_TYPES}.")
    referral_id: bounds.Id | None = Field(default=None, description="Your referral of the person (or enrollment_id).")
    enrollment_id: bounds.Id | None = Field(default=None, description="Your enrollment of the person (or referral_id).")
    reason: bounds.Reason = Field(min_length=1, description="Why the person needs it, in a few words.")
    amount_requested: events.Money | None = Field(default=None, description="How much, when the service is money.")

    @model_validator(mode="after")
    def one_person(self) -> RequestIn:
        if (self.referral_id is None) == (self.enrollment_id is None):
            events.refuse(
                self,
                [
                    events.inconsistent(
                        "enrollment_id",
                        "enrollment_id: name exactly one of referral_id and enrollment_id",
                        self.enrollment_id,
                    )
                ],
            )
        return self

    def person(self) -> tuple[str, str]:
        return (
            ("referral", self.referral_id) if self.referral_id is not None else ("enrollment", self.enrollment_id or "")
        )


class DeclineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason_code: events.ServiceDeclineReason
    detail: bounds.Detail | None = Field(default=None, description="Required when reason_code is 'other'.")

    @model_validator(mode="after")
    def other_needs_detail(self) -> DeclineIn:
        if self.reason_code is events.ServiceDeclineReason.other and not self.detail:
            events.refuse(self, [events.inconsistent("detail", "detail: reason_code 'other' needs a detail", None)])
        return self


class DeliverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delivered_on: date = Field(description="Not before the request, not in the future.")
    value: events.Money | None = Field(default=None, description="What was delivered, when the service is money.")


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: bounds.Reason = Field(min_length=1, description="Why you withdraw the request.")


class EventRef(BaseModel):
    id: str = Field(description="The event's id")
    type: str = Field(description="The event's type, e.g. service.accepted.v1")


class ProviderAnswer(BaseModel):
    provider_id: str
    service_types: list[events.ServiceType]
    event: EventRef | None = Field(description="The event published; null when nothing changed")


class RequestAnswer(BaseModel):
    request_id: str
    state: State
    event: EventRef = Field(description="The event published")


ACTION: dict[str, Any] = {"response_model": RequestAnswer, "responses": ACTION_ERRORS}


# --- the directory ---------------------------------------------------------------------


@router.post(
    "/service-provider",
    status_code=201,
    response_model=ProviderAnswer,
    summary="Register yourself as a service provider (201), or change your entry (200)",
    description="201 the first time (service_provider.registered.v1 published); 200 after, with"
    " service_provider.updated.v1 published if the entry changed, or nothing if it was restated as it was.",
    responses={
        200: {"model": ProviderAnswer, "description": "You were registered: updated, or unchanged"},
        **problems.responses(400, 401, 403, 409, 422),
    },
)
async def enter_directory(
    body: ProviderIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    require(who, "partner")

    async def effect(conn):  # type: ignore[no-untyped-def]
        ctx = context_of(request, conn)
        return await application.enter_directory(ctx, who.id, body.name, body.service_types, correlation_id(request))

    return await idempotency.run_once(pool_of(request), who, idempotency_key, body.model_dump(mode="json"), effect)


@router.get("/service-provider", summary="Your entry in the directory", responses=problems.responses(401, 403, 404))
async def own_entry(request: Request, who: Caller) -> dict[str, Any]:
    require(who, "partner")
    async with pool_of(request).acquire() as conn:
        entry = await store.provider_entry(conn, who.id)
    if entry is None:
        raise problems.not_found("service provider")
    return entry


@router.get(
    "/service-providers", summary="The directory of service providers", responses=problems.responses(401, 403, 422)
)
async def directory(
    request: Request,
    who: Caller,
    service_type: Annotated[events.ServiceType | None, Query(description="Only providers offering this")] = None,
) -> list[dict[str, Any]]:
    require(who, "partner")
    async with pool_of(request).acquire() as conn:
        return await store.directory(conn, service_type.value if service_type else None)


# --- requests --------------------------------------------------------------------------


@router.post(
    "/service-requests",
    status_code=201,
    response_model=RequestAnswer,
    summary="Ask a provider to support a person you referred or enrolled",
    responses=problems.responses(400, 401, 403, 404, 409, 422),
)
async def request_service(
    body: RequestIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    require(who, "partner")
    kind, ref_id = body.person()

    async def effect(conn):  # type: ignore[no-untyped-def]
        try:
            return 201, await application.request_service(
                context_of(request, conn),
                who.id,
                body.provider_id,
                kind,
                ref_id,
                body.service_type,
                body.reason,
                body.amount_requested,
                correlation_id(request),
            )
        except NotFound as exc:
            raise problems.not_found(exc.what) from None
        except ValidationError as exc:  # the provider does not offer the service
            raise problems.invalid(exc.errors()) from None

    return await idempotency.run_once(pool_of(request), who, idempotency_key, body.model_dump(mode="json"), effect)


async def _act(
    request: Request,
    who: Principal,
    key: str | None,
    body: BaseModel | None,
    role: str,
    request_id: str,
    decide: Callable[[ServiceRequest, datetime], Any],
) -> JSONResponse:
    require(who, "partner")

    async def effect(conn):  # type: ignore[no-untyped-def]
        ctx: Context = context_of(request, conn)
        now = ctx.now()
        try:
            return 200, await application.act(
                ctx, who.id, role, request_id, lambda r: decide(r, now), correlation_id(request)
            )
        except NotFound as exc:
            raise problems.not_found(exc.what) from None
        except OtherParty as exc:
            raise problems.Problem(403, "forbidden", "Forbidden", str(exc)) from None
        except RequestErased as exc:
            raise problems.Problem(409, "request-erased", "Request erased", str(exc)) from None
        except InvalidTransition as exc:
            raise problems.Problem(
                409, "invalid-transition", "Transition not allowed", str(exc), current_state=exc.current.value
            ) from None
        except ValidationError as exc:
            raise problems.invalid(exc.errors()) from None

    fingerprint = {"path": request_path(request), "body": body.model_dump(mode="json") if body else None}
    return await idempotency.run_once(pool_of(request), who, key, fingerprint, effect)


@router.post("/service-requests/{request_id}/accept", summary="Provider: take the request on", **ACTION)
async def accept(
    request_id: str, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    return await _act(request, who, idempotency_key, None, "provider", request_id, lambda r, now: r.accept(now))


@router.post(
    "/service-requests/{request_id}/decline",
    summary="Provider: you will not deliver it (before or after accepting), with a reason code",
    **ACTION,
)
async def decline(
    request_id: str, body: DeclineIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    def decide(r: ServiceRequest, now: datetime) -> Any:
        return r.decline(now, body.reason_code, body.detail)

    return await _act(request, who, idempotency_key, body, "provider", request_id, decide)


@router.post(
    "/service-requests/{request_id}/deliver",
    summary="Provider: you delivered the accepted service (with its value, when it is money)",
    **ACTION,
)
async def deliver(
    request_id: str, body: DeliverIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    tz = request.app.state.stale_rule.calendar.tz  # the business time zone dates are written in

    def decide(r: ServiceRequest, now: datetime) -> Any:
        return r.deliver(now, body.delivered_on, body.value, tz)

    return await _act(request, who, idempotency_key, body, "provider", request_id, decide)


@router.post(
    "/service-requests/{request_id}/cancel",
    summary="Requester: withdraw the request (before it is delivered or declined)",
    **ACTION,
)
async def cancel(
    request_id: str, body: CancelIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    return await _act(
        request, who, idempotency_key, body, "requester", request_id, lambda r, now: r.cancel(now, body.reason)
    )


# --- reading ---------------------------------------------------------------------------

StateFilter = Annotated[State | None, Query(description="Only requests in this state")]
After = Annotated[
    int | None, Query(ge=0, le=2**63 - 1, description="The `cursor` of the last item of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=500)]


async def _page(
    request: Request, side: str, who: Principal, status: State | None, after: int | None, limit: int
) -> dict[str, Any]:
    require(who, "partner")
    rule, now = request.app.state.stale_rule, deps_of(request).clock()
    async with pool_of(request).acquire() as conn:
        rows = await store.page(conn, side, who.id, state=status.value if status else None, after=after, limit=limit)
    items = [store.request_view(r, rule, now, as_requester=side == "requester") for r in rows]
    return {"items": items, "next_after": items[-1]["cursor"] if len(items) == limit else None}


@router.get(
    "/service-requests", summary="Your requests (as requester, paged)", responses=problems.responses(401, 403, 422)
)
async def my_requests(
    request: Request, who: Caller, status: StateFilter = None, after: After = None, limit: Limit = 100
) -> dict[str, Any]:
    return await _page(request, "requester", who, status, after, limit)


@router.get(
    "/service-provider/requests",
    summary="Requests addressed to you as a provider (paged), those waiting too long flagged",
    responses=problems.responses(401, 403, 422),
)
async def addressed_to_me(
    request: Request, who: Caller, status: StateFilter = None, after: After = None, limit: Limit = 100
) -> dict[str, Any]:
    return await _page(request, "provider", who, status, after, limit)


@router.get(
    "/service-requests/{request_id}",
    summary="One request you made or that is addressed to you",
    responses=problems.responses(401, 403, 404, 422),
)
async def one_request(request_id: str, request: Request, who: Caller) -> dict[str, Any]:
    require(who, "partner")
    async with pool_of(request).acquire() as conn:
        row = await store.request_row(conn, request_id, who.id)
    if row is None:
        raise problems.not_found("service request")
    now = deps_of(request).clock()
    return store.request_view(row, request.app.state.stale_rule, now, as_requester=row["requester_id"] == who.id)
