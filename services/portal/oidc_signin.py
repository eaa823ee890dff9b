"""Signing in with the OpenID Connect provider: the use cases behind pages_oidc.py and their
SQL (the `oidc_flows` and `oidc_identities` tables, migration 003).

The provider proves who someone is; the portal still decides who may come in. A verified
e-mail address (`email_verified` true) is matched to an existing account, never creates one:
people are invited as before, and an invitation accepted with the provider creates its account
without a password. The first sign-in links the account to the provider's subject; a later
one with the same address and another subject is refused. Every refusal counts in the sign-in
limit (`portal.signin_failures`) like a wrong password, and is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from plumbing.logging import get_logger
from services.portal import domain, store
from services.portal.application import Portal, RateLimited, not_held
from services.portal.oidc import Provider, ProviderError, display_name, verified_email

FLOW_LIFETIME = timedelta(minutes=10)
log = get_logger(__name__)


class OidcRefused(Exception):
    """A sign-in the portal refuses; `code` picks the page's words (templates/oidc_refused.html)."""

    def __init__(self, code: str, *, email: str = "", user: asyncpg.Record | None = None, counts: bool = True):
        super().__init__(code)
        self.code = code
        self.email = email  # the address the provider named, for the page and the limit
        self.user = user
        self.counts = counts  # a failure of the sign-in (the limit counts it), not the provider's being down


@dataclass(frozen=True)
class SignedIn:
    user_id: str
    org_id: str
    invitation_accepted: bool


async def begin(
    p: Portal,
    provider: Provider,
    session_token: str,
    redirect_uri: str,
    next_path: str,
    invitation_token: str | None,
    language: str | None,
) -> str:
    """The provider's URL to send the browser to; the flow kept for the callback."""
    invitation_hash = None
    if invitation_token is not None:
        invitation_hash = domain.token_hash(invitation_token)
        row = await store.invitation_by_token(p.pool, invitation_hash)
        if row is None or domain.invitation_state(row["accepted_at"], row["expires_at"], p.clock()) != "open":
            raise OidcRefused("invitation_invalid", counts=False)
    try:
        started = await provider.start(redirect_uri, language)
    except ProviderError:
        raise OidcRefused("unreachable", counts=False) from None
    now = p.clock()
    await p.pool.execute("DELETE FROM oidc_flows WHERE expires_at <= $1", now)  # flows nobody came back from
    await p.pool.execute(
        "INSERT INTO oidc_flows (state_sha256, session_sha256, nonce, code_verifier, next_path, invitation_sha256,"
        " expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        domain.token_hash(started.state),
        domain.token_hash(session_token),
        started.nonce,
        started.code_verifier,
        next_path,
        invitation_hash,
        now + FLOW_LIFETIME,
    )
    return started.url


@dataclass(frozen=True)
class Callback:
    """The provider's answer as the browser brought it back."""

    session_token: str | None  # the browser's session (its cookie), if any
    redirect_uri: str
    params: dict[str, str]  # the callback's query: code, state, error
    address: str  # the client's, for the sign-in limit
    language: str | None


async def complete(p: Portal, provider: Provider, back: Callback) -> tuple[SignedIn, str]:
    """The user the provider's answer signs in, and where to go after. RateLimited while the
    client's address (or, once known, the account) has failed too often; OidcRefused
    otherwise, recorded as a failed sign-in."""
    now = p.clock()
    _, here = await store.failures(p.pool, "", back.address, now - p.limit.window)
    wait = p.limit.retry_after([], here, now)  # the address first: the account is not known yet
    if wait is not None:
        raise RateLimited(wait)
    try:
        return await _complete(p, provider, back)
    except OidcRefused as refused:
        if refused.counts:
            email = refused.email.strip().lower()[:254]
            await store.record_failure(p.pool, email, back.address, p.clock())
            user = refused.user
            await store.audit(
                p.pool,
                "sign_in_failed",
                org_id=user["org_id"] if user else None,
                user_id=user["user_id"] if user else None,
                detail={"by": "oidc", "reason": refused.code},
            )
        raise


