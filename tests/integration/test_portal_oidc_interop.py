"""The portal's OpenID Connect sign-in against a provider it was not written with:
oidc-provider-mock (PyPI; Flask and Authlib's server side) on 127.0.0.1, whose discovery, keys,
ID tokens (RS256) and client authentication are its own. The checks of each failure are in
test_portal_oidc.py, against a provider the tests can bend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from oidc_provider_mock import User, run_server_in_thread

from tests.support.portal import Browser, fresh_schema, member, running_portal

# The mock uses Authlib's older provider API, which Authlib warns about on every token it issues.
pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")]
PORTAL = "http://portal"


@pytest.fixture(scope="module")
def mock_provider() -> Iterator[tuple[str, list[User]]]:
    users = [
        User(sub="iota-admin", claims={"email": "admin@iota-org.example.org", "email_verified": True}),
        User(sub="iota-unverified", claims={"email": "staff@iota-org.example.org", "email_verified": False}),
    ]
    with run_server_in_thread(user_claims=users, require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}", users


async def through_provider(browser: Browser, sub: str, action: str = "allow") -> httpx.Response:
    """The button, the provider's own authorization form answered as `sub`, and the callback."""
    started = await browser.http.get("/sign-in/oidc")
    assert started.status_code == 303, started.text[:300]
    async with httpx.AsyncClient(follow_redirects=False) as person:
        answer = await person.post(started.headers["location"], data={"sub": sub, "action": action})
    assert answer.status_code == 302, answer.text[:300]
    back = answer.headers["location"]
    assert back.startswith(f"{PORTAL}/sign-in/oidc/callback?"), back
    return await browser.http.get(back.removeprefix(PORTAL))


async def test_a_sign_in_with_an_independent_provider(stack, mock_provider) -> None:  # type: ignore[no-untyped-def]
    issuer, _ = mock_provider
    settings: dict[str, Any] = {
        "TALENTLOOP_PORTAL_URL": PORTAL,
        "TALENTLOOP_PORTAL_OIDC_ISSUER": issuer,
        "TALENTLOOP_PORTAL_OIDC_CLIENT_ID": "talentloop-portal",
        "TALENTLOOP_PORTAL_OIDC_CLIENT_SECRET": "any secret: the mock takes unregistered clients",
    }
    async with (
        fresh_schema(stack.database_url) as schema,
        running_portal(stack.database_url, schema, **settings) as app,
    ):
        admin = await member(app.state.pool, "partner", "iota-org", "admin", email="admin@iota-org.example.org")
        await member(app.state.pool, "partner", "iota-org", "staff", email="staff@iota-org.example.org")
        async with Browser(app) as browser:
            planted = browser.session_cookie or (await browser.http.get("/sign-in")).cookies.get("talentloop_portal")
            unverified = await through_provider(browser, "iota-unverified")
            assert unverified.status_code == 403 and 'data-reason="unverified"' in unverified.text
            denied = await through_provider(browser, "iota-admin", action="deny")
            assert denied.status_code == 400 and 'data-reason="denied"' in denied.text
            signed = await through_provider(browser, "iota-admin")
            assert signed.status_code == 303 and signed.headers["location"] == "/"
            assert browser.session_cookie not in (None, planted)
            assert (await browser.http.get("/team")).status_code == 200
        subject = await app.state.pool.fetchval(
            "SELECT subject FROM oidc_identities WHERE user_id = $1::uuid", admin["user_id"]
        )
        assert subject == "iota-admin"
        rows = await app.state.pool.fetch("SELECT action, detail FROM audit ORDER BY audit_id")
        assert [(r["action"], json.loads(r["detail"]).get("reason")) for r in rows] == [
            ("sign_in_failed", "unverified"),
            ("sign_in_failed", "denied"),
            ("signed_in", None),
        ]
