"""The employers' HTTP API: openings, the referral inbox, and what happened to each referral.

Thin: each route parses and bounds its input, checks the caller, runs one use case of
`application` with the same `Context` an event handler gets (in the request's transaction,
or for an action on a referral in the transaction of its group: grouped.py) and turns its
result, or the domain's refusal, into the answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.json_schema import SkipJsonSchema

from contracts import bounds, events
from plumbing import idempotency, problems
from plumbing.auth import Principal, principal, request_path, require
from plumbing.context import Context
from plumbing.idempotency import IdempotencyKey
from plumbing.service import context_of, correlation_id, deps_of, pool_of
from plumbing.vault import Unreadable, Vault, candidate_of
from services.employer_gateway import application, domain, store
from services.employer_gateway.application import NotFound
from services.employer_gateway.domain import InvalidTransition, Referral, State
from services.employer_gateway.grouped import ActionGroups, refused

router = APIRouter(prefix="/v1", tags=["employers"])
# Fields that each are valid but contradict each other (a wage on unpaid work, engagement hours on
# a full-time job): their own problem type, which no JSON Schema can rule out beforehand.
problems.name_validation_error(events.INCONSISTENT, "inconsistent", "Fields contradict each other")
Caller = Annotated[Principal, Depends(principal)]
ACTION_ERRORS = problems.responses(400, 401, 403, 404, 409, 422)


# Bounds: the event's own (contracts.bounds), so that whatever is accepted can be published.
Title = Annotated[bounds.Name, Field(min_length=1, examples=["Junior Software Developer"])]
SocCode = Annotated[bounds.OnetSoc, Field(examples=["15-1252.00"])]
RequiredSkills = Annotated[bounds.Skills, Field(min_length=1, examples=[["python", "sql"]])]
PreferredSkills = Annotated[bounds.Skills, Field(examples=[["docker"]])]
Capacity = Annotated[int, Field(ge=1, le=10_000, description="How many referrals you will take for this opening.")]
Location = Annotated[bounds.Name, Field(min_length=1, examples=["Bronx, NY"])]
RequiredCredentials = Annotated[
    list[events.CredentialRequirement],
    Field(max_length=bounds.REQUIRED_CREDENTIALS_MAX, description="Credentials a candidate must hold."),
]
DegreeRequired = Annotated[
    events.DegreeLevel | None, Field(description="Minimum degree; only if you make a degree mandatory.")
]
Kind = Annotated[
    events.EmploymentKind | None, Field(description="Full-time, part-time, internship, micro-internship or apprenticeship.")
]
Registered = Annotated[
    bool | None, Field(description="Apprenticeships only: whether it is a registered apprenticeship.")
]
Paid = Annotated[bool, Field(description="false: unpaid (an unpaid internship), with a wage of 0.")]
Engagement = Annotated[
    events.EngagementHours | None, Field(description="Micro-internships only: the project's hours in all.")
]
ScheduleIn = Annotated[events.Schedule | None, Field(description="When the work happens, and how far ahead it is known.")]
BenefitsIn = Annotated[events.Benefits | None, Field(description="Benefits offered.")]


def _unpaid_without_wage(pay_basis: events.PayBasis | None, wage: events.Wage | None) -> events.Wage | None:
    """The wage to keep: an unpaid job's wage of 0 is no wage (the contracts carry none)."""
    return None if pay_basis is events.PayBasis.unpaid and wage is not None and wage.amount == 0 else wage


def _settle_pay(terms: TermsIn | ConversionIn) -> None:
    """An unpaid job's wage of 0 dropped; a pay basis left out taken from the wage's unit (as a
    v1 offer's); no wage and no basis refused at `wage`."""
    terms.wage = _unpaid_without_wage(terms.pay_basis, terms.wage)
    if terms.pay_basis is None:
        if terms.wage is None:
            events.refuse(terms, [events.inconsistent("wage", "wage is required unless pay_basis is unpaid", None)])
        else:
            terms.pay_basis = events.v1_pay_basis(terms.wage.unit)


class OpeningIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Title
    onet_soc_code: SocCode
    required_skills: RequiredSkills
    preferred_skills: PreferredSkills = Field(default_factory=list)
    capacity: Capacity
    wage: events.Wage
    location: Location
    remote: bool = False
    required_credentials: RequiredCredentials = Field(default_factory=list)
    degree_required: DegreeRequired = None
    employment_type: Kind = None
    apprenticeship_registered: Registered = None
    paid: Paid = True
    engagement_hours: Engagement = None
    schedule: ScheduleIn = None
    benefits: BenefitsIn = None

    @model_validator(mode="after")
    def consistent(self) -> OpeningIn:
        events.refuse(self, events.posting_refusals(self))
        return self


