"""An employer's pages: the referrals routed to it (by state, those about to go stale first),
one referral with the matching explanation and the contact details the candidate agreed to
share, and a form for each lifecycle step the gateway takes. Everything goes through the
employer gateway with the organisation's own key, so another employer's referral answers 404
here exactly as there."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.portal import employing, i18n, messages, present, web
from services.portal.application import Refused
from services.portal.domain import Member
from services.portal.pages_account import Signed, portal_of

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.verify_csrf)])

VOCABULARIES = {
    "states": messages.EMPLOYER_STATES,
    "reasons": present.REASONS,
    "modes": messages.INTERVIEW_MODES,
    "outcomes": messages.INTERVIEW_OUTCOMES,
    "cancelled_by": messages.CANCELLED_BY,
    "kinds": messages.EMPLOYMENT_KINDS,
    "units": messages.WAGE_UNITS,
    "benefits": messages.BENEFITS,
    "milestones": messages.MILESTONES,
    "yes_no": messages.YES_NO,
    "offered_in": employing.OFFERED_IN,
    "offer_decline_reasons": employing.OFFER_DECLINE_REASONS,
    "separation_reasons": employing.SEPARATION_REASONS,
    "converts_to": employing.CONVERTS_TO,
    "converts": employing.converts,
    "opening_states": messages.OPENING_STATES,
    "degrees": employing.DEGREES,
    "schedules": employing.SCHEDULES,
    "pay_bases": employing.PAY_BASES,
}


def _employing(who: Member, write: bool = False) -> None:
    if who.org_kind != "employer" or (write and not who.may_write):
        raise web.PageError(403, "not_allowed")


@router.get("/routed")
async def routed(request: Request, who: Signed, state: str = "") -> Response:
    _employing(who)
    items = await employing.routed(portal_of(request), who)
    counts = Counter(i["state"] for i in items)
    shown = [i for i in items if not state or i["state"] == state or (state == "due" and i["due"])]
    return await web.page(
        request,
        "routed.html",
        items=shown,
        total=len(items),
        due=sum(1 for i in items if i["due"]),
        overdue=sum(1 for i in items if i["overdue"]),
        counts=[(s, counts[s]) for s in messages.EMPLOYER_STATES if counts[s]],
        chosen=state,
        **VOCABULARIES,
    )


async def _referral_page(
    request: Request, who: Member, referral_id: str, status: int = 200, **context: Any
) -> Response:
    found = await employing.one(portal_of(request), who, referral_id)
    if found is None:
        raise web.PageError(404, "not_found")
    return await web.page(
        request,
        "routed_referral.html",
        status=status,
        referral=found,
        form_id=uuid.uuid4().hex,
        **VOCABULARIES,
        **context,
    )


@router.get("/routed/{referral_id}")
async def referral(request: Request, who: Signed, referral_id: str, done: str = "") -> Response:
    _employing(who)
    return await _referral_page(request, who, referral_id, done=done if done in employing.STEPS else "")


async def _form(request: Request) -> dict[str, Any]:
    raw = await request.form()
    form: dict[str, Any] = {k: v for k, v in raw.items() if isinstance(v, str) and k != "benefit"}
    form["benefit"] = [v for v in raw.getlist("benefit") if isinstance(v, str)]
    return form


@router.post("/routed/{referral_id}/{step}")
async def act(request: Request, who: Signed, referral_id: str, step: str) -> Response:
    _employing(who, write=True)
    if step not in employing.STEPS:
        raise web.PageError(404, "not_found")
    form = await _form(request)
    try:
        done = await employing.act(portal_of(request), who, referral_id, step, form)
    except employing.Invalid as invalid:
        _ = i18n.gettext_for((await web.visitor(request)).language)
        return await _referral_page(request, who, referral_id, 422, problem=_(messages.CODES[invalid.code]))
    except Refused as refused:
        raise web.PageError(404 if refused.code == "not_found" else 502, refused.code) from None
    if done.problem is not None:
        return await _referral_page(request, who, referral_id, done.status, problem=done.problem)
    return web.redirect(request, f"/routed/{referral_id}?done={step}")


# --- openings ----------------------------------------------------------------------------------


async def _openings_page(request: Request, who: Member, status: int = 200, **context: Any) -> Response:
    return await web.page(
        request,
        "openings.html",
        status=status,
        openings=await employing.openings(portal_of(request), who),
        form_id=uuid.uuid4().hex,
        form_values=employing.form_values,
        **VOCABULARIES,
        **context,
    )


@router.get("/openings")
async def openings(request: Request, who: Signed, done: str = "") -> Response:
    _employing(who)
    return await _openings_page(request, who, done=done[:100])


@router.post("/openings")
async def post_opening(request: Request, who: Signed) -> Response:
    return await _change(request, who, None, employing.post_opening)


@router.post("/openings/{opening_id}/change")
async def change_opening(request: Request, who: Signed, opening_id: str) -> Response:
    return await _change(request, who, opening_id, employing.change_opening)


@router.post("/openings/{opening_id}/close")
async def close_opening(request: Request, who: Signed, opening_id: str) -> Response:
    return await _change(request, who, opening_id, employing.close_opening)


async def _change(request: Request, who: Member, opening_id: str | None, change: Any) -> Response:
    """Post, change or close an opening; back to the list, or the list with the form as it was
    sent, its problem on top and at the fields it is about."""
    _employing(who, write=True)
    form = await _form(request)
    p = portal_of(request)
    # A posting's form that failed is shown again as it was sent; closing has no fields to keep.
    kept = change is not employing.close_opening
    try:
        done = await (change(p, who, form) if opening_id is None else change(p, who, opening_id, form))
    except employing.Invalid as invalid:
        _ = i18n.gettext_for((await web.visitor(request)).language)
        message = _({**messages.CODES, **employing.PROBLEMS}[invalid.code])
        fields = {invalid.field: message} if invalid.field else {}
        failed = _failed(opening_id, form, fields) if kept else None
        return await _openings_page(request, who, 422, problem=message, failed=failed)
    except Refused as refused:
        raise web.PageError(404 if refused.code == "not_found" else 502, refused.code) from None
    if done.problem is not None:
        failed = _failed(opening_id, form, employing.marked(done.details), english=True) if kept else None
        return await _openings_page(request, who, done.status, problem=done.problem, failed=failed)
    changed = opening_id or (done.answer or {}).get("opening_id", "")
    return web.redirect(request, f"/openings?done={changed}")


def _failed(
    opening_id: str | None, form: dict[str, Any], fields: dict[str, str], english: bool = False
) -> dict[str, Any]:
    """Which form failed (an opening's id, or `new`), what it said, and its fields' problems
    (`english`: the gateway's words, which are not translated)."""
    return {"opening": opening_id or "new", "sent": form, "fields": fields, "english": english}
