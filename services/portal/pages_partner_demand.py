"""A referring organisation's view of the coalition: the demand board (what employers ask for,
without saying who) and its own funnel beside the coalition's. Both are read from outcomes'
API with the organisation's own key (`GET /v1/demand`, `GET /v1/funnel`): the portal renders
what outcomes decides to show, suppression included, and computes none of it
(docs/portals.md, "A referring partner's screens")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.portal import web
from services.portal.domain import Member
from services.portal.messages import EMPLOYMENT_KINDS, N_, WAGE_UNITS
from services.portal.operators import STAGES
from services.portal.pages_account import Signed, portal_of

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.verify_csrf)])

# The hiring standards' words (contracts: InterviewStage, HiringFormat), and the board's "not said".
HIRING_STAGES = {
    "screening_call": N_("Screening call"),
    "technical_interview": N_("Technical interview"),
    "behavioral_interview": N_("Behavioural interview"),
    "take_home": N_("Take-home task"),
    "work_sample": N_("Work sample"),
    "panel": N_("Panel interview"),
    "background_check": N_("Background check"),
    "other": N_("Other"),
}
INTERVIEW_FORMATS = {"remote": N_("Remote"), "in_person": N_("In person"), "hybrid": N_("Hybrid")}
KINDS = {**EMPLOYMENT_KINDS, "not_said": N_("Not said")}


async def _outcomes(request: Request, who: Member, path: str) -> dict[str, Any]:
    """Outcomes' answer to the organisation's key; a refusal is the error page (502)."""
    p = portal_of(request)
    assert p.services is not None
    answer = await p.services.call(who, "outcomes", "GET", path)
    if answer.status != 200:
        raise web.PageError(502, "service_refused")
    result: dict[str, Any] = answer.json()
    return result


@router.get("/demand")
async def demand(request: Request, who: Signed) -> Response:
    web.require_referring(who)
    board = await _outcomes(request, who, "/v1/demand")
    return await web.page(
        request,
        "demand.html",
        board=board,
        kinds=KINDS,
        units=WAGE_UNITS,
        hiring_stages=HIRING_STAGES,
        formats=INTERVIEW_FORMATS,
    )


@router.get("/funnel")
async def funnel(request: Request, who: Signed) -> Response:
    web.require_referring(who)
    counts = await _outcomes(request, who, "/v1/funnel")
    return await web.page(request, "partner_funnel.html", funnel=counts, stages=STAGES)
