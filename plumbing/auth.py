"""Bearer API keys -> principals (partner, employer or operator), with scopes.

A key reads `tl_<kind3>_<key id>_<secret>` (e.g. `tl_emp_key_4f0c…_Qm9v…`): the key id is
public and finds the key's row in PostgreSQL (plumbing/apikeys.py) without a scan; only the
SHA-256 of the secret is stored. `principal` (the FastAPI dependency every route takes)
authenticates the key and checks the scope the request needs, so routes need not:

- `webhooks` for managing webhook endpoints and reading their delivery log (any method on
  `/v1/webhooks/endpoints` and `/v1/webhooks/deliveries` and paths under them), and only for
  that: a partner's webhook submission (`POST /v1/webhooks/referrals`) submits referrals,
  so it needs `write` like every other submission path;
- `read` for GET and HEAD, `write` for any other method;
- none for a caller's own key management (`GET /v1/keys`, `POST /v1/keys/rotate`).

Routes still say which kinds of principal they serve with `require(who, *kinds)`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Literal, get_args

from fastapi import Request

from plumbing.problems import Problem

Kind = Literal["partner", "employer", "operator"]
Scope = Literal["read", "write", "webhooks"]
KINDS: tuple[Kind, ...] = get_args(Kind)
SCOPES: tuple[Scope, ...] = get_args(Scope)
ALL_SCOPES: frozenset[str] = frozenset(SCOPES)
KIND_TAGS = {kind: kind[:3] for kind in KINDS}  # partner -> par, employer -> emp, operator -> ope

_KEY = re.compile(r"^tl_(par|emp|ope)_(key_[0-9a-f]{20})_([A-Za-z0-9_-]{32,})$")
_READ_METHODS = {"GET", "HEAD", "OPTIONS"}
# A caller may list and rotate its own keys whatever scopes its key has (rotation keeps them).
_SELF_SERVICE = {("GET", "/v1/keys"), ("HEAD", "/v1/keys"), ("POST", "/v1/keys/rotate")}
# What the `webhooks` scope is for (plumbing/webhooks_api.py mounts these).
_WEBHOOK_MANAGEMENT = ("/v1/webhooks/endpoints", "/v1/webhooks/deliveries")


@dataclass(frozen=True)
class Principal:
    kind: Kind
    id: str
    scopes: frozenset[str] = field(default=ALL_SCOPES, compare=False)
    key_id: str | None = field(default=None, compare=False)  # the key it authenticated with

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class PresentedKey:
    kind_tag: str
    key_id: str
    secret: str


class InvalidKey(Exception):
    """The presented key is malformed, unknown, has the wrong secret, expired or was revoked."""


def new_key_id() -> str:
    return f"key_{secrets.token_hex(10)}"


def format_key(kind: Kind, key_id: str, secret: str) -> str:
    return f"tl_{KIND_TAGS[kind]}_{key_id}_{secret}"


def new_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits: a plain SHA-256 of it cannot be brute-forced


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_key(text: str) -> PresentedKey:
    match = _KEY.match(text)
    if match is None:
        raise InvalidKey("not a TalentLoop API key (tl_<kind>_<key id>_<secret>)")
    return PresentedKey(*match.groups())


def required_scope(method: str, path: str) -> Scope | None:
    """The scope a request needs: managing webhooks `webhooks`, reads `read`, the rest `write`."""
    path = path.rstrip("/") or "/"
    if any(path == tree or path.startswith(tree + "/") for tree in _WEBHOOK_MANAGEMENT):
        return "webhooks"
    if (method.upper(), path) in _SELF_SERVICE:
        return None
    return "read" if method.upper() in _READ_METHODS else "write"


def _unauthorized(detail: str, challenge: str) -> Problem:
    problem = Problem(401, "unauthorized", "Unauthorized", detail)
    problem.headers["WWW-Authenticate"] = challenge
    return problem


def request_path(request: Request) -> str:
    """`request.url.path` without building the URL (parsing the Host header, joining and
    splitting the whole URL again), which cost every request as much as finding its route:
    the ASGI path, escaped the way Starlette's URL escapes it."""
    return request.scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


async def principal(request: Request) -> Principal:
    """FastAPI dependency: the caller (401 without a valid key), allowed this request (else 403)."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise _unauthorized("send 'Authorization: Bearer <your API key>'", "Bearer")
    try:
        who: Principal = await request.app.state.keys.authenticate(key)
    except InvalidKey as exc:
        raise _unauthorized(str(exc), 'Bearer error="invalid_token"') from None
    needed = required_scope(request.method, request_path(request))
    if needed is not None and needed not in who.scopes:
        has = ", ".join(sorted(who.scopes)) or "none"
        problem = Problem(
            403,
            "insufficient-scope",
            "Insufficient scope",
            f"this request needs an API key with the '{needed}' scope; yours has: {has}",
            required_scope=needed,
        )
        problem.headers["WWW-Authenticate"] = f'Bearer error="insufficient_scope", scope="{needed}"'
        raise problem
    return who


def require(who: Principal, *kinds: Kind) -> None:
    if who.kind not in kinds:
        raise Problem(403, "forbidden", "Forbidden", f"this route is for {' or '.join(kinds)} credentials")
