"""The pages of signing in with the OpenID Connect provider (services/portal/oidc.py,
oidc_signin.py): the button's link, which sends the browser to the provider, and the callback
the provider sends it back to.

The button is a link (a GET), not a form: browsers apply the Content Security Policy's
`form-action 'self'` to a form's redirects too, so a form could not lead to the provider. The
GET changes no account; it keeps a pending flow bound to this browser's session, which only
that session can finish (the state), so it needs no CSRF token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.portal import oidc_signin, web
from services.portal.application import Portal, RateLimited
from services.portal.mail_pages import base_url
from services.portal.oidc import CALLBACK_PATH, Provider
from services.portal.oidc_signin import OidcRefused
from services.portal.pages_account import local_path

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.verify_csrf)])

STATUS = {
    "state": 400,
    "denied": 400,
    "invalid": 400,
    "unreachable": 503,
    "invitation_invalid": 404,
}  # the rest (the account's own answers) 403


def _provider(request: Request) -> Provider:
    provider: Provider | None = request.app.state.oidc
    if provider is None:
        raise web.PageError(404, "not_found")  # no provider configured: nothing here
    return provider


def _portal(request: Request) -> Portal:
    return request.app.state.portal_app


def _redirect_uri(request: Request) -> str:
    return base_url(request).rstrip("/") + CALLBACK_PATH


async def _refused(request: Request, refused: OidcRefused) -> Response:
    status = STATUS.get(refused.code, 403)
    response = await web.page(request, "oidc_refused.html", status=status, reason=refused.code, email=refused.email)
    if status == 503:
        response.headers["Retry-After"] = "30"
    return response


@router.get("/sign-in/oidc")
async def start(
    request: Request,
    next: str = "/",
    invitation: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    provider = _provider(request)
    session = await web.visitor(request)
    try:
        url = await oidc_signin.begin(
            _portal(request),
            provider,
            session.token,
            _redirect_uri(request),
            local_path(next),
            invitation,
            session.language,
        )
    except OidcRefused as refused:
        return await _refused(request, refused)
    return web.redirect(request, url)


@router.get(CALLBACK_PATH)
async def callback(request: Request) -> Response:
    provider = _provider(request)
    params = {k: v[:2000] for k, v in request.query_params.items() if k in ("code", "state", "error")}
    session = await web.load(request)
    address = request.client.host if request.client else "unknown"
    try:
        back = oidc_signin.Callback(
            session.token if session else None,
            _redirect_uri(request),
            params,
            address,
            session.language if session else None,
        )
        signed, next_path = await oidc_signin.complete(_portal(request), provider, back)
    except RateLimited as limited:
        seconds = max(1, int(limited.retry_after.total_seconds()))
        response = await web.page(
            request, "oidc_refused.html", status=429, reason="rate_limited", minutes=max(1, round(seconds / 60))
        )
        response.headers["Retry-After"] = str(seconds)
        return response
    except OidcRefused as refused:
        return await _refused(request, refused)
    await web.sign_in_as(request, signed.user_id, signed.org_id, "oidc")  # as every other way in
    return web.redirect(request, local_path(next_path))
