"""The OpenID Connect relying party: discovery, the authorization request (code flow, PKCE
S256, state, nonce), the code exchange and the ID token's verification (docs/portals.md,
"Signing in with an OpenID Connect provider").

Nothing of the protocol is written here by hand: Authlib's httpx client builds the
authorization URL (with the S256 challenge) and makes the token request (with the client's
authentication the provider offers); joserfc, Authlib's JOSE library, checks the ID token's
signature against the provider's JWKS and its claims (iss, aud, exp, iat, nonce). This module
only wires them to the provider's discovery document and says which failures mean what.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.integrations.base_client import OAuthError
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from services.portal.config import PortalSettings

with warnings.catch_warnings():
    # Authlib 1.9 prefers the `httpx2` package and warns when it falls back to httpx, which is
    # the project's HTTP client (0.28, locked); the fallback is what is tested here.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

CALLBACK_PATH = "/sign-in/oidc/callback"
METADATA_TTL_S = 3600.0  # discovery and keys are read again after an hour (and keys on an unknown kid)
LEEWAY_S = 60  # clock skew allowed on exp and iat
# Asymmetric signatures only: never "none", never HS* (the client secret is no signing key here).
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


class ProviderError(Exception):
    """The provider could not be asked, or answered what the protocol does not allow.
    `code`: `unreachable` (network, 5xx, a bad discovery document), `refused` (the provider
    said no: an error on the callback or the token endpoint), `invalid_token` (the ID token
    failed a check: signature, issuer, audience, expiry, nonce)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ProviderSettings:
    issuer: str
    client_id: str
    client_secret: str | None
    scopes: str
    name: str
    passwords: bool

    @classmethod
    def of(cls, portal: PortalSettings) -> ProviderSettings | None:
        """The provider the settings name, None when there is none; a half-configured one is
        refused at start (an operator would rather know then than at someone's sign-in)."""
        if not portal.oidc_issuer:
            if not portal.oidc_passwords:
                raise ValueError("TALENTLOOP_PORTAL_OIDC_PASSWORDS=false needs TALENTLOOP_PORTAL_OIDC_ISSUER")
            return None
        issuer = portal.oidc_issuer  # exactly as the provider writes it (Auth0's ends with a slash)
        if not portal.oidc_client_id:
            raise ValueError("TALENTLOOP_PORTAL_OIDC_ISSUER needs TALENTLOOP_PORTAL_OIDC_CLIENT_ID")
        if "openid" not in portal.oidc_scopes.split():
            raise ValueError("TALENTLOOP_PORTAL_OIDC_SCOPES must include openid")
        secure_url(issuer, "issuer")
        secret = portal.oidc_client_secret.get_secret_value() if portal.oidc_client_secret else None
        name = portal.oidc_name or urlsplit(issuer).hostname or issuer
        return cls(issuer, portal.oidc_client_id, secret or None, portal.oidc_scopes, name, portal.oidc_passwords)


