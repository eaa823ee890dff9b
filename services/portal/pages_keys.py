"""API keys for an organisation's machines, managed by its admins (docs/portals.md, "API keys"):
the list (never a secret), a new key shown once, rotating one (its successor shown once),
revoking one. Staff and read-only users get
403; another organisation's key id answers 404, as a missing one does."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from services.portal import i18n, key_admin, web
from services.portal.application import Refused
from services.portal.domain import Member
from services.portal.messages import CODES
from services.portal.pages_account import Signed, portal_of

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.verify_csrf)])


async def _page(request: Request, who: Member, status: int = 200, **context: Any) -> Response:
    p = portal_of(request)
    try:
        owner, keys = await key_admin.keys(p, who)
    except Refused:
        raise web.PageError(403, "not_allowed") from None
    now = p.clock()
    return await web.page(
        request,
        "keys.html",
        status=status,
        keys=[{**k.public(now), "prefix": owner.prefix(k.key_id)} for k in keys],
        portal_key_id=owner.portal_key_id,
        scopes=key_admin.SCOPES,
        key_statuses=key_admin.KEY_STATUSES,
        expiries=key_admin.EXPIRIES,
        graces=key_admin.GRACES,
        now=now,
        **context,
    )


async def _refused(request: Request, code: str) -> str:
    _ = i18n.gettext_for((await web.visitor(request)).language)
    return _(key_admin.MESSAGES.get(code) or CODES[code])


@router.get("/keys")
async def keys(request: Request, who: Signed, revoked: str = "") -> Response:
    return await _page(request, who, revoked=revoked[:64])


@router.post("/keys")
async def issue(
    request: Request,
    who: Signed,
    label: Annotated[str, Form(max_length=1000)] = "",
    scopes: Annotated[list[str], Form(max_length=3)] = [],  # noqa: B006 - FastAPI copies a form's default
    expires_in_days: Annotated[int, Form(ge=0, le=3650)] = 0,
) -> Response:
    try:
        issued = await key_admin.issue(portal_of(request), who, label, scopes, expires_in_days)
    except Refused as refused:
        if refused.code == "not_allowed":
            raise web.PageError(403, "not_allowed") from None
        return await _page(request, who, 422, error=await _refused(request, refused.code), label=label[:200])
    return await _page(request, who, 201, new_key=issued.key, new_key_id=issued.info.key_id)


@router.post("/keys/{key_id}/rotate")
async def rotate(
    request: Request, who: Signed, key_id: str, grace_hours: Annotated[int, Form(ge=-1, le=10_000)] = -1
) -> Response:
    try:
        new, old = await key_admin.rotate(portal_of(request), who, key_id[:100], grace_hours)
    except key_admin.NotOurs:
        raise web.PageError(404, "not_found") from None
    except Refused as refused:
        if refused.code == "not_allowed":
            raise web.PageError(403, "not_allowed") from None
        status = 422 if refused.code == "bad_grace" else 409
        return await _page(request, who, status, error=await _refused(request, refused.code))
    return await _page(
        request, who, 201, new_key=new.key, new_key_id=new.info.key_id, rotated=old.key_id, old_ends=old.expires_at
    )


@router.post("/keys/{key_id}/revoke")
async def revoke(request: Request, who: Signed, key_id: str) -> Response:
    try:
        await key_admin.revoke(portal_of(request), who, key_id[:100])
    except key_admin.NotOurs:
        raise web.PageError(404, "not_found") from None
    except Refused as refused:
        if refused.code == "not_allowed":
            raise web.PageError(403, "not_allowed") from None
        return await _page(request, who, 409, error=await _refused(request, refused.code))
    return web.redirect(request, f"/keys?revoked={key_id}")
