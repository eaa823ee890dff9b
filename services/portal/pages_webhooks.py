"""Webhook endpoints, managed by an organisation's admins (docs/portals.md, "Webhook
endpoints"): one section per service that notifies the organisation, its endpoints, adding one
(the signing secret shown once), a new secret, removing one. Staff and read-only users get
403; another organisation's endpoint id (or a service that does not notify the organisation)
answers 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from services.portal import web, webhook_admin
from services.portal.application import Refused
from services.portal.domain import Member
from services.portal.pages_account import Signed, portal_of

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.verify_csrf)])


async def _page(request: Request, who: Member, status: int = 200, **context: Any) -> Response:
    try:
        sections = await webhook_admin.listed(portal_of(request), who)
    except Refused as refused:
        raise web.refusal_page(refused.code) from None
    return await web.page(
        request, "webhooks.html", status=status, sections=sections, messages=webhook_admin.MESSAGES, **context
    )


@router.get("/webhooks")
async def webhooks(request: Request, who: Signed, removed: str = "") -> Response:
    return await _page(request, who, removed=removed[:100])


@router.post("/webhooks/{service}/endpoints")
async def add(
    request: Request,
    who: Signed,
    service: str,
    url: Annotated[str, Form(max_length=2000)] = "",
    event_types: Annotated[list[str], Form(max_length=20)] = [],  # noqa: B006 - FastAPI copies a form's default
) -> Response:
    try:
        added = await webhook_admin.add(portal_of(request), who, service, url, event_types)
    except LookupError:
        raise web.PageError(404, "not_found") from None
    except Refused as refused:
        raise web.refusal_page(refused.code) from None
    if added.endpoint_id is None:
        return await _page(request, who, 422, problem=added.problem, failed_service=service, url=url)
    return await _page(request, who, 201, secret=added.secret, secret_for=added.endpoint_id)


@router.post("/webhooks/{service}/endpoints/{endpoint_id}/rotate-secret")
async def rotate(request: Request, who: Signed, service: str, endpoint_id: str) -> Response:
    try:
        secret = await webhook_admin.rotate(portal_of(request), who, service, endpoint_id)
    except LookupError:
        raise web.PageError(404, "not_found") from None
    except Refused as refused:
        raise web.refusal_page(refused.code) from None
    return await _page(request, who, secret=secret, secret_for=endpoint_id, rotated=True)


@router.post("/webhooks/{service}/endpoints/{endpoint_id}/remove")
async def remove(request: Request, who: Signed, service: str, endpoint_id: str) -> Response:
    try:
        await webhook_admin.remove(portal_of(request), who, service, endpoint_id)
    except LookupError:
        raise web.PageError(404, "not_found") from None
    except Refused as refused:
        raise web.refusal_page(refused.code) from None
    return web.redirect(request, f"/webhooks?removed={endpoint_id}")