# Posting fields whose null means something (not said, none): a PATCH may set them to null.
NULLABLE = frozenset({
    "degree_required", "employment_type", "apprenticeship_registered", "engagement_hours", "schedule", "benefits"
})


class OpeningPatch(BaseModel):
    """The parts of the posting to change; what is left out stays as it is."""

    # The document says what the validator below checks: at least one field, and null only
    # for the NULLABLE ones (SkipJsonSchema: None is the default of a field left out, never a
    # value). Whether the changed posting is consistent is checked with the rest of it.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})
    title: Title | SkipJsonSchema[None] = None
    onet_soc_code: SocCode | SkipJsonSchema[None] = None
    required_skills: RequiredSkills | SkipJsonSchema[None] = None
    preferred_skills: PreferredSkills | SkipJsonSchema[None] = None
    capacity: Capacity | SkipJsonSchema[None] = None
    wage: events.Wage | SkipJsonSchema[None] = None
    location: Location | SkipJsonSchema[None] = None
    remote: bool | SkipJsonSchema[None] = None
    required_credentials: RequiredCredentials | SkipJsonSchema[None] = None
    degree_required: DegreeRequired = Field(default=None, description="null: no degree is mandatory any more.")
    employment_type: Kind = None
    apprenticeship_registered: Registered = None
    paid: Paid | SkipJsonSchema[None] = None
    engagement_hours: Engagement = None
    schedule: ScheduleIn = None
    benefits: BenefitsIn = None

    @model_validator(mode="after")
    def something_and_no_nulls(self) -> OpeningPatch:
        if not self.model_fields_set:
            raise ValueError("nothing to update")
        nulls = sorted(f for f in self.model_fields_set if f not in NULLABLE and getattr(self, f) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: events.OpeningCloseReason = Field(description="`filled`: you hired for it; `closed`: for any other reason.")


class DeclineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: events.DeclineReason
    detail: bounds.Detail | None = Field(default=None, description="Required when reason is 'other'.")


class InterviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scheduled_for: AwareDatetime
    mode: events.InterviewMode = events.InterviewMode.video


class InterviewOutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: events.InterviewOutcome


class TermsIn(BaseModel):
    """A job's terms. Inconsistent terms are a 422 naming the field: a wage with pay_basis
    unpaid (a wage of 0 is taken as none), none otherwise, engagement_hours on anything but a
    micro-internship, apprenticeship_registered on anything but an apprenticeship, an
    end_date before the start_date."""

    model_config = ConfigDict(extra="forbid")
    job_title: bounds.Name = Field(min_length=1)
    onet_soc_code: bounds.OnetSoc
    employment_type: events.EmploymentKind
    apprenticeship_registered: Registered = None
    pay_basis: events.PayBasis | None = Field(
        default=None,
        description="How the job is paid. Left out: hourly for a wage by the hour, salary for any other. `unpaid`:"
        " no wage.",
    )
    wage: events.Wage | None = Field(default=None, description="Required unless pay_basis is unpaid.")
    hours_per_week: events.HoursPerWeek | None = None
    engagement_hours: Engagement = None
    schedule: ScheduleIn = None
    benefits: events.Benefits = Field(default_factory=events.Benefits)
    start_date: date
    end_date: date | None = Field(default=None, description="Last day, for work that ends (an internship, a project).")

    @model_validator(mode="after")
    def consistent(self) -> TermsIn:
        _settle_pay(self)
        events.refuse(self, events.terms_refusals(self))  # pay_basis is set by now
        return self

    def terms(self) -> domain.Terms:
        return domain.Terms(**{f: getattr(self, f) for f in TermsIn.model_fields})


class PlacementIn(TermsIn):
    pass


class OfferIn(TermsIn):
    expires_on: date | None = Field(default=None, description="Last day the candidate may accept.")


class ConversionIn(BaseModel):
    """A placed intern, micro-intern or apprentice hired full-time or part-time at your
    organization: the job's terms from `converted_on` on. The start date stays the
    placement's (retention check-ins count from it). Inconsistent terms are a 422 naming the
    field, as for a placement."""

    model_config = ConfigDict(extra="forbid")
    converted_on: date = Field(description="First day on the new terms: not before the start date, not in the future.")
    job_title: bounds.Name = Field(min_length=1)
    onet_soc_code: bounds.OnetSoc
    employment_type: Literal["full_time", "part_time"] = Field(description="The kind of job after the conversion.")
    pay_basis: events.PayBasis | None = Field(
        default=None, description="How the job is paid. Left out: hourly for a wage by the hour, salary for any other."
    )
    wage: events.Wage | None = Field(default=None, description="Required unless pay_basis is unpaid.")
    hours_per_week: events.HoursPerWeek | None = None
    schedule: ScheduleIn = None
    benefits: events.Benefits = Field(default_factory=events.Benefits)
    end_date: date | None = Field(default=None, description="Last day, for a job that ends; not before converted_on.")

    @model_validator(mode="after")
    def consistent(self) -> ConversionIn:
        _settle_pay(self)
        found = events.pay_refusals(self.pay_basis, self.wage, wage_required=True)
        if self.end_date is not None and self.end_date < self.converted_on:
            found.append(events.inconsistent("end_date", "end_date is before converted_on", self.end_date.isoformat()))
        events.refuse(self, found)
        return self

    def terms(self) -> domain.Terms:
        """The terms (their start date is the placement's: `Referral.convert` sets it)."""
        assert self.pay_basis is not None  # set by `consistent`
        return domain.Terms(
            job_title=self.job_title, onet_soc_code=self.onet_soc_code, wage=self.wage,
            hours_per_week=self.hours_per_week, employment_type=events.EmploymentKind(self.employment_type),
            benefits=self.benefits, start_date=self.converted_on, pay_basis=self.pay_basis, schedule=self.schedule,
            end_date=self.end_date,
        )


class OfferDeclinedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: events.OfferDeclineReason
    detail: bounds.Detail | None = None


class RescheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scheduled_for: AwareDatetime
    mode: events.InterviewMode | None = Field(default=None, description="Left out: as before.")


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cancelled_by: events.CancelledBy
    detail: bounds.Detail | None = None


class RetentionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    milestone_days: Literal[30, 90, 180]
    still_employed: bool = Field(description="false ends the employment (state `separated`).")
    checked_on: date = Field(description="Not before the start date plus the milestone's days; not in the future.")
    wage: events.Wage | None = None
    hours_per_week: float | None = Field(default=None, gt=0, le=80)
    job_title: bounds.Name | None = Field(default=None, min_length=1, description="The job's title by now, if it changed.")
    promoted: bool | None = Field(default=None, description="Promoted since the placement.")
    pay_basis: events.PayBasis | None = Field(default=None, description="How the job is paid by now (unpaid: no wage).")
    benefits: BenefitsIn = None
    schedule: ScheduleIn = None

    @model_validator(mode="after")
    def consistent(self) -> RetentionIn:
        self.wage = _unpaid_without_wage(self.pay_basis, self.wage)
        events.refuse(self, events.pay_refusals(self.pay_basis, self.wage, wage_required=False))
        return self


class SeparationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    separated_on: date
    reason: events.SeparationReason
    detail: bounds.Detail | None = None


def not_in_future(request: Request, day: date, field: str) -> None:
    if day > deps_of(request).clock().date():
        raise problems.Problem(422, "validation", "Request is not valid", f"{field} is in the future")


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

    async def effect(conn):  # type: ignore[no-untyped-def]
        ctx = context_of(request, conn)
        opening_id = await application.post_opening(ctx, who.id, body.model_dump(), correlation_id(request))
        return 201, {"opening_id": opening_id}

    return await idempotency.run_once(pool_of(request), who, idempotency_key, body.model_dump(mode="json"), effect)


@router.get("/openings", summary="Your openings, with their state", responses=problems.responses(401, 403))
async def list_openings(request: Request, who: Caller) -> list[dict[str, Any]]:
    require(who, "employer")
    return await store.list_openings(pool_of(request), who.id)


async def _change_opening(
    request: Request,
    who: Principal,
    key: str | None,
    body: BaseModel,
    change: Callable[[Context], Awaitable[dict[str, Any]]],
) -> JSONResponse:
    """Run one change of the employer's opening (a use case), answering its refusals."""
    require(who, "employer")

    async def effect(conn):  # type: ignore[no-untyped-def]
        try:
            return 200, await change(context_of(request, conn))
        except NotFound as exc:
            raise problems.not_found(exc.what) from None
        except InvalidTransition as exc:
            raise refused(exc) from None
        except domain.CapacityBelowRouted as exc:
            raise problems.Problem(
                409, "capacity-below-routed", "Capacity below the referrals routed", str(exc), routed=exc.routed
            ) from None
        except ValidationError as exc:  # the changed posting contradicts the rest of it
            raise problems.invalid(exc.errors()) from None

    fingerprint = {"path": request_path(request), "body": body.model_dump(mode="json", exclude_unset=True)}
    return await idempotency.run_once(pool_of(request), who, key, fingerprint, effect)


@router.patch(
    "/openings/{opening_id}",
    summary="Change an open opening (only the fields given); publishes the whole posting",
    responses=ACTION_ERRORS,
)
async def update_opening(
    opening_id: str, body: OpeningPatch, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    def change(ctx: Context) -> Awaitable[dict[str, Any]]:
        return application.update_opening(ctx, who.id, opening_id, body.changes(), correlation_id(request))

    return await _change_opening(request, who, idempotency_key, body, change)


@router.post(
    "/openings/{opening_id}/close",
    summary="Close an opening, or mark it filled: no more referrals are routed to it, and those still in"
    " progress there are declined (`declined_referrals`) so routing can send them elsewhere",
    responses=ACTION_ERRORS,
)
async def close_opening(
    opening_id: str, body: CloseIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    def change(ctx: Context) -> Awaitable[dict[str, Any]]:
        return application.close_opening(ctx, who.id, opening_id, body.reason, correlation_id(request))

    return await _change_opening(request, who, idempotency_key, body, change)


@router.get("/referrals", summary="Referrals routed to you (paged)", responses=problems.responses(401, 403, 422))
async def inbox(
    request: Request,
    who: Caller,
    status: Annotated[State | None, Query(description="Only referrals in this state")] = None,
    opening_id: str | None = None,
    after: Annotated[
        int | None,
        # The database's bigint: a larger cursor is a 422, not an overflow inside the query.
        Query(ge=0, le=2**63 - 1, description="The `cursor` of the last item of the previous page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    require(who, "employer")
    async with pool_of(request).acquire() as conn:
        page = await store.inbox_page(
            conn, who.id, state=status.value if status else None, opening_id=opening_id, after=after, limit=limit
        )
        items = await with_contacts(request, conn, page)
    return {"items": items, "next_after": items[-1]["cursor"] if len(items) == limit else None}


@router.get(
    "/referrals/{referral_id}",
    summary="One referral routed to you, with its interviews, offers and employment",
    responses=problems.responses(401, 403, 404),
)
async def referral(referral_id: str, request: Request, who: Caller) -> dict[str, Any]:
    require(who, "employer")
    async with pool_of(request).acquire() as conn:
        found = await store.referral_detail(conn, referral_id, who.id)
        if found is None:
            raise problems.not_found("referral")
        (item,) = await with_contacts(request, conn, [found])
    return item


async def with_contacts(
    request: Request, conn: asyncpg.Connection, found: list[tuple[dict[str, Any], str | None]]
) -> list[dict[str, Any]]:
    """The items, each with its `contact`: the candidate's details where they consented to
    employers seeing them (`found` pairs each item with those details, sealed) and the
    referral is in progress or placed; otherwise null (also once the candidate is erased:
    their key is gone)."""
    sealed = {
        item["referral_id"]: events.Sealed.model_validate_json(contact)
        for item, contact in found
        if contact is not None and State(item["state"]) in domain.SHOWS_CONTACT
    }
    vault: Vault = request.app.state.vault
    keys = await vault.keys(conn, [candidate_of(s) for s in sealed.values()]) if sealed else {}
    items = []
    for item, _ in found:
        s = sealed.get(item["referral_id"])
        key = keys.get(candidate_of(s)) if s else None
        try:
            item["contact"] = key.open(s, "contact") if key and s else None
        except Unreadable:
            item["contact"] = None
        items.append(item)
    return items


async def _act(
    request: Request,
    who: Principal,
    referral_id: str,
    key: str | None,
    body: BaseModel | None,
    decide: Callable[[Referral], events.Payload],
    status: int = 200,
) -> JSONResponse:
    """Apply one domain transition to the employer's referral (`application.act`), committed
    with the actions of other requests that arrive meanwhile (grouped.py), and answer with
    its new state and event."""
    require(who, "employer")
    fingerprint = {"path": request_path(request), "body": body.model_dump(mode="json") if body else None}
    answer = await _groups(request).act(
        who, referral_id, decide, correlation_id(request), status=status, key=key, payload=fingerprint
    )
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else None
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


def _groups(request: Request) -> ActionGroups:
    groups = getattr(request.app.state, "action_groups", None)
    if groups is None:  # an app started without the gateway's on_start (tests)
        groups = request.app.state.action_groups = ActionGroups(pool_of(request), deps_of(request))
    return groups


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


@router.post(
    "/referrals/{referral_id}/interviews/{interview_id}/reschedule",
    summary="Move an interview to another time (or mode)",
    responses=ACTION_ERRORS,
)
async def reschedule_interview(
    referral_id: str,
    interview_id: str,
    body: RescheduleIn,
    request: Request,
    who: Caller,
    idempotency_key: IdempotencyKey = None,
):
    return await _act(
        request,
        who,
        referral_id,
        idempotency_key,
        body,
        lambda r: r.reschedule_interview(interview_id, body.scheduled_for, body.mode),
    )


@router.post(
    "/referrals/{referral_id}/interviews/{interview_id}/cancel",
    summary="Call an interview off (by you or by the candidate)",
    responses=ACTION_ERRORS,
)
async def cancel_interview(
    referral_id: str, interview_id: str, body: CancelIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
):
    return await _act(
        request,
        who,
        referral_id,
        idempotency_key,
        body,
        lambda r: r.cancel_interview(interview_id, body.cancelled_by, body.detail),
    )


@router.post(
    "/referrals/{referral_id}/offers", status_code=201, summary="Offer the candidate the job", responses=ACTION_ERRORS
)
async def extend_offer(
    referral_id: str, body: OfferIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
):
    offer_id = f"off_{uuid.uuid4().hex}"
    return await _act(
        request,
        who,
        referral_id,
        idempotency_key,
        body,
        lambda r: r.extend_offer(offer_id, body.terms(), body.expires_on),
        status=201,
    )


@router.post(
    "/referrals/{referral_id}/offers/{offer_id}/declined",
    summary="Report that the candidate turned the offer down (the referral ends here)",
    responses=ACTION_ERRORS,
)
async def offer_declined(
    referral_id: str, offer_id: str, body: OfferDeclinedIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
):
    return await _act(
        request,
        who,
        referral_id,
        idempotency_key,
        body,
        lambda r: r.record_offer_declined(offer_id, body.reason, body.detail),
    )


@router.post("/referrals/{referral_id}/placement", summary="Report a placement (a hire)", responses=ACTION_ERRORS)
async def placement(
    referral_id: str, body: PlacementIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
):
    return await _act(request, who, referral_id, idempotency_key, body, lambda r: r.report_placement(body.terms()))


@router.post(
    "/referrals/{referral_id}/conversion",
    summary="Convert a placed intern, micro-intern or apprentice into a full-time or part-time hire here",
    responses=ACTION_ERRORS,
)
async def conversion(
    referral_id: str, body: ConversionIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
):
    not_in_future(request, body.converted_on, "converted_on")
    return await _act(
        request, who, referral_id, idempotency_key, body, lambda r: r.convert(body.terms(), body.converted_on)
    )


@router.post(
    "/referrals/{referral_id}/retention",
    summary="Report a retention check-in (30, 90 or 180 days after the start date)",
    responses=ACTION_ERRORS,
)
async def retention(
    referral_id: str, body: RetentionIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
):
    not_in_future(request, body.checked_on, "checked_on")
    return await _act(
        request,
        who,
        referral_id,
        idempotency_key,
        body,
        lambda r: r.check_retention(
            body.milestone_days, body.still_employed, body.checked_on, body.wage, body.hours_per_week,
            job_title=body.job_title, promoted=body.promoted, pay_basis=body.pay_basis, benefits=body.benefits,
            schedule=body.schedule,
        ),
    )


@router.post(
    "/referrals/{referral_id}/separation", summary="Report that the placed candidate left the job", responses=ACTION_ERRORS
)
async def separation(
    referral_id: str, body: SeparationIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
):
    not_in_future(request, body.separated_on, "separated_on")
    return await _act(
        request, who, referral_id, idempotency_key, body, lambda r: r.report_separation(body.separated_on, body.reason, body.detail)
    )
