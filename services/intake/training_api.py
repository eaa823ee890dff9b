"""Intake's HTTP API for training providers: programs and enrollments in TalentLoop's own
JSON shape. Partner keys, `Idempotency-Key`, RFC 9457 problems, as for referrals (api.py)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from plumbing import idempotency, problems
from plumbing.auth import require
from plumbing.idempotency import IdempotencyKey
from plumbing.service import context_of, correlation_id, pool_of
from services.intake import application, mapping, store, training
from services.intake.api import Caller, _adapter, _invalid, _now
from services.intake.application import Conflict

router = APIRouter(prefix="/v1", tags=["training"])


class ProgramAnswer(BaseModel):
    program_id: str
    published: str | None = Field(description="The event published: program.registered.v1, program.updated.v1, or"
                                  " null when the program was already so.")


class EnrollmentAnswer(BaseModel):
    enrollment_id: str
    candidate_id: str = Field(
        description="Your pseudonymous id of the person: the same as your referrals of them get (until you erase"
        " them). Other partners are told other ids for the same person."
    )
    events: list[str] = Field(description="The events this record added; empty when it stated nothing new.")


def _training_problem(found: application.TrainingProblem) -> problems.Problem:
    if found.code == "unknown-program":
        return problems.Problem(422, found.code, "Unknown program", found.message, errors=[
            {"field": ".".join(found.loc), "message": found.message, "type": found.code}])
    return problems.Problem(409, found.code, "Not possible now", found.message, errors=[
        {"field": ".".join(found.loc), "message": found.message, "type": found.code}])


@router.post(
    "/programs",
    status_code=201,
    response_model=ProgramAnswer,
    summary="Register a training program, or restate it as it now is (the whole program)",
    description="201 when the program is new (program.registered.v1 published); 200 when it was known, with"
    " program.updated.v1 published if it changed, or nothing if it was restated as it was.",
    responses={200: {"model": ProgramAnswer, "description": "The program was known: updated, or unchanged"},
               **problems.responses(400, 401, 403, 409, 422)},
)
async def put_program(
    body: training.ProgramIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    require(who, "partner")

    async def effect(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        try:
            created, published = await application.report_program(
                context_of(request, conn), who.id, body, correlation_id(request)
            )
        except Conflict as exc:
            raise problems.Problem(409, "program-id-taken", "Program id taken", str(exc)) from None
        return (201 if created else 200), {"program_id": body.program_id, "published": published}

    return await idempotency.run_once(pool_of(request), who, idempotency_key, body.model_dump(mode="json"), effect)


# 201 when the enrollment is new (training.enrolled.v1 among the events), 200 when it was known.
_KNOWN_ENROLLMENT = {"model": EnrollmentAnswer,
                     "description": "The enrollment was known: `events` lists what was new in it (none when restated)"}


async def _report_one(
    request: Request, who: Any, record: training.TrainingRecordIn, entry: str, key: str | None, payload: Any
) -> JSONResponse:
    async def effect(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        [result] = await application.report_training(
            context_of(request, conn), who.id, [record], entry=entry, correlation_id=correlation_id(request)
        )
        if isinstance(result, application.TrainingProblem):
            raise _training_problem(result)
        answer = {"enrollment_id": result.enrollment_id, "candidate_id": result.partner_candidate_id,
                  "events": result.events}
        return (201 if "training.enrolled.v1" in result.events else 200), answer

    return await idempotency.run_once(pool_of(request), who, key, payload, effect)


@router.post(
    "/enrollments",
    status_code=201,
    response_model=EnrollmentAnswer,
    summary="Report a participant's enrollment as it now stands (enrolled, progress, completed or exited,"
    " credentials earned); sending it again changes nothing",
    responses={200: _KNOWN_ENROLLMENT, **problems.responses(400, 401, 403, 409, 422)},
)
async def report_enrollment(
    body: training.TrainingRecordIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    require(who, "partner")
    if body.consent.given_at > _now(request):
        raise problems.invalid([{"loc": ("consent", "given_at"), "msg": "consent cannot be given in the future",
                                 "type": "future_date"}])
    return await _report_one(request, who, body, "api", idempotency_key, body.model_dump(mode="json"))


@router.post(
    "/webhooks/training",
    status_code=201,
    response_model=EnrollmentAnswer,
    summary="Report an enrollment in the provider's own JSON shape, mapped by its training adapter",
    responses={200: _KNOWN_ENROLLMENT, **problems.responses(400, 401, 403, 404, 409, 422)},
)
async def training_webhook(
    request: Request,
    who: Caller,
    record: Annotated[dict[str, Any], Body(description="One record, shaped as the provider's system sends it.")],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    require(who, "partner")
    adapter = _adapter(request, who.id, "json", "training")
    enrollment, errors = mapping.training_from(adapter, record, now=_now(request))
    if enrollment is None:
        raise _invalid(errors)
    return await _report_one(request, who, enrollment, "webhook", idempotency_key, record)


@router.get(
    "/enrollments/{enrollment_id}",
    summary="An enrollment this provider reported, as intake holds it now (no contact details)",
    responses=problems.responses(401, 403, 404),
)
async def get_enrollment(enrollment_id: str, request: Request, who: Caller) -> dict[str, Any]:
    require(who, "partner")
    async with pool_of(request).acquire() as conn:
        row = await store.find_enrollment(conn, enrollment_id, who.id)
    if row is None:
        raise problems.not_found("enrollment")
    return {
        "enrollment_id": row["enrollment_id"],
        "program_id": row["program_id"],
        "candidate_id": row["partner_candidate_id"] or "erased",
        "status": row["status"],
        "state": json.loads(row["state"]),
        "entry": row["entry"],
        "enrolled_at": row["enrolled_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }
