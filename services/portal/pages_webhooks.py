"""Webhook endpoints, managed by an organisation's admins (docs/portals.md, "Webhook
endpoints"): one section per service that notifies the organisation, its endpoints, adding one
(the signing secret shown once), a new secret, pausing, resuming and removing one; each
service's delivery log, one delivery with its attempts, and redelivering it. Staff and
read-only users get 403; another organisation's endpoint or delivery id (or a service that does
not notify the organisation) answers 404."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from services.portal import web, webhook_admin
from services.portal.application import Refused, segment
from services.portal.domain import Member
from services.portal.pages_account import Signed, portal_of

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.verify_csrf)])


@contextlib.contextmanager
def _answered() -> Iterator[None]:
    """A use case's refusals as pages: not the organisation's (or no such service for it) 404,
    the rules' 403, a service's refusal 502."""
    try:
        yield
    except LookupError:
        raise web.PageError(404, "not_found") from None
    except Refused as refused:
        raise web.refusal_page(refused.code) from None


async def _page(request: Request, who: Member, status: int = 200, **context: Any) -> Response:
    with _answered():
        sections = await webhook_admin.listed(portal_of(request), who)
    return await web.page(
        request, "webhooks.html", status=status, sections=sections, messages=webhook_admin.MESSAGES, **context
    )


@router.get("/webhooks")
async def webhooks(request: Request, who: Signed, removed: str = "", paused: str = "", resumed: str = "") -> Response:
    return await _page(request, who, removed=removed[:100], paused=paused[:100], resumed=resumed[:100])


@router.post("/webhooks/{service}/endpoints")
async def add(
    request: Request,
    who: Signed,
    service: str,
    url: Annotated[str, Form(max_length=2000)] = "",
    event_types: Annotated[list[str], Form(max_length=20)] = [],  # noqa: B006 - FastAPI copies a form's default
) -> Response:
    with _answered():
        added = await webhook_admin.add(portal_of(request), who, service, url, event_types)
    if added.endpoint_id is None:
        return await _page(request, who, 422, problem=added.problem, failed_service=service, url=url)
    return await _page(request, who, 201, secret=added.secret, secret_for=added.endpoint_id)


@router.post("/webhooks/{service}/endpoints/{endpoint_id}/rotate-secret")
async def rotate(request: Request, who: Signed, service: str, endpoint_id: str) -> Response:
    with _answered():
        secret = await webhook_admin.rotate(portal_of(request), who, service, endpoint_id)
    return await _page(request, who, secret=secret, secret_for=endpoint_id, rotated=True)


@router.post("/webhooks/{service}/endpoints/{endpoint_id}/remove")
async def remove(request: Request, who: Signed, service: str, endpoint_id: str) -> Response:
    with _answered():
        await webhook_admin.remove(portal_of(request), who, service, endpoint_id)
    return web.redirect(request, f"/webhooks?removed={endpoint_id}")


async def _switch(request: Request, who: Member, service: str, endpoint_id: str, active: bool) -> Response:
    with _answered():
        await webhook_admin.switch(portal_of(request), who, service, endpoint_id, active)
    return web.redirect(request, f"/webhooks?{'resumed' if active else 'paused'}={segment(endpoint_id)}")


@router.post("/webhooks/{service}/endpoints/{endpoint_id}/pause")
async def pause(request: Request, who: Signed, service: str, endpoint_id: str) -> Response:
    return await _switch(request, who, service, endpoint_id, False)


@router.post("/webhooks/{service}/endpoints/{endpoint_id}/resume")
async def resume(request: Request, who: Signed, service: str, endpoint_id: str) -> Response:
    return await _switch(request, who, service, endpoint_id, True)


@router.get("/webhooks/{service}/deliveries")
async def log(
    request: Request, who: Signed, service: str, status: str = "", after: str = "", endpoint: str = ""
) -> Response:
    with _answered():
        found = await webhook_admin.log(portal_of(request), who, service, status, after, endpoint)
    chosen = status if status in webhook_admin.DELIVERY_STATUSES else ""
    return await web.page(
        request,
        "webhook_log.html",
        log=found,
        chosen=chosen,
        after=after,
        endpoint=endpoint[:200],
        statuses=webhook_admin.DELIVERY_STATUSES,
    )


@router.get("/webhooks/{service}/deliveries/{delivery_id}")
async def delivery(request: Request, who: Signed, service: str, delivery_id: str, redelivered: str = "") -> Response:
    with _answered():
        channel, found = await webhook_admin.delivery(portal_of(request), who, service, delivery_id)
    return await web.page(
        request,
        "webhook_delivery.html",
        channel=channel,
        delivery=found,
        body=json.dumps(found["body"], indent=2, ensure_ascii=False),
        redelivered=bool(redelivered),
        statuses=webhook_admin.DELIVERY_STATUSES,
    )


@router.post("/webhooks/{service}/deliveries/{delivery_id}/redeliver")
async def redeliver(request: Request, who: Signed, service: str, delivery_id: str) -> Response:
    with _answered():
        await webhook_admin.redeliver(portal_of(request), who, service, delivery_id)
    return web.redirect(request, f"/webhooks/{service}/deliveries/{segment(delivery_id)}?redelivered=1")
