"""Browser sessions, CSRF and page rendering, shared by every page module.

A session id is a random token in the `talentloop_portal` cookie (HttpOnly, SameSite=Lax,
Secure when the request is https, which behind a proxy it is only when the proxy is trusted:
TALENTLOOP_FORWARDED_ALLOW_IPS, plumbing/service.trust_forwarded); PostgreSQL keeps its hash,
its user (none for a visitor on the sign-in form), its CSRF token and language, so a restart
logs nobody out. Signing in replaces the session with a new id (no fixation): `sign_in_as`,
the one place every way in makes its session.

Every state-changing request (anything but GET/HEAD/OPTIONS) must carry the session's CSRF
token (form field `csrf_token`, or header `X-CSRF-Token`): `verify_csrf` is a dependency of
every page router, so a route cannot forget it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.portal import domain, i18n, store
from services.portal.domain import Member

COOKIE = "talentloop_portal"
VISITOR_LIFETIME = timedelta(hours=1)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TEMPLATES = Environment(
    loader=FileSystemLoader(str(i18n.LOCALES.parent / "templates")),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
}


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class WebSession:
    token: str
    csrf: str
    language: str
    member: Member | None
    user: dict[str, Any]  # display_name, email, org_name, tenant_id: for the page, never for the services


class PageError(Exception):
    """An answer as a page: 403, 404, 429 …, in the visitor's language."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def require_referring(who: Member, write: bool = False) -> None:
    """A referring organisation's page (partners, training providers): 403 to any other, and
    to a read-only user for a form (`write`)."""
    if not who.refers or (write and not who.may_write):
        raise PageError(403, "not_allowed")


def refusal_page(code: str) -> PageError:
    """A use case's refusal (`application.Refused.code`) as the page: 403 when the rules say
    no, else 502 (a service refused the organisation's key's call)."""
    return PageError(403 if code == "not_allowed" else 502, code)


def _cookie_token(request: Request) -> str | None:
    return request.cookies.get(COOKIE) or None


async def load(request: Request) -> WebSession | None:
    """This request's session (cached on the request), or None."""
    if hasattr(request.state, "web_session"):
        return request.state.web_session
    found: WebSession | None = None
    token = _cookie_token(request)
    if token is not None:
        row = await store.session(request.app.state.pool, domain.token_hash(token), now())
        if row is not None:
            member = None
            if row["user_id"] is not None:
                member = Member(row["user_id"], row["org_id"], row["org_kind"], row["role"])
            language = domain.choose_language(
                row["language"] or row["session_language"], request.headers.get("accept-language")
            )
            user = {k: row[k] for k in ("display_name", "email", "org_name", "tenant_id")}
            found = WebSession(token, row["csrf_token"], language, member, user)
    request.state.web_session = found
    return found


async def start(request: Request, user_id: str | None, language: str | None) -> WebSession:
    """A new session (a fresh id and CSRF token); the response must carry its cookie (`respond`)."""
    token, csrf = domain.new_token(), domain.new_token()
    lifetime = VISITOR_LIFETIME if user_id is None else timedelta(hours=request.app.state.portal.session_hours)
    await store.create_session(
        request.app.state.pool, domain.token_hash(token), user_id, csrf, language, now() + lifetime
    )
    request.state.set_cookie = (token, lifetime)
    if hasattr(request.state, "web_session"):
        del request.state.web_session  # read the new one: its user comes from the database
    request.cookies[COOKIE] = token  # Starlette parses the cookies once, into this dict
    session = await load(request)
    assert session is not None
    return session


async def sign_in_as(request: Request, user_id: str, org_id: str, by: str | None = None) -> WebSession:
    """Sign the user in on this browser, however they proved who they are (a password, an
    invitation, an e-mailed link, the OpenID Connect provider): the visitor's session ended and
    a new id issued (no fixation), the language chosen before signing in kept when the user has
    none of their own, and `signed_in` audited (`detail.by` the way in, but for a password)."""
    before = await load(request)
    await end(request)
    session = await start(request, user_id, before.language if before else None)
    detail = {"by": by} if by else None
    await store.audit(request.app.state.pool, "signed_in", org_id=org_id, user_id=user_id, detail=detail)
    return session


async def visitor(request: Request) -> WebSession:
    """The request's session, or a new visitor session (for a form's CSRF token)."""
    return await load(request) or await start(request, None, None)


async def end(request: Request) -> None:
    token = _cookie_token(request)
    if token is not None:
        await store.drop_session(request.app.state.pool, domain.token_hash(token))
    request.state.clear_cookie = True


def respond(request: Request, response: Response) -> Response:
    """Put the session cookie a route set (or cleared) and the security headers on the answer."""
    pending = getattr(request.state, "set_cookie", None)
    secure = request.url.scheme == "https"
    if pending is not None:
        token, lifetime = pending
        response.set_cookie(
            COOKIE, token, max_age=int(lifetime.total_seconds()), httponly=True, samesite="lax", secure=secure, path="/"
        )
    elif getattr(request.state, "clear_cookie", False):
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=secure)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def language_of(request: Request, session: WebSession | None) -> str:
    if session is not None:
        return session.language
    return domain.choose_language(None, request.headers.get("accept-language"))


async def page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    session = await visitor(request)
    _ = i18n.gettext_for(session.language)
    html = TEMPLATES.get_template(template).render(
        _=_,
        lang=session.language,
        session=session,
        member=session.member,
        user=session.user,
        csrf_token=session.csrf,
        path=request.url.path,
        languages=domain.LANGUAGES,
        **context,
    )
    return respond(request, HTMLResponse(html, status_code=status))


def redirect(request: Request, url: str) -> Response:
    return respond(request, RedirectResponse(url, status_code=303))


async def verify_csrf(request: Request) -> None:
    """Dependency of every page router: a state-changing request carries the session's token."""
    if request.method in SAFE_METHODS:
        return
    session = await load(request)
    presented = request.headers.get("x-csrf-token")
    if presented is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get("csrf_token")
        presented = value if isinstance(value, str) else None
    if session is None or not domain.same_token(session.csrf, presented):
        raise PageError(403, "csrf")


async def member_of(request: Request) -> Member:
    """Dependency: the signed-in member, else to the sign-in page."""
    session = await load(request)
    if session is None or session.member is None:
        raise SignInFirst()
    return session.member


def is_uuid(value: str) -> bool:
    """Ids of the portal's own rows are UUIDs: anything else is not found, without a query."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class SignInFirst(Exception):
    """Not signed in: the answer is the sign-in page (then back where they were going)."""
