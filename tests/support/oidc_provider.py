"""A small OpenID Connect provider on 127.0.0.1 for the portal's tests: discovery, JWKS, the
authorization endpoint (code flow, PKCE S256 required) and the token endpoint (client secret
by HTTP Basic or in the body, the code once, the redirect URI and the verifier checked), with
ID tokens signed RS256 by joserfc (Authlib's JOSE library) and the S256 challenge computed by
Authlib's RFC 7636 code, over real HTTP (uvicorn in a thread).

The person who signs in at the provider is `provider.person` (no login page: the test says who
they are). `provider.faults` bends the next ID tokens the ways a bad or hostile provider would:
another audience, an issuer, a nonce, expired, signed by a key not in the JWKS (same kid); or
leaves the e-mail address to the UserInfo endpoint (which may speak of another subject)."""

from __future__ import annotations

import base64
import contextlib
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from talentloop.network import free_port

CLIENT_ID = "talentloop-portal"
CLIENT_SECRET = "s3cret-of-the-portal-client"


@dataclass
class Person:
    sub: str
    email: str
    email_verified: bool = True
    name: str = "Ada Lovelace"


@dataclass
class Grant:
    person: Person
    redirect_uri: str
    nonce: str | None
    challenge: str


@dataclass
class Provider:
    issuer: str
    redirect_uris: set[str] = field(default_factory=set)
    person: Person = field(default_factory=lambda: Person("sub-1", "someone@example.org"))
    faults: dict[str, Any] = field(default_factory=dict)  # aud, iss, nonce, expired, foreign_key
    deny: bool = False  # the person says no at the provider
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    foreign: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    codes: dict[str, Grant] = field(default_factory=dict)
    access: dict[str, Person] = field(default_factory=dict)  # access token -> whom it is for (UserInfo)
    token_requests: int = 0

    def id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.faults.get("iss", self.issuer),
            "sub": grant.person.sub,
            "aud": self.faults.get("aud", CLIENT_ID),
            "iat": now - 7200 if self.faults.get("expired") else now,
            "exp": now - 3600 if self.faults.get("expired") else now + 300,
            "nonce": self.faults.get("nonce", grant.nonce),
        }
        if not self.faults.get("email_in_userinfo"):  # else only the UserInfo endpoint tells the address
            claims |= {"email": grant.person.email, "email_verified": grant.person.email_verified}
            claims["name"] = grant.person.name
        key = self.foreign if self.faults.get("foreign_key") else self.key
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)

    # --- endpoints ---------------------------------------------------------------------------

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid", "email", "profile"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("redirect_uri") not in self.redirect_uris:
            return JSONResponse({"error": "invalid_request"}, status_code=400)  # never redirect to an unknown URI
        back = q["redirect_uri"]
        state = q.get("state")
        if self.deny:
            return RedirectResponse(f"{back}?{urlencode({'error': 'access_denied', 'state': state})}", 302)
        if (
            q.get("response_type") != "code"
            or "openid" not in q.get("scope", "").split()
            or q.get("code_challenge_method") != "S256"
            or not q.get("code_challenge")
        ):
            return RedirectResponse(f"{back}?{urlencode({'error': 'invalid_request', 'state': state})}", 302)
        code = secrets.token_urlsafe(24)
        self.codes[code] = Grant(self.person, back, q.get("nonce"), q["code_challenge"])
        return RedirectResponse(f"{back}?{urlencode({'code': code, 'state': state})}", 302)

    async def token(self, request: Request) -> Response:
        self.token_requests += 1
        form = await request.form()
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self.codes.pop(str(form.get("code", "")), None)  # once
        if (
            form.get("grant_type") != "authorization_code"
            or grant is None
            or form.get("redirect_uri") != grant.redirect_uri
            or create_s256_code_challenge(str(form.get("code_verifier", ""))) != grant.challenge
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        access_token = secrets.token_urlsafe(24)
        self.access[access_token] = grant.person
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self.id_token(grant),
            }
        )

    async def userinfo(self, request: Request) -> Response:
        person = self.access.get(request.headers.get("authorization", "").removeprefix("Bearer "))
        if person is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse(
            {
                "sub": self.faults.get("userinfo_sub", person.sub),
                "email": person.email,
                "email_verified": person.email_verified,
                "name": person.name,
            }
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/userinfo", self.userinfo),
            ]
        )


@contextlib.contextmanager
def oidc_provider() -> Iterator[Provider]:
    """The provider served on a free loopback port until the block ends."""
    port = free_port()
    provider = Provider(issuer=f"http://127.0.0.1:{port}")
    server = uvicorn.Server(uvicorn.Config(provider.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="oidc-provider", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20.0
        while not server.started:  # a condition, polled: uvicorn sets it once the socket listens
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the OIDC provider did not start")
            time.sleep(0.01)
        yield provider
    finally:
        server.should_exit = True
        thread.join(timeout=10)
