"""The pages of the links sent by e-mail (services/portal/mail_links.py): asking for a sign-in
link or a new password, and using the link. A link opened in a browser (or fetched by a mail
scanner) changes nothing: the page has a button, and only its POST, with the page's CSRF
token, uses the link."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from plumbing.mail import Mailer
from services.portal import mail_links, web
from services.portal.application import Portal, RateLimited, Refused
from services.portal.messages import CODES
from services.portal.pages_account import links_by_mail, local_path

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.verify_csrf)])

ASKING = {"sign-in/email": "sign_in", "password/forgot": "reset"}


def _portal(request: Request) -> Portal:
    return request.app.state.portal_app


def mailer_of(request: Request) -> Mailer:
    """The mailer, when the links exist at all (pages_account.links_by_mail): without SMTP
    settings, or with the OpenID Connect provider as the only way in, every page here is 404,
    a link sent before included."""
    if not links_by_mail(request):
        raise web.PageError(404, "not_found")
    mailer: Mailer = request.app.state.mailer
    return mailer


def base_url(request: Request) -> str:
    return request.app.state.portal.public_url or str(request.base_url)


async def _message(request: Request, code: str, **values: object) -> str:
    from services.portal import i18n

    session = await web.visitor(request)
    return i18n.gettext_for(session.language)(CODES[code], **values)


async def _ask_page(request: Request, purpose: str, status: int = 200, **context: object) -> Response:
    context.setdefault("error", None)
    context.setdefault("sent", False)
    context.setdefault("email", "")
    return await web.page(request, "mail_ask.html", status=status, purpose=purpose, **context)


@router.get("/sign-in/email")
async def ask_sign_in_link(request: Request) -> Response:
    mailer_of(request)
    return await _ask_page(request, "sign_in")


@router.get("/password/forgot")
async def ask_reset_link(request: Request) -> Response:
    mailer_of(request)
    return await _ask_page(request, "reset")


@router.post("/sign-in/email")
async def send_sign_in_link(request: Request, email: Annotated[str, Form(max_length=254)]) -> Response:
    return await _send_link(request, "sign_in", email)


@router.post("/password/forgot")
async def send_reset_link(request: Request, email: Annotated[str, Form(max_length=254)]) -> Response:
    return await _send_link(request, "reset", email)


async def _send_link(request: Request, purpose: mail_links.Purpose, email: str) -> Response:
    mailer = mailer_of(request)
    address = request.client.host if request.client else "unknown"
    session = await web.visitor(request)
    try:
        mail = await mail_links.request_link(
            _portal(request), mailer, purpose, email, address, base_url(request), session.language
        )
    except RateLimited as limited:
        minutes = max(1, round(limited.retry_after.total_seconds() / 60))
        response = await _ask_page(
            request, purpose, 429, email=email, error=await _message(request, "rate_limited_links", minutes=minutes)
        )
        response.headers["Retry-After"] = str(max(1, int(limited.retry_after.total_seconds())))
        return response
    if mail is not None:
        mail_links.send_later(request.app.state.mail_tasks, mailer, mail, f"{purpose}_link")
    # The same answer whether or not the address has an account.
    return await _ask_page(request, purpose, sent=True, email=email.strip())


@router.get("/sign-in/email/{token}")
async def sign_in_link(request: Request, token: str, next: str = "/") -> Response:
    mailer_of(request)
    if await mail_links.link_user(_portal(request).pool, "sign_in", token, _portal(request).clock()) is None:
        raise web.PageError(404, "link_invalid")
    return await web.page(request, "mail_sign_in.html", token=token, next=local_path(next))


@router.post("/sign-in/email/{token}")
async def use_sign_in_link(request: Request, token: str, next: Annotated[str, Form()] = "/") -> Response:
    mailer_of(request)
    p = _portal(request)
    try:
        user = await mail_links.sign_in_by_link(p, token)
    except Refused:
        raise web.PageError(404, "link_invalid") from None
    await web.sign_in_as(request, str(user["user_id"]), str(user["org_id"]), "email_link")
    return web.redirect(request, local_path(next))


@router.get("/password/reset/{token}")
async def reset_form(request: Request, token: str) -> Response:
    mailer_of(request)
    if await mail_links.link_user(_portal(request).pool, "reset", token, _portal(request).clock()) is None:
        raise web.PageError(404, "link_invalid")
    return await web.page(request, "mail_reset.html", token=token, error=None)


@router.post("/password/reset/{token}")
async def reset(
    request: Request,
    token: str,
    password: Annotated[str, Form(max_length=1024)],
    password_again: Annotated[str, Form(max_length=1024)],
) -> Response:
    mailer_of(request)
    p = _portal(request)
    try:
        user = await mail_links.reset_password(p, token, password, password_again)
    except Refused as refused:
        if refused.code == "link_invalid":
            raise web.PageError(404, "link_invalid") from None
        error = await _message(request, refused.code)
        return await web.page(request, "mail_reset.html", status=422, token=token, error=error)
    await web.sign_in_as(request, str(user["user_id"]), str(user["org_id"]), "password_reset")
    return web.redirect(request, "/")