async def _complete(p: Portal, provider: Provider, back: Callback) -> tuple[SignedIn, str]:
    params, session_token = back.params, back.session_token
    flow = await p.pool.fetchrow(
        "DELETE FROM oidc_flows WHERE state_sha256 = $1 RETURNING session_sha256, nonce, code_verifier, next_path,"
        " invitation_sha256, expires_at",
        domain.token_hash(params.get("state", "")),
    )
    # The state names a flow this browser started, not long ago: anything else is someone
    # else's callback (login CSRF) or a stale tab.
    if (
        flow is None
        or session_token is None
        or not domain.same_token(flow["session_sha256"].hex(), domain.token_hash(session_token).hex())
        or flow["expires_at"] <= p.clock()
    ):
        # A refusal at the provider signs nobody in whatever its state (some providers drop the
        # state from an error): say that, rather than that the sign-in was not started here.
        raise OidcRefused("denied" if "error" in params else "state")
    if "error" in params or not params.get("code"):
        raise OidcRefused("denied")
    try:
        claims = await provider.finish(back.redirect_uri, params["code"], flow["code_verifier"], flow["nonce"])
    except ProviderError as exc:
        log.warning("portal.oidc_refused", code=exc.code, detail=exc.detail[:300])  # why, for the operator
        unreachable = exc.code == "unreachable"
        raise OidcRefused("unreachable" if unreachable else "invalid", counts=not unreachable) from None
    email = verified_email(claims)
    if email is None:
        raise OidcRefused("unverified", email=str(claims.get("email") or ""))
    await not_held(p, email.lower(), back.address)  # the account's own limit, as a password sign-in's
    issuer, subject = provider.settings.issuer, str(claims["sub"])
    if flow["invitation_sha256"] is not None:
        user_id, org_id = await _accept(p, flow["invitation_sha256"], issuer, subject, claims, email, back.language)
        return SignedIn(user_id, org_id, True), "/"
    user = await store.user_by_email(p.pool, email)
    if user is None or user["disabled_at"] is not None:
        raise OidcRefused("no_account", email=email, user=user)
    async with p.pool.acquire() as conn, conn.transaction():
        if not await _link(conn, user["user_id"], issuer, subject):
            raise OidcRefused("other_identity", email=email, user=user)
    return SignedIn(user["user_id"], user["org_id"], False), flow["next_path"]


async def _link(conn: asyncpg.Connection, user_id: str, issuer: str, subject: str) -> bool:
    """Link the user to the provider's subject, or check the link they have; False when the
    user is linked to another subject, or the subject to another user."""
    await conn.execute(
        "INSERT INTO oidc_identities (user_id, issuer, subject) VALUES ($1::uuid, $2, $3) ON CONFLICT DO NOTHING",
        user_id,
        issuer,
        subject,
    )
    linked = await conn.fetchval(
        "SELECT subject FROM oidc_identities WHERE user_id = $1::uuid AND issuer = $2", user_id, issuer
    )
    owner = await conn.fetchval(
        "SELECT user_id::text FROM oidc_identities WHERE issuer = $1 AND subject = $2", issuer, subject
    )
    return linked == subject and owner == user_id


async def _accept(
    p: Portal,
    invitation_hash: bytes,
    issuer: str,
    subject: str,
    claims: dict[str, Any],
    email: str,
    language: str | None,
) -> tuple[str, str]:
    """The invited account, created without a password and linked to the provider's subject,
    when the provider vouches for the very address invited."""
    async with p.pool.acquire() as conn, conn.transaction():
        row = await store.invitation_for_update(conn, invitation_hash)
        now = p.clock()
        if row is None or domain.invitation_state(row["accepted_at"], row["expires_at"], now) != "open":
            raise OidcRefused("invitation_invalid", email=email)
        if row["email"].lower() != email.lower():
            raise OidcRefused("invitation_other_email", email=email)
        user_id = await store.create_user(
            conn, row["org_id"], row["email"], display_name(claims, email), row["role"], None, language
        )
        if user_id is None:
            raise OidcRefused("email_taken", email=email)
        if not await _link(conn, user_id, issuer, subject):
            raise OidcRefused("other_identity", email=email)
        await store.mark_accepted(conn, row["invitation_id"], user_id, now)
        await store.audit(
            conn,
            "invitation_accepted",
            org_id=row["org_id"],
            user_id=user_id,
            target=row["invitation_id"],
            detail={"by": "oidc"},
        )
    return user_id, row["org_id"]
