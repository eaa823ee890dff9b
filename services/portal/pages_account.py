"""Signing in and out, the language, invitations, a team's people and the operators'
organisations: the pages every organisation shares."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from services.portal import application, domain, i18n, mail_links, oidc, store, web
from services.portal.application import Portal, RateLimited, Refused
from services.portal.domain import Member
from services.portal.messages import CODES, ORG_KINDS, ROLES

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.verify_csrf)])
Signed = Annotated[Member, Depends(web.member_of)]


def portal_of(request: Request) -> Portal:
    return request.app.state.portal_app


def local_path(value: str | None) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


async def _message(request: Request, code: str, **values: object) -> str:
    session = await web.visitor(request)
    return i18n.gettext_for(session.language)(CODES[code], **values)


@router.get("/")
async def home(request: Request, who: Signed) -> Response:
    if who.org_kind == "service_provider":  # it may refer too, but its own work is the requests addressed to it
        return web.redirect(request, "/provider/requests")
    if who.refers:
        return web.redirect(request, "/referrals")
    if who.may_manage_organisations:
        return web.redirect(request, "/organisations")
    if who.is_operator:  # the operators' staff and read-only users: the network's health first
        return web.redirect(request, "/operators/health")
    if who.org_kind == "employer":
        return web.redirect(request, "/routed")
    return await web.page(request, "home.html", roles=ROLES)


def passwords_on(request: Request) -> bool:
    """False when the OpenID Connect provider is the only way in (TALENTLOOP_PORTAL_OIDC_PASSWORDS)."""
    return bool(oidc.sign_in_choices(request.app.state.oidc)["passwords"])


def links_by_mail(request: Request) -> bool:
    """Whether the e-mailed sign-in and new-password links exist: with SMTP settings, and not
    while the provider is the only way in (a link is no password, but it is a way in the
    provider does not govern: docs/portals.md, "Links by e-mail")."""
    return bool(request.app.state.mailer.configured) and passwords_on(request)


async def _sign_in_page(
    request: Request, next: str, status: int = 200, email: str = "", error: str | None = None
) -> Response:
    return await web.page(
        request,
        "sign_in.html",
        status=status,
        next=local_path(next),
        email=email,
        error=error,
        mail=links_by_mail(request),
        **oidc.sign_in_choices(request.app.state.oidc),
    )


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str = "/") -> Response:
    return await _sign_in_page(request, next)


def _passwords(request: Request) -> None:
    """With the OpenID Connect provider as the only way in, no password is taken."""
    if not passwords_on(request):
        raise web.PageError(404, "not_found")


@router.post("/sign-in")
async def sign_in(
    request: Request,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    _passwords(request)
    p = portal_of(request)
    address = request.client.host if request.client else "unknown"
    try:
        user = await application.sign_in(p, email, password, address)
    except RateLimited as limited:
        minutes = max(1, round(limited.retry_after.total_seconds() / 60))
        error = await _message(request, "rate_limited", minutes=minutes)
        response = await _sign_in_page(request, next, 429, email, error)
        response.headers["Retry-After"] = str(max(1, int(limited.retry_after.total_seconds())))
        return response
    if user is None:  # the links by e-mail offered here too: a forgotten password is why, often
        return await _sign_in_page(request, next, 401, email, await _message(request, "bad_credentials"))
    await web.sign_in_as(request, user["user_id"], user["org_id"])
    return web.redirect(request, local_path(next))


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    session = await web.load(request)
    if session is not None and session.member is not None:
        await store.audit(
            portal_of(request).pool, "signed_out", org_id=session.member.org_id, user_id=session.member.user_id
        )
    await web.end(request)
    return web.redirect(request, "/sign-in")


@router.post("/language")
async def choose_language(
    request: Request, language: Annotated[str, Form()], next: Annotated[str, Form()] = "/"
) -> Response:
    if language not in domain.LANGUAGES:
        raise web.PageError(422, "bad_kind")
    session = await web.visitor(request)
    pool = portal_of(request).pool
    await store.set_session_language(pool, domain.token_hash(session.token), language)
    if session.member is not None:
        await store.set_user_language(pool, session.member.user_id, language)
    return web.redirect(request, local_path(next))


# --- invitations -------------------------------------------------------------------------------


@router.get("/invitations/{token}")
async def invitation_form(request: Request, token: str) -> Response:
    try:
        invitation = await application.open_invitation(portal_of(request), token)
    except Refused as refused:
        raise web.PageError(404, refused.code) from None
    return await web.page(
        request,
        "invitation.html",
        invitation=invitation,
        token=token,
        roles=ROLES,
        display_name="",
        error=None,
        **oidc.sign_in_choices(request.app.state.oidc),
    )


@router.post("/invitations/{token}")
async def accept_invitation(
    request: Request,
    token: str,
    display_name: Annotated[str, Form(max_length=400)],
    password: Annotated[str, Form(max_length=1024)],
    password_again: Annotated[str, Form(max_length=1024)],
) -> Response:
    _passwords(request)
    p = portal_of(request)
    try:
        invitation = await application.open_invitation(p, token)
    except Refused as refused:
        raise web.PageError(404, refused.code) from None
    before = await web.visitor(request)
    try:
        if password != password_again:
            raise Refused("password_mismatch")
        user_id = await application.accept(p, token, display_name, password, before.language)
    except Refused as refused:
        return await web.page(
            request,
            "invitation.html",
            status=422,
            invitation=invitation,
            token=token,
            roles=ROLES,
            display_name=display_name,
            error=await _message(request, refused.code),
            **oidc.sign_in_choices(request.app.state.oidc),
        )
    await web.sign_in_as(request, user_id, invitation["org_id"])
    return web.redirect(request, "/")


def _link(request: Request, token: str) -> str:
    base = request.app.state.portal.public_url or str(request.base_url).rstrip("/")
    return f"{base.rstrip('/')}/invitations/{token}"


async def _invited(request: Request, token: str, email: str, back: str, org_id: str) -> Response:
    # Sent by e-mail when the portal has SMTP settings (services/portal/mail_links.py); the link
    # is shown only when it was not sent.
    sent = await mail_links.send_invitation(request, _link(request, token), email.strip(), org_id)
    link = None if sent else _link(request, token)
    return await web.page(request, "invited.html", link=link, sent=sent, email=email.strip(), back=back)


# --- a team: its people and invitations (organisation admins) ----------------------------------

INVITABLE = ("staff", "read_only")


async def _team(request: Request, who: Member, error: str | None = None, status: int = 200) -> Response:
    pool = portal_of(request).pool
    return await web.page(
        request,
        "team.html",
        status=status,
        people=await store.members(pool, who.org_id),
        invitations=await store.invitations(pool, who.org_id),
        roles=ROLES,
        invitable=("admin", *INVITABLE) if who.is_operator else INVITABLE,
        error=error,
        now=web.now(),
    )


@router.get("/team")
async def team(request: Request, who: Signed) -> Response:
    if not who.may_manage_users:
        raise web.PageError(403, "not_allowed")
    return await _team(request, who)


@router.post("/team/invitations")
async def invite_staff(
    request: Request,
    who: Signed,
    email: Annotated[str, Form(max_length=254)],
    role: Annotated[str, Form(max_length=20)],
) -> Response:
    try:
        token = await application.invite(portal_of(request), who, who.org_id, email, role)
    except Refused as refused:
        if refused.code == "not_allowed":
            raise web.PageError(403, "not_allowed") from None
        return await _team(request, who, await _message(request, refused.code), 422)
    return await _invited(request, token, email, "/team", who.org_id)


@router.post("/team/{user_id}/disable")
async def disable_user(request: Request, who: Signed, user_id: str) -> Response:
    if not web.is_uuid(user_id):
        raise web.PageError(404, "not_found")
    try:
        await application.disable(portal_of(request), who, user_id)
    except Refused:
        raise web.PageError(404, "not_found") from None  # another organisation's people are not there
    return web.redirect(request, "/team")


# --- organisations (the coalition's operators) -------------------------------------------------


def _operator(who: Member) -> None:
    if not who.may_manage_organisations:
        raise web.PageError(403, "not_allowed")


async def _organisations(request: Request, error: str | None = None, status: int = 200) -> Response:
    orgs = await store.orgs(portal_of(request).pool)
    return await web.page(
        request, "organisations.html", status=status, organisations=orgs, kinds=ORG_KINDS, roles=ROLES, error=error
    )


@router.get("/organisations")
async def organisations(request: Request, who: Signed) -> Response:
    _operator(who)
    return await _organisations(request)


@router.post("/organisations")
async def add_organisation(
    request: Request,
    who: Signed,
    name: Annotated[str, Form(max_length=400)],
    kind: Annotated[str, Form(max_length=40)],
    tenant_id: Annotated[str, Form(max_length=200)],
) -> Response:
    _operator(who)
    try:
        await application.create_org(portal_of(request), who, kind, tenant_id, name)
    except Refused as refused:
        return await _organisations(request, await _message(request, refused.code), 422)
    return web.redirect(request, "/organisations")


@router.post("/organisations/{org_id}/invitations")
async def invite_admin(
    request: Request,
    who: Signed,
    org_id: str,
    email: Annotated[str, Form(max_length=254)],
    role: Annotated[str, Form(max_length=20)] = "admin",
) -> Response:
    _operator(who)
    if not web.is_uuid(org_id) or await store.org(portal_of(request).pool, org_id) is None:
        raise web.PageError(404, "not_found")
    try:
        token = await application.invite(portal_of(request), who, org_id, email, role)
    except Refused as refused:
        return await _organisations(request, await _message(request, refused.code), 422)
    return await _invited(request, token, email, "/organisations", org_id)
