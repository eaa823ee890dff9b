"""Intake's HTTP API for partners."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from plumbing import idempotency, outbox, problems
from plumbing.auth import Principal, principal, require
from plumbing.service import correlation_id, pool_of
from services.intake import domain, store

SOURCE = "/talentloop/intake"
router = APIRouter(prefix="/v1", tags=["referrals"])
Caller = Annotated[Principal, Depends(principal)]
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", description="Repeat a POST safely: same key, same answer.")
]


class ReferralAccepted(BaseModel):
    referral_id: str
    candidate_id: str
    status: str = "submitted"


@router.post(
    "/referrals",
    status_code=201,
    response_model=ReferralAccepted,
    summary="Refer a candidate",
    responses=problems.responses(400, 401, 403, 409, 422),
)
async def submit_referral(
    body: domain.ReferralIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    require(who, "partner")
    secret = request.app.state.settings.pseudonym_key.encode()
    try:
        event = domain.accept(body, who.id, secret)
    except domain.ConsentNeeded as exc:
        raise problems.Problem(422, "consent-required", "Consent required", str(exc)) from None

    async def effect(conn):  # type: ignore[no-untyped-def]
        await store.insert_referral(conn, event, body)
        await outbox.emit(conn, event, source=SOURCE, correlation_id=correlation_id(request))
        return 201, ReferralAccepted(referral_id=event.referral_id, candidate_id=event.candidate_id).model_dump()

    return await idempotency.run_once(pool_of(request), who, idempotency_key, body.model_dump(mode="json"), effect)


@router.get(
    "/referrals/{referral_id}",
    summary="A referral this partner submitted, as intake recorded it",
    responses=problems.responses(401, 403, 404),
)
async def get_referral(referral_id: str, request: Request, who: Caller) -> dict:
    require(who, "partner")
    found = await store.get_referral(pool_of(request), referral_id, who.id)
    if found is None:
        raise problems.not_found("referral")
    return found
