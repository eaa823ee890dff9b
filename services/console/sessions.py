"""Who is looking: an operator key (Bearer) or a browser session made from one at /login.

A session is a random token in an HttpOnly, SameSite=Strict cookie; the key it was made
from stays in this process's memory (to call outcomes on the operator's behalf) and is
authenticated again on every request, so a revoked or expired key ends its sessions too
(within TALENTLOOP_KEY_CACHE_S).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request

from plumbing.auth import InvalidKey, Principal, require, required_scope
from plumbing.problems import Problem

COOKIE = "talentloop_console"
LIFETIME_S = 8 * 3600


@dataclass
class Session:
    key: str
    expires: float


@dataclass(frozen=True)
class Operator:
    principal: Principal
    key: str  # the operator's own key: the console calls the services with it


class Sessions:
    def __init__(self) -> None:
        self._by_token: dict[str, Session] = {}

    def create(self, key: str) -> str:
        now = time.monotonic()
        self._by_token = {t: s for t, s in self._by_token.items() if s.expires > now}
        token = secrets.token_urlsafe(32)
        self._by_token[token] = Session(key, now + LIFETIME_S)
        return token

    def get(self, token: str | None) -> Session | None:
        session = self._by_token.get(token or "")
        if session is None or session.expires <= time.monotonic():
            return None
        return session

    def drop(self, token: str | None) -> None:
        self._by_token.pop(token or "", None)


async def authenticate_operator(request: Request, key: str) -> Principal:
    """The operator this key belongs to; InvalidKey for any other key."""
    who: Principal = await request.app.state.keys.authenticate(key)
    if who.kind != "operator":
        raise InvalidKey("the console is for operator keys")
    return who


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


async def operator(request: Request) -> Operator | None:
    """The operator behind this request (Bearer key or session cookie), or None if there is none."""
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and bearer.strip():
        key = bearer.strip()
    else:
        session = request.app.state.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            return None
        if request.method not in ("GET", "HEAD") and not _same_origin(request):
            return None  # SameSite=Strict already keeps the cookie off cross-site requests; belt and braces
        key = session.key
    try:
        who: Principal = await request.app.state.keys.authenticate(key)
    except InvalidKey:
        return None
    # A valid key of another kind is known, not anonymous: 403, as every service answers a
    # route that serves other kinds (docs/api-keys.md), not the 401 that asks for a key.
    require(who, "operator")
    needed = required_scope(request.method, request.url.path)
    if needed is not None and needed not in who.scopes:
        raise Problem(403, "insufficient-scope", "Insufficient scope", f"this needs the '{needed}' scope",
                      required_scope=needed)
    return Operator(who, key)


async def require_operator(request: Request) -> Operator:
    """FastAPI dependency for /api: 401 without an operator key or session."""
    found = await operator(request)
    if found is None:
        problem = Problem(401, "unauthorized", "Unauthorized",
                          "send 'Authorization: Bearer <operator API key>' or log in at /login")
        problem.headers["WWW-Authenticate"] = "Bearer"
        raise problem
    return found
