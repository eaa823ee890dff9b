"""Signing in to the portal with an OpenID Connect provider (docs/portals.md, "Signing in with
an OpenID Connect provider"), on real PostgreSQL against a provider on 127.0.0.1 over HTTP
(tests/support/oidc_provider.py: RS256 ID tokens, PKCE S256 checked at its token endpoint).

A good sign-in makes the session a password sign-in makes (a new id, the old one ended) and is
audited; state, nonce, expiry, audience, issuer and signature are each checked; an unverified
address, an address without an account and another subject for a linked account are refused
with a page (and counted by the sign-in limit); an invitation accepted with the provider
creates the account; the button is there only when a provider is configured."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from services.portal import application, mail_links, oidc, store, web
from services.portal.config import PortalSettings
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, Person, Provider, oidc_provider
from tests.support.portal import Browser, fresh_schema, member, running_portal

pytestmark = pytest.mark.integration
PORTAL = "http://portal"
CALLBACK = f"{PORTAL}/sign-in/oidc/callback"


@pytest.fixture(scope="module")
def idp() -> Iterator[Provider]:
    with oidc_provider() as provider:
        provider.redirect_uris.add(CALLBACK)
        yield provider


def oidc_settings(idp: Provider, **more: str) -> dict[str, str]:
    return {
        "TALENTLOOP_PORTAL_URL": PORTAL,
        "TALENTLOOP_PORTAL_OIDC_ISSUER": idp.issuer,
        "TALENTLOOP_PORTAL_OIDC_CLIENT_ID": CLIENT_ID,
        "TALENTLOOP_PORTAL_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "TALENTLOOP_PORTAL_OIDC_NAME": "Coalition SSO",
        **more,
    }


@pytest.fixture
async def portal(stack, idp):  # type: ignore[no-untyped-def]
    idp.faults.clear()
    idp.deny = False
    async with fresh_schema(stack.database_url) as schema:
        async with running_portal(stack.database_url, schema, **oidc_settings(idp)) as app:
            yield app


async def to_provider(browser: Browser, **params: str) -> str:
    """The portal's button followed: the provider's authorization URL it sends the browser to."""
    started = await browser.http.get("/sign-in/oidc", params=params)
    assert started.status_code == 303, started.text[:300]
    return started.headers["location"]


async def at_provider(url: str) -> str:
    """The person at the provider (who they are is the provider's `person`): where it sends
    the browser back to, as a path on the portal."""
    async with httpx.AsyncClient(follow_redirects=False) as person:
        answer = await person.get(url)
    assert answer.status_code == 302, answer.text[:300]
    back = answer.headers["location"]
    assert back.startswith(CALLBACK), back
    return back.removeprefix(PORTAL)


async def sign_in_with_provider(browser: Browser, **params: str) -> httpx.Response:
    return await browser.http.get(await at_provider(await to_provider(browser, **params)))


async def audit(app: Any, action: str) -> list[dict[str, Any]]:
    rows = await app.state.pool.fetch(
        "SELECT user_id::text, detail FROM audit WHERE action = $1 ORDER BY audit_id", action
    )
    return [{"user_id": r["user_id"], **json.loads(r["detail"])} for r in rows]


def reason(page: httpx.Response) -> str:
    assert 'id="error"' in page.text, page.text[:500]
    return page.text.split('data-reason="', 1)[1].split('"', 1)[0]


async def test_a_good_sign_in_is_a_new_session_audited_and_sign_out_ends_it(portal, idp) -> None:  # type: ignore[no-untyped-def]
    app = portal
    user = await member(app.state.pool, "partner", "alpha-org", "admin")
    idp.person = Person("alpha-admin-sub", user["email"].upper())  # addresses match without case
    async with Browser(app) as browser:
        page = await browser.http.get("/sign-in")
        assert 'id="oidc-sign-in"' in page.text and "Sign in with Coalition SSO" in page.text
        assert 'id="password"' in page.text  # passwords stay beside it by default
        planted = browser.session_cookie
        url = await to_provider(browser, next="/team")
        asked = parse_qs(urlsplit(url).query)
        assert url.startswith(f"{idp.issuer}/authorize?")
        assert asked["response_type"] == ["code"] and asked["client_id"] == [CLIENT_ID]
        assert asked["code_challenge_method"] == ["S256"] and len(asked["code_challenge"][0]) == 43
        assert asked["redirect_uri"] == [CALLBACK] and set(asked["scope"][0].split()) >= {"openid", "email"}
        assert len(asked["state"][0]) >= 32 and len(asked["nonce"][0]) >= 32
        done = await browser.http.get(await at_provider(url))
        assert done.status_code == 303 and done.headers["location"] == "/team"
        signed_in = browser.session_cookie
        assert signed_in not in (None, planted)  # a new id: no fixation
        assert (await browser.http.get("/team")).status_code == 200
        async with Browser(app, cookie=planted) as stale:
            assert (await stale.http.get("/team")).status_code == 303  # the visitor's session ended
        assert await app.state.pool.fetchval("SELECT count(*) FROM oidc_flows") == 0  # the flow used once
        linked = await app.state.pool.fetchrow("SELECT user_id::text, issuer, subject FROM oidc_identities")
        assert dict(linked) == {"user_id": user["user_id"], "issuer": idp.issuer, "subject": "alpha-admin-sub"}
        # The same provider account signs in again; sign-out ends the session as it does any other.
        again = await sign_in_with_provider(browser)
        assert again.status_code == 303 and again.headers["location"] == "/"
        last = browser.session_cookie
        assert (await browser.post("/sign-out", {}, "/team")).status_code == 303
    async with Browser(app, cookie=last) as after:
        assert (await after.http.get("/team")).status_code == 303
    assert await audit(app, "signed_in") == [{"user_id": user["user_id"], "by": "oidc"}] * 2
    assert [a["user_id"] for a in await audit(app, "signed_out")] == [user["user_id"]]


async def test_a_callback_this_browser_did_not_start_is_refused(portal, idp) -> None:  # type: ignore[no-untyped-def]
    app = portal
    user = await member(app.state.pool, "employer", "beta-co", "staff")
    idp.person = Person("beta-sub", user["email"])
    async with Browser(app) as browser, Browser(app) as attacker:
        back = await at_provider(await to_provider(browser))
        tokens_before = idp.token_requests
        wrong_state = back.replace("state=", "state=x", 1)
        refused = await browser.http.get(wrong_state)
        assert refused.status_code == 400 and reason(refused) == "state"
        # The right state in another browser (login CSRF: someone else's code planted on you).
        back = await at_provider(await to_provider(browser))
        planted = await attacker.http.get(back)
        assert planted.status_code == 400 and reason(planted) == "state"
        assert idp.token_requests == tokens_before  # the code was never exchanged
        assert (await attacker.http.get("/routed")).status_code == 303
        # The state is used once: the first callback spent it even though it was refused.
        assert (await browser.http.get(back)).status_code == 400
        # After ten minutes a started sign-in is gone.
        back = await at_provider(await to_provider(browser))
        await app.state.pool.execute("UPDATE oidc_flows SET expires_at = now() - interval '1 second'")
        late = await browser.http.get(back)
        assert late.status_code == 400 and reason(late) == "state"
    failed = await audit(app, "sign_in_failed")
    assert [f["reason"] for f in failed] == ["state"] * 4 and all(f["by"] == "oidc" for f in failed)
    assert await app.state.pool.fetchval("SELECT count(*) FROM signin_failures WHERE address = '127.0.0.1'") == 4


@pytest.mark.parametrize(
    "fault",
    [{"nonce": "another-nonce"}, {"expired": True}, {"aud": "another-client"}, {"foreign_key": True}, {"iss": "x"}],
    ids=["wrong-nonce", "expired", "another-audience", "bad-signature", "another-issuer"],
)
async def test_an_id_token_failing_a_check_signs_nobody_in(portal, idp, fault: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    app = portal
    user = await member(app.state.pool, "partner", "gamma-org", "staff")
    idp.person = Person("gamma-sub", user["email"])
    idp.faults.update(fault)
    async with Browser(app) as browser:
        refused = await sign_in_with_provider(browser)
        assert refused.status_code == 400 and reason(refused) == "invalid"
        assert (await browser.http.get("/referrals")).status_code == 303  # not signed in
    assert await audit(app, "signed_in") == []
    assert await app.state.pool.fetchval("SELECT count(*) FROM oidc_identities") == 0
    assert [f["reason"] for f in await audit(app, "sign_in_failed")] == ["invalid"]


async def test_an_address_the_provider_does_not_vouch_for_or_without_an_account_is_a_page(portal, idp) -> None:  # type: ignore[no-untyped-def]
    app = portal
    user = await member(app.state.pool, "partner", "delta-org", "staff")
    async with Browser(app) as browser:
        idp.person = Person("delta-sub", user["email"], email_verified=False)
        unverified = await sign_in_with_provider(browser)
        assert unverified.status_code == 403 and reason(unverified) == "unverified"
        assert "has not verified your e-mail address" in unverified.text
        idp.person = Person("nobody-sub", "nobody@elsewhere.example.org")
        unknown = await sign_in_with_provider(browser)
        assert unknown.status_code == 403 and reason(unknown) == "no_account"
        assert "nobody@elsewhere.example.org" in unknown.text and "can invite you" in unknown.text
        # The account is linked to the first provider account that signs in to it.
        idp.person = Person("delta-sub", user["email"])
        assert (await sign_in_with_provider(browser)).status_code == 303
    async with Browser(app) as other:
        idp.person = Person("someone-else-sub", user["email"])  # the address reassigned at the provider
        taken = await sign_in_with_provider(other)
        assert taken.status_code == 403 and reason(taken) == "other_identity"
        assert (await other.http.get("/referrals")).status_code == 303
        # The person says no at the provider.
        idp.deny = True
        denied = await sign_in_with_provider(other)
        assert denied.status_code == 400 and reason(denied) == "denied"
    failed = await audit(app, "sign_in_failed")
    assert [f["reason"] for f in failed] == ["unverified", "no_account", "other_identity", "denied"]
    assert failed[2]["user_id"] == user["user_id"]
    counted = await app.state.pool.fetch("SELECT email FROM signin_failures ORDER BY failure_id")
    assert [r["email"] for r in counted] == [user["email"], "nobody@elsewhere.example.org", user["email"], ""]
    # An account whose access was taken away is no account to sign in to, with the provider too.
    await store.disable_user(app.state.pool, user["user_id"], web.now())
    idp.deny = False
    idp.person = Person("delta-sub", user["email"])
    async with Browser(app) as browser:
        gone = await sign_in_with_provider(browser)
        assert gone.status_code == 403 and reason(gone) == "no_account"


async def test_the_button_and_the_refusals_speak_spanish(portal, idp) -> None:  # type: ignore[no-untyped-def]
    app = portal
    async with Browser(app) as browser:
        await browser.post("/language", {"language": "es", "next": "/sign-in"}, "/sign-in")
        page = await browser.http.get("/sign-in")
        assert "Iniciar sesión con Coalition SSO" in page.text and "O con su dirección de correo" in page.text
        idp.person = Person("kappa-sub", "nadie@kappa-org.example.org")
        unknown = await sign_in_with_provider(browser)
        assert unknown.status_code == 403 and reason(unknown) == "no_account"
        assert "Ninguna cuenta del portal tiene la dirección nadie@kappa-org.example.org" in unknown.text
        assert "No se pudo iniciar la sesión" in unknown.text
        # The provider is asked to speak the page's language too.
        assert parse_qs(urlsplit(await to_provider(browser)).query)["ui_locales"] == ["es"]


async def test_an_address_only_the_userinfo_endpoint_gives_is_taken_for_the_same_subject(portal, idp) -> None:  # type: ignore[no-untyped-def]
    app = portal
    user = await member(app.state.pool, "partner", "theta-org", "staff")
    idp.person = Person("theta-sub", user["email"])
    idp.faults.update({"email_in_userinfo": True, "userinfo_sub": "someone-else"})
    async with Browser(app) as browser:
        other = await sign_in_with_provider(browser)
        assert other.status_code == 403 and reason(other) == "unverified"  # another subject's address: none
        del idp.faults["userinfo_sub"]
        signed = await sign_in_with_provider(browser)
        assert signed.status_code == 303 and (await browser.http.get("/team")).status_code == 403  # signed in, staff
    assert await audit(app, "signed_in") == [{"user_id": user["user_id"], "by": "oidc"}]


async def test_an_invitation_accepted_with_the_provider_creates_the_linked_account(portal, idp) -> None:  # type: ignore[no-untyped-def]
    app = portal
    p = app.state.portal_app
    admin = await member(app.state.pool, "training_provider", "epsilon-college", "admin")
    token = await application.invite(p, None, admin["org_id"], "New.Person@epsilon-college.example.org", "staff")
    async with Browser(app) as browser:
        page = await browser.http.get(f"/invitations/{token}")
        assert 'id="oidc-accept"' in page.text and "Accept with Coalition SSO" in page.text
        assert 'id="password"' in page.text
        idp.person = Person("someone-sub", "someone.else@epsilon-college.example.org")
        other = await sign_in_with_provider(browser, invitation=token)
        assert other.status_code == 403 and reason(other) == "invitation_other_email"
        idp.person = Person("new-person-sub", "new.person@epsilon-college.example.org", name="Grace Hopper")
        accepted = await sign_in_with_provider(browser, invitation=token)
        assert accepted.status_code == 303 and accepted.headers["location"] == "/"
        assert (await browser.http.get("/referrals")).status_code in (200, 502, 503)  # signed in (no services here)
        assert (await browser.http.get(f"/invitations/{token}")).status_code == 404  # used
    user = await app.state.pool.fetchrow(
        "SELECT user_id::text, org_id::text, email, display_name, role, password_hash FROM users WHERE email ILIKE $1",
        "new.person@epsilon-college.example.org",
    )
    assert (user["org_id"], user["display_name"], user["role"]) == (admin["org_id"], "Grace Hopper", "staff")
    assert user["password_hash"] is None  # no password: a password sign-in fails like a wrong one
    assert (
        await app.state.pool.fetchval("SELECT subject FROM oidc_identities WHERE user_id = $1::uuid", user["user_id"])
        == "new-person-sub"
    )
    assert await audit(app, "invitation_accepted") == [{"user_id": user["user_id"], "by": "oidc"}]
    assert await audit(app, "signed_in") == [{"user_id": user["user_id"], "by": "oidc"}]
    async with Browser(app) as browser:
        assert (await browser.sign_in(user["email"], "any password at all")).status_code == 401
        # A used invitation does not start a sign-in.
        gone = await browser.http.get("/sign-in/oidc", params={"invitation": token})
        assert gone.status_code == 404 and reason(gone) == "invitation_invalid"


async def test_the_callback_is_rate_limited_like_sign_in(stack, idp) -> None:  # type: ignore[no-untyped-def]
    idp.faults.clear()
    idp.deny = False
    settings = oidc_settings(idp, TALENTLOOP_PORTAL_SIGNIN_PER_ADDRESS="3")
    async with (
        fresh_schema(stack.database_url) as schema,
        running_portal(stack.database_url, schema, **settings) as app,
    ):
        user = await member(app.state.pool, "partner", "zeta-org", "staff")
        idp.person = Person("zeta-sub", user["email"])
        # The account's own limit: five wrong passwords from elsewhere hold the provider's sign-in too.
        for i in range(5):
            async with Browser(app, address=f"10.0.0.{i}") as guesser:
                assert (await guesser.sign_in(user["email"], "a wrong password")).status_code == 401
        async with Browser(app) as browser:
            held = await sign_in_with_provider(browser)
            assert held.status_code == 429 and int(held.headers["Retry-After"]) > 0 and reason(held) == "rate_limited"
            assert (await browser.http.get("/referrals")).status_code == 303
        # The address's limit: three refused callbacks from 127.0.0.2, then even a good one waits.
        async with Browser(app, address="127.0.0.2") as browser:
            for _ in range(3):
                bad = await browser.http.get(
                    (await at_provider(await to_provider(browser))).replace("state=", "state=x", 1)
                )
                assert bad.status_code == 400
            idp.person = Person("other-sub", "nobody@zeta-org.example.org")
            limited = await sign_in_with_provider(browser)
            assert limited.status_code == 429 and "Retry-After" in limited.headers


async def test_the_button_is_there_only_with_a_provider_and_passwords_can_be_turned_off(stack, idp) -> None:  # type: ignore[no-untyped-def]
    async with fresh_schema(stack.database_url) as schema, running_portal(stack.database_url, schema) as app:
        admin = await member(app.state.pool, "partner", "eta-org", "admin")
        token = await application.invite(app.state.portal_app, None, admin["org_id"], "x@eta-org.example.org", "staff")
        async with Browser(app) as browser:
            assert "oidc" not in (await browser.http.get("/sign-in")).text
            assert "oidc" not in (await browser.http.get(f"/invitations/{token}")).text
            assert (await browser.http.get("/sign-in/oidc")).status_code == 404
            assert (await browser.http.get("/sign-in/oidc/callback?state=x&code=y")).status_code == 404
    # The provider as the only way in, with SMTP settings (nothing listens: nothing may be sent).
    only = oidc_settings(
        idp,
        TALENTLOOP_PORTAL_OIDC_PASSWORDS="false",
        TALENTLOOP_SMTP_HOST="127.0.0.1",
        TALENTLOOP_SMTP_PORT="9",
        TALENTLOOP_SMTP_SECURITY="none",
        TALENTLOOP_MAIL_FROM="portal@talentloop.example.org",
    )
    async with fresh_schema(stack.database_url) as schema, running_portal(stack.database_url, schema, **only) as app:
        admin = await member(app.state.pool, "partner", "eta-org", "admin")
        token = await application.invite(app.state.portal_app, None, admin["org_id"], "x@eta-org.example.org", "staff")
        # Links made before passwords were turned off (or asked for by a forged request) lead nowhere either.
        links = [
            await mail_links.request_link(
                app.state.portal_app, app.state.mailer, purpose, admin["email"], "10.2.0.1", PORTAL, "en"
            )
            for purpose in ("sign_in", "reset")
        ]
        async with Browser(app) as browser:
            page = await browser.http.get("/sign-in")
            assert 'id="oidc-sign-in"' in page.text and 'id="password"' not in page.text
            assert 'id="email-link"' not in page.text and 'id="forgot"' not in page.text
            for path in ("/sign-in/email", "/password/forgot"):
                assert (await browser.http.get(path)).status_code == 404
                assert (await browser.post(path, {"email": admin["email"]}, "/sign-in")).status_code == 404
            for mail in links:
                assert mail is not None
                link = mail.text.split(PORTAL, 1)[1].split()[0]
                assert (await browser.http.get(link)).status_code == 404
                used = {"password": "a long enough password", "password_again": "a long enough password"}
                assert (await browser.post(link, used, "/sign-in")).status_code == 404
            assert (await browser.http.get("/")).headers["location"].startswith("/sign-in")  # nobody signed in
            refused = await browser.post(
                "/sign-in", {"email": admin["email"], "password": admin["password"]}, "/sign-in"
            )
            assert refused.status_code == 404
            invitation = await browser.http.get(f"/invitations/{token}")
            assert 'id="oidc-accept"' in invitation.text and 'id="password"' not in invitation.text
            assert "Continue with Coalition SSO" in invitation.text
            no_password = await browser.post(
                f"/invitations/{token}",
                {"display_name": "X", "password": "a long enough password", "password_again": "a long enough password"},
                "/sign-in",
            )
            assert no_password.status_code == 404
        assert await audit(app, "signed_in") == [] and await audit(app, "password_reset") == []
    # A provider that cannot be reached: a page saying so, not a 500.
    down = oidc_settings(idp, TALENTLOOP_PORTAL_OIDC_ISSUER="http://127.0.0.1:9")
    async with fresh_schema(stack.database_url) as schema, running_portal(stack.database_url, schema, **down) as app:
        async with Browser(app) as browser:
            unreachable = await browser.http.get("/sign-in/oidc")
            assert unreachable.status_code == 503 and reason(unreachable) == "unreachable"


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"TALENTLOOP_PORTAL_OIDC_ISSUER": "https://id.example.org"}, "CLIENT_ID"),
        (
            {
                "TALENTLOOP_PORTAL_OIDC_ISSUER": "https://id.example.org",
                "TALENTLOOP_PORTAL_OIDC_CLIENT_ID": "c",
                "TALENTLOOP_PORTAL_OIDC_SCOPES": "email profile",
            },
            "openid",
        ),
        ({"TALENTLOOP_PORTAL_OIDC_ISSUER": "http://id.example.org", "TALENTLOOP_PORTAL_OIDC_CLIENT_ID": "c"}, "https"),
        ({"TALENTLOOP_PORTAL_OIDC_PASSWORDS": "false"}, "needs TALENTLOOP_PORTAL_OIDC_ISSUER"),
    ],
    ids=["no-client-id", "no-openid-scope", "plain-http", "passwords-off-without-provider"],
)
def test_a_half_done_configuration_stops_the_portal_at_start(settings: dict[str, str], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        oidc.ProviderSettings.of(PortalSettings(**settings))


def test_the_settings_name_the_button_after_the_issuer_by_default() -> None:
    found = oidc.ProviderSettings.of(
        PortalSettings(
            TALENTLOOP_PORTAL_OIDC_ISSUER="https://id.example.org/realms/coalition/",
            TALENTLOOP_PORTAL_OIDC_CLIENT_ID="portal",
        )
    )
    assert found is not None
    assert (found.issuer, found.name, found.client_secret, found.passwords) == (
        "https://id.example.org/realms/coalition/",  # as written: the ID tokens' iss must equal it
        "id.example.org",
        None,
        True,
    )
    assert oidc.ProviderSettings.of(PortalSettings()) is None
