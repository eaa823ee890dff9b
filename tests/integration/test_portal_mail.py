"""The portal's e-mails on real PostgreSQL with an SMTP capture server (aiosmtpd) on 127.0.0.1
(docs/portals.md, "Links by e-mail"): invitations sent by e-mail, signing in by a one-time
link, choosing a new password by a one-time link; single use, expiry, the sign-in limit, the
same answer for an address without an account, CSRF, the audit and Spanish."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from services.portal import web
from talentloop.waiting import until
from tests.support.portal import Browser, fresh_schema, member, running_portal
from tests.support.smtp import Capture, smtp_capture

pytestmark = pytest.mark.integration
LINK = re.compile(r"http://portal(/\S+)")
CSRF_VALUE = re.compile(r'value="[A-Za-z0-9_-]{40,}"')


@pytest.fixture(scope="module")
def smtp() -> Iterator[Capture]:
    with smtp_capture() as capture:
        yield capture


@pytest.fixture
async def portal(stack, smtp):  # type: ignore[no-untyped-def]
    port, capture = smtp.port, smtp
    async with fresh_schema(stack.database_url) as schema:
        async with running_portal(
            stack.database_url,
            schema,
            TALENTLOOP_SMTP_HOST="127.0.0.1",
            TALENTLOOP_SMTP_PORT=str(port),
            TALENTLOOP_SMTP_SECURITY="none",
            TALENTLOOP_MAIL_FROM="portal@talentloop.example.org",
            TALENTLOOP_PORTAL_URL="http://portal",
        ) as app:
            yield app, capture


async def mail_to(capture: Capture, address: str, n: int = 1) -> EmailMessage:
    async def arrived() -> EmailMessage | None:
        got = capture.to(address)
        return got[n - 1] if len(got) >= n else None

    return await until(f"e-mail {n} to {address}", arrived, timeout=20.0)


def path_in(mail: EmailMessage) -> str:
    found = LINK.search(mail.get_content())
    assert found is not None, mail.get_content()
    return found.group(1)


async def actions(app: Any, user_id: str) -> list[str]:
    rows = await app.state.pool.fetch("SELECT action FROM audit WHERE user_id = $1::uuid ORDER BY audit_id", user_id)
    return [r["action"] for r in rows]


async def test_an_invitation_is_e_mailed_in_the_inviters_language_and_its_link_works(portal) -> None:  # type: ignore[no-untyped-def]
    app, capture = portal
    admin = await member(app.state.pool, "partner", "alpha-org", "admin")
    async with Browser(app) as browser:
        await browser.sign_in(admin["email"])
        await browser.post("/language", {"language": "es", "next": "/team"}, "/team")
        invited = await browser.post(
            "/team/invitations", {"email": "nueva@alpha-org.example.org", "role": "staff"}, "/team"
        )
        assert invited.status_code == 200 and 'id="sent"' in invited.text and 'id="link"' not in invited.text
    mail = await mail_to(capture, "nueva@alpha-org.example.org")
    assert mail["Subject"] == "Le invitan al portal de TalentLoop" and mail["Content-Language"] == "es"
    assert "Alpha Org" in mail.get_content()
    async with Browser(app) as invitee:
        assert (await invitee.http.get(path_in(mail))).status_code == 200  # the invitation page


async def test_a_sign_in_link_signs_in_once_with_a_new_session_and_expires(portal) -> None:  # type: ignore[no-untyped-def]
    app, capture = portal
    user = await member(app.state.pool, "employer", "beta-co", "staff")
    async with Browser(app) as browser:
        page = await browser.http.get("/sign-in")
        assert 'href="/sign-in/email"' in page.text and 'href="/password/forgot"' in page.text
        sent = await browser.post("/sign-in/email", {"email": user["email"]}, "/sign-in/email")
        assert sent.status_code == 200 and 'id="sent"' in sent.text
        mail = await mail_to(capture, user["email"])
        assert mail["Subject"] == "Your sign-in link for the TalentLoop portal"
        link = path_in(mail)
        opened = await browser.http.get(link)  # opening it (or a scanner fetching it) uses nothing
        assert opened.status_code == 200
        planted = browser.session_cookie
        without_csrf = await browser.http.post(link, data={})
        assert without_csrf.status_code == 403
        used = await browser.post(link, {}, link)
        assert used.status_code == 303 and used.headers["location"] == "/"
        assert browser.session_cookie != planted  # no fixation
        assert (await browser.http.get("/routed")).status_code in (200, 502, 503)  # signed in (services not running)
    async with Browser(app) as again:
        assert (await again.http.get(link)).status_code == 404  # once
    assert await actions(app, user["user_id"]) == ["sign_in_link_sent", "signed_in"]
    # A link older than 15 minutes is refused.
    async with Browser(app) as browser:
        await browser.post("/sign-in/email", {"email": user["email"]}, "/sign-in/email")
        late = path_in(await mail_to(capture, user["email"], 2))
        app.state.portal_app.clock = lambda: web.now() + timedelta(minutes=16)
        assert (await browser.http.get(late)).status_code == 404
        app.state.portal_app.clock = web.now


async def test_a_new_password_by_link_ends_every_session_and_the_old_password(portal) -> None:  # type: ignore[no-untyped-def]
    app, capture = portal
    user = await member(app.state.pool, "partner", "gamma-org", "staff")
    async with Browser(app) as elsewhere:
        await elsewhere.sign_in(user["email"])
        old_session = elsewhere.session_cookie
    async with Browser(app) as browser:
        await browser.post("/password/forgot", {"email": user["email"]}, "/password/forgot")
        first = path_in(await mail_to(capture, user["email"]))
        await browser.post("/password/forgot", {"email": user["email"]}, "/password/forgot")
        link = path_in(await mail_to(capture, user["email"], 2))
        assert (await browser.http.get(first)).status_code == 404  # a newer link ends the older one
        short = await browser.post(link, {"password": "short", "password_again": "short"}, link)
        assert short.status_code == 422 and "12" in short.text
        done = await browser.post(
            link, {"password": "a brand new passphrase", "password_again": "a brand new passphrase"}, link
        )
        assert done.status_code == 303
        assert (await browser.http.get(link)).status_code == 404
    async with Browser(app, cookie=old_session) as stale:
        assert (await stale.http.get("/referrals")).status_code == 303  # signed out everywhere
    async with Browser(app) as browser:
        wrong = await browser.sign_in(user["email"])
        assert wrong.status_code == 401 and 'href="/password/forgot"' in wrong.text  # offered when it is needed
        assert (await browser.sign_in(user["email"], "a brand new passphrase")).status_code == 303
    assert "password_reset" in await actions(app, user["user_id"])


async def test_no_account_gets_the_same_answer_and_no_mail_and_asking_is_rate_limited(portal) -> None:  # type: ignore[no-untyped-def]
    app, capture = portal
    user = await member(app.state.pool, "partner", "delta-org", "staff")
    nobody = "nobody@delta-org.example.org"
    async with Browser(app, address="10.1.0.1") as browser:
        known = await browser.post("/password/forgot", {"email": user["email"]}, "/password/forgot")
        unknown = await browser.post("/password/forgot", {"email": nobody}, "/password/forgot")
    assert known.status_code == unknown.status_code == 200
    same = [
        CSRF_VALUE.sub("", r.text).replace(address, "X") for r, address in ((known, user["email"]), (unknown, nobody))
    ]
    assert same[0] == same[1]
    await mail_to(capture, user["email"])
    assert capture.to(nobody) == []
    async with Browser(app, address="10.1.0.2") as asker:
        for _ in range(4):  # one more before: 5 for the address typed
            assert (await asker.post("/sign-in/email", {"email": nobody}, "/sign-in/email")).status_code == 200
        held = await asker.post("/sign-in/email", {"email": nobody}, "/sign-in/email")
        assert held.status_code == 429 and int(held.headers["retry-after"]) > 0


async def test_without_mail_settings_the_links_are_not_offered_and_invitations_show_their_link(stack) -> None:  # type: ignore[no-untyped-def]
    async with fresh_schema(stack.database_url) as schema, running_portal(stack.database_url, schema) as app:
        admin = await member(app.state.pool, "partner", "eps-org", "admin")
        async with Browser(app) as browser:
            assert 'href="/sign-in/email"' not in (await browser.http.get("/sign-in")).text
            assert (await browser.http.get("/password/forgot")).status_code == 404
            await browser.sign_in(admin["email"])
            invited = await browser.post(
                "/team/invitations", {"email": "x@eps-org.example.org", "role": "staff"}, "/team"
            )
            assert 'id="link"' in invited.text
