"""A referring organisation's supportive services (docs/portals.md, "Supportive services"):
its requests and their states, asking a provider for a person it referred, one request's page
and withdrawing it. Read-only users see the pages without the forms (403 if they post)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from services.portal import i18n, support_requests, web
from services.portal.application import Refused
from services.portal.domain import Member
from services.portal.pages_account import Signed, portal_of
from services.portal.support_requests import ServiceRequestForm

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.verify_csrf)])
WORDS = {
    "service_types": support_requests.SERVICE_TYPES,
    "request_states": support_requests.REQUEST_STATES,
    "decline_reasons": support_requests.DECLINE_REASONS,
    "messages": support_requests.MESSAGES,
}


async def _list_page(
    request: Request, who: Member, form: dict[str, Any], status: int = 200, **context: Any
) -> Response:
    p = portal_of(request)
    try:
        items = await support_requests.requests(p, who)
        providers = await support_requests.providers(p, who)
    except Refused as refused:
        raise web.refusal_page(refused.code) from None
    names = {d["provider_id"]: d["name"] for d in providers}
    context.setdefault("problems", {})
    return await web.page(
        request,
        "support.html",
        status=status,
        items=items,
        providers=providers,
        provider_names=names,
        form=form,
        form_id=uuid.uuid4().hex,
        waiting=sum(1 for i in items if i["waiting_too_long"]),
        **WORDS,
        **context,
    )


@router.get("/support")
async def support(request: Request, who: Signed, referral: str = "", asked: str = "") -> Response:
    form = {
        "referral_id": referral[:100],
        "provider_id": "",
        "service_type": "",
        "reason": "",
        "amount": "",
        "currency": "USD",
    }
    return await _list_page(request, who, form, asked=asked[:100])


@router.post("/support")
async def ask(
    request: Request,
    who: Signed,
    form_id: Annotated[str, Form(max_length=64)],
    referral_id: Annotated[str, Form(max_length=200)] = "",
    provider_id: Annotated[str, Form(max_length=200)] = "",
    service_type: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    amount: Annotated[str, Form(max_length=40)] = "",
    currency: Annotated[str, Form(max_length=10)] = "USD",
) -> Response:
    web.require_referring(who, write=True)
    form = ServiceRequestForm(referral_id, provider_id, service_type, reason, amount, currency, form_id)
    values = {
        k: getattr(form, k) for k in ("referral_id", "provider_id", "service_type", "reason", "amount", "currency")
    }
    problems = form.problems()
    if problems:
        return await _list_page(request, who, values, 422, problems=problems)
    try:
        asked = await support_requests.ask(portal_of(request), who, form)
    except Refused as refused:
        raise web.refusal_page(refused.code) from None
    if asked.request_id is None:
        return await _list_page(request, who, values, 422, refusal=asked.problem, service_problem=asked.service_problem)
    return web.redirect(request, f"/support/{asked.request_id}?asked=1")


async def _request_page(request: Request, who: Member, request_id: str, status: int = 200, **context: Any) -> Response:
    p = portal_of(request)
    try:
        found = await support_requests.one(p, who, request_id)
        providers = await support_requests.providers(p, who)
    except Refused as refused:
        raise web.refusal_page(refused.code) from None
    if found is None:
        raise web.PageError(404, "not_found")
    return await web.page(
        request,
        "support_request.html",
        status=status,
        r=found,
        provider_name=next((d["name"] for d in providers if d["provider_id"] == found["provider_id"]), None),
        open_states=support_requests.OPEN_STATES,
        form_id=uuid.uuid4().hex,
        **WORDS,
        **context,
    )


@router.get("/support/{request_id}")
async def one_request(request: Request, who: Signed, request_id: str, asked: str = "") -> Response:
    return await _request_page(request, who, request_id, asked=bool(asked))


@router.post("/support/{request_id}/cancel")
async def cancel(
    request: Request,
    who: Signed,
    request_id: str,
    form_id: Annotated[str, Form(max_length=64)],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    web.require_referring(who, write=True)
    if not 1 <= len(reason.strip()) <= support_requests.REASON_MAX:
        _ = i18n.gettext_for((await web.visitor(request)).language)
        return await _request_page(request, who, request_id, 422, problem=_(support_requests.MESSAGES["bad_reason"]))
    try:
        refusal = await support_requests.cancel(portal_of(request), who, request_id, reason, form_id)
    except LookupError:
        raise web.PageError(404, "not_found") from None
    except Refused as refused:
        raise web.refusal_page(refused.code) from None
    if refusal is not None:
        return await _request_page(request, who, request_id, 409, problem=refusal)
    return web.redirect(request, f"/support/{request_id}")