def secure_url(url: str, what: str) -> str:
    """https, or http to this machine (a provider on loopback, as in the tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1", "localhost"):
        return url
    raise ValueError(f"the provider's {what} must be an https URL: {url!r}")


@dataclass(frozen=True)
class Started:
    """An authorization request: where to send the browser, and what the callback will need."""

    url: str  # where to send the browser
    state: str
    nonce: str
    code_verifier: str


class Provider:
    """One OpenID Connect provider. `http` reads discovery and keys; `clock` (seconds) judges
    the ID token's times."""

    def __init__(self, settings: ProviderSettings, http: httpx.AsyncClient, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.http = http
        self.clock = clock
        self._metadata: tuple[float, dict[str, Any]] | None = None
        self._keys: tuple[float, KeySet] | None = None

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            answer = await self.http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise ProviderError("unreachable", f"{url}: {exc!r}") from None
        if answer.status_code != 200:
            raise ProviderError("unreachable", f"{url}: HTTP {answer.status_code}")
        try:
            doc = answer.json()
        except ValueError:
            raise ProviderError("unreachable", f"{url}: not JSON") from None
        if not isinstance(doc, dict):
            raise ProviderError("unreachable", f"{url}: not a JSON object")
        return doc

    async def metadata(self) -> dict[str, Any]:
        """The discovery document (`/.well-known/openid-configuration`), checked: its issuer is
        exactly the configured one (OpenID Connect Discovery 4.3) and its endpoints are https."""
        now = time.monotonic()
        if self._metadata is not None and now - self._metadata[0] < METADATA_TTL_S:
            return self._metadata[1]
        doc = await self._get_json(f"{self.settings.issuer.rstrip('/')}/.well-known/openid-configuration")
        if doc.get("issuer") != self.settings.issuer:
            raise ProviderError("unreachable", f"discovery names issuer {doc.get('issuer')!r}")
        try:
            for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                secure_url(str(doc[endpoint]), endpoint)
        except (KeyError, ValueError) as exc:
            raise ProviderError("unreachable", f"discovery: {exc}") from None
        self._metadata = (now, doc)
        return doc

    async def keys(self, refresh: bool = False) -> KeySet:
        now = time.monotonic()
        if not refresh and self._keys is not None and now - self._keys[0] < METADATA_TTL_S:
            return self._keys[1]
        doc = await self._get_json((await self.metadata())["jwks_uri"])
        try:
            keys = KeySet.import_key_set(doc)  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise ProviderError("unreachable", f"jwks: {exc!r}") from None
        self._keys = (now, keys)
        return keys

    async def _client(self, redirect_uri: str) -> AsyncOAuth2Client:
        meta = await self.metadata()
        secret = self.settings.client_secret
        offered = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if secret is None:
            method = "none"
        elif "client_secret_basic" in offered or "client_secret_post" not in offered:
            method = "client_secret_basic"
        else:
            method = "client_secret_post"
        return AsyncOAuth2Client(
            client_id=self.settings.client_id,
            client_secret=secret,
            token_endpoint_auth_method=method,
            scope=self.settings.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=httpx.Timeout(15.0),
            follow_redirects=False,
        )

    async def start(self, redirect_uri: str, language: str | None = None) -> Started:
        """A new authorization request: fresh state, nonce and PKCE verifier (Authlib's
        generator: 48 and 64 random characters), the URL with the S256 challenge."""
        meta = await self.metadata()
        state, nonce, verifier = generate_token(48), generate_token(48), generate_token(64)
        extra = {"ui_locales": language} if language else {}
        async with await self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                meta["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce, **extra
            )
        return Started(url, state, nonce, verifier)

    async def finish(self, redirect_uri: str, code: str, code_verifier: str, nonce: str) -> dict[str, Any]:
        """The code exchanged (with the PKCE verifier) and the ID token's claims, verified; when
        the ID token names no e-mail address, the UserInfo endpoint's (OIDC Core 5.3), taken only
        for the same subject."""
        meta = await self.metadata()
        try:
            async with await self._client(redirect_uri) as client:
                token = await client.fetch_token(
                    meta["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                    redirect_uri=redirect_uri,
                )
                id_token = token.get("id_token")
                if not isinstance(id_token, str):
                    raise ProviderError("refused", "the token endpoint gave no ID token")
                claims = await self.verify(id_token, nonce)
                if "email" not in claims and meta.get("userinfo_endpoint"):
                    claims.update(await self._userinfo(client, str(meta["userinfo_endpoint"]), claims["sub"]))
        except OAuthError as exc:
            raise ProviderError("refused", f"token endpoint: {exc.error}") from None
        except (httpx.HTTPError, ValueError) as exc:  # ValueError: an answer that is not JSON (a 5xx page)
            raise ProviderError("unreachable", f"token endpoint: {exc!r}") from None
        return claims

    @staticmethod
    async def _userinfo(client: AsyncOAuth2Client, url: str, subject: str) -> dict[str, Any]:
        """The person's e-mail and names from the UserInfo endpoint (the client sends the access
        token it was just given); nothing when it speaks of another subject, or not in JSON."""
        secure_url(url, "userinfo_endpoint")
        answer = await client.get(url, headers={"Accept": "application/json"})
        if answer.status_code != 200 or not answer.headers.get("content-type", "").startswith("application/json"):
            return {}
        info = answer.json()
        if not isinstance(info, dict) or info.get("sub") != subject:
            return {}
        return {k: info[k] for k in ("email", "email_verified", "name", "given_name", "family_name") if k in info}

    async def verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims once its signature (the provider's JWKS; a kid not there reads
        the keys again once: the provider rotated them) and claims hold (OIDC Core 3.1.3.7)."""
        meta = await self.metadata()
        offered = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in SIGNING_ALGORITHMS if a in offered]
        try:
            try:
                token = jwt.decode(id_token, await self.keys(), algorithms=algorithms)
            except InvalidKeyIdError:
                token = jwt.decode(id_token, await self.keys(refresh=True), algorithms=algorithms)
        except JoseError as exc:
            raise ProviderError("invalid_token", f"signature: {exc.error}") from None
        except ValueError as exc:  # not a JWS at all
            raise ProviderError("invalid_token", f"malformed: {exc}") from None
        claims = dict(token.claims)
        registry = JWTClaimsRegistry(
            now=lambda: int(self.clock()),
            leeway=LEEWAY_S,
            iss={"essential": True, "value": self.settings.issuer},
            aud={"essential": True, "value": self.settings.client_id},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise ProviderError("invalid_token", "expired") from None
        except JoseError as exc:
            raise ProviderError("invalid_token", f"claim: {exc.description or exc.error}") from None
        audience = claims["aud"]
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != self.settings.client_id:
            raise ProviderError("invalid_token", "claim: azp")  # several audiences: we must be the party it was for
        if claims["iat"] > self.clock() + LEEWAY_S:
            raise ProviderError("invalid_token", "claim: iat in the future")
        return claims


def verified_email(claims: dict[str, Any]) -> str | None:
    """The e-mail address the provider vouches for (`email` with `email_verified` true), else None."""
    email = claims.get("email")
    if not isinstance(email, str) or not email.strip() or claims.get("email_verified") not in (True, "true"):
        return None
    return email.strip()


def display_name(claims: dict[str, Any], email: str) -> str:
    """The name to show for a new account: the provider's `name`, its given and family names,
    else the e-mail address's local part."""
    for value in (claims.get("name"), f"{claims.get('given_name') or ''} {claims.get('family_name') or ''}"):
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())[:200]
    return email.split("@", 1)[0][:200]


def sign_in_choices(provider: Provider | None) -> dict[str, Any]:
    """What the sign-in and invitation pages offer: the provider's button (`oidc_name`), and
    the password form unless the provider is the only way in."""
    if provider is None:
        return {"oidc_name": None, "passwords": True}
    return {"oidc_name": provider.settings.name, "passwords": provider.settings.passwords}


def provider_of(portal: PortalSettings) -> Provider | None:
    """The configured provider (its own HTTP client for discovery and keys), or None."""
    settings = ProviderSettings.of(portal)
    if settings is None:
        return None
    return Provider(settings, httpx.AsyncClient(timeout=httpx.Timeout(15.0), follow_redirects=False))
