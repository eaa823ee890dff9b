"""The portal's accounts on real PostgreSQL: sessions that survive a restart, a new session id
at sign-in (no fixation), logout, the sign-in rate limit, CSRF on every state-changing route,
invitations by role, cookie flags behind a trusted proxy, and the audit (docs/portals.md)."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from starlette.routing import Route

from plumbing.vault import new_master_key
from services.portal import store, web
from tests.support.portal import Browser, fresh_schema, member, running_portal

pytestmark = pytest.mark.integration


@pytest.fixture
async def schema(stack):  # type: ignore[no-untyped-def]
    async with fresh_schema(stack.database_url) as name:
        yield name


async def test_a_session_survives_a_restart_of_the_portal(stack, schema) -> None:  # type: ignore[no-untyped-def]
    key = new_master_key()
    async with running_portal(stack.database_url, schema, master_key=key) as app:
        admin = await member(app.state.pool, "partner", "alpha-org", "admin")
        browser = Browser(app)
        signed = await browser.sign_in(admin["email"])
        assert signed.status_code == 303 and signed.headers["location"] == "/"
        cookie = browser.session_cookie
        assert (await browser.http.get("/team")).status_code == 200
    async with running_portal(stack.database_url, schema, master_key=key) as again:
        async with Browser(again, cookie=cookie) as later:
            team = await later.http.get("/team")
            assert team.status_code == 200 and admin["email"] in team.text


async def test_signing_in_gives_a_new_session_id_and_ends_the_visitors(stack, schema) -> None:  # type: ignore[no-untyped-def]
    async with running_portal(stack.database_url, schema) as app:
        user = await member(app.state.pool, "partner", "alpha-org", "staff")
        async with Browser(app) as browser:
            token = await browser.csrf("/sign-in")
            planted = browser.session_cookie  # what an attacker could have planted before sign-in
            assert planted
            r = await browser.http.post(
                "/sign-in",
                data={"email": user["email"], "password": "correct horse battery staple", "csrf_token": token},
            )
            assert r.status_code == 303
            assert browser.session_cookie and browser.session_cookie != planted
            assert (
                await app.state.pool.fetchval(
                    "SELECT count(*) FROM sessions WHERE token_sha256 = $1", hashlib.sha256(planted.encode()).digest()
                )
                == 0
            )
        async with Browser(app, cookie=planted) as attacker:
            r = await attacker.http.get("/referrals")
            assert r.status_code == 303 and r.headers["location"].startswith("/sign-in")


async def test_sign_out_ends_the_session_in_the_database(stack, schema) -> None:  # type: ignore[no-untyped-def]
    async with running_portal(stack.database_url, schema) as app:
        admin = await member(app.state.pool, "partner", "alpha-org", "admin")
        async with Browser(app) as browser:
            await browser.sign_in(admin["email"])
            cookie = browser.session_cookie
            out = await browser.post("/sign-out", {}, "/team")
            assert out.status_code == 303 and out.headers["location"] == "/sign-in"
            assert 'talentloop_portal=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
        async with Browser(app, cookie=cookie) as replay:
            assert (await replay.http.get("/team")).status_code == 303
        actions = [
            r["action"]
            for r in await app.state.pool.fetch(
                "SELECT action FROM audit WHERE user_id = $1::uuid ORDER BY audit_id", admin["user_id"]
            )
        ]
        assert actions == ["signed_in", "signed_out"]


async def test_sign_in_is_rate_limited_per_account_and_per_address(stack, schema) -> None:  # type: ignore[no-untyped-def]
    async with running_portal(stack.database_url, schema, TALENTLOOP_PORTAL_SIGNIN_PER_ADDRESS="8") as app:
        pool = app.state.pool
        target = await member(pool, "partner", "alpha-org", "staff")
        other = await member(pool, "partner", "alpha-org", "staff")
        third = await member(pool, "partner", "alpha-org", "staff")
        async with Browser(app, address="10.0.0.7") as guesser:
            for _ in range(5):
                wrong = await guesser.sign_in(target["email"], "not the password at all")
                assert wrong.status_code == 401
            held = await guesser.sign_in(target["email"])  # the right password, too late
            assert held.status_code == 429 and int(held.headers["retry-after"]) > 800
            assert "talentloop_portal" not in str(held.headers.get("location", ""))
        async with Browser(app, address="10.0.0.8") as elsewhere:  # the account is held from anywhere
            assert (await elsewhere.sign_in(target["email"])).status_code == 429
        async with Browser(app, address="10.0.0.7") as guesser:  # the address: 8 failures, any accounts
            for _ in range(3):
                assert (await guesser.sign_in(other["email"], "wrong wrong wrong")).status_code == 401
            assert (await guesser.sign_in(third["email"])).status_code == 429
        async with Browser(app, address="10.0.0.9") as someone:
            assert (await someone.sign_in(third["email"])).status_code == 303
        # Fifteen minutes later the failures have left the window.
        state = app.state.portal_app
        state.clock = lambda: web.now() + timedelta(minutes=16)
        async with Browser(app, address="10.0.0.7") as later:
            assert (await later.sign_in(target["email"])).status_code == 303


def post_routes(app) -> list[str]:  # type: ignore[no-untyped-def]
    """Every POST route of the app, whether FastAPI lists included routers' routes flat (older
    releases) or keeps each included router whole (0.165: `original_router`; the portal's have
    no prefix)."""
    found: list[str] = []

    def walk(routes) -> None:  # type: ignore[no-untyped-def]
        for route in routes:
            if isinstance(route, Route) and "POST" in (route.methods or set()):
                found.append(route.path)
            elif hasattr(route, "original_router"):
                walk(route.original_router.routes)

    walk(app.routes)
    return sorted(found)


async def test_every_state_changing_route_needs_the_csrf_token(stack, schema) -> None:  # type: ignore[no-untyped-def]
    async with running_portal(stack.database_url, schema) as app:
        routes = post_routes(app)
        # Every POST the app has: a route added later is tested without naming it here.
        assert {
            "/sign-in",
            "/sign-out",
            "/language",
            "/refer",
            "/uploads",
            "/team/invitations",
            "/organisations",
            "/organisations/{org_id}/invitations",
            "/invitations/{token}",
            "/routed/{referral_id}/{step}",
            "/openings",
            "/openings/{opening_id}/change",
            "/openings/{opening_id}/close",
        } <= set(routes)
        ops = await member(app.state.pool, "operators", "coalition-ops", "admin")
        async with Browser(app) as browser:
            assert (await browser.sign_in(ops["email"])).status_code == 303
            good = await browser.csrf("/team")
            for path in routes:
                concrete = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)
                for token in (None, "", good[:-2] + "xx"):
                    data = {"email": "x@example.org", "language": "es"} | (
                        {} if token is None else {"csrf_token": token}
                    )
                    r = await browser.http.post(concrete, data=data)
                    assert r.status_code == 403, (path, token, r.status_code)
                    assert "did not come from this site" in r.text
            # Nothing changed: still signed in, still English, nobody invited.
            assert (await browser.http.get("/team")).status_code == 200
            assert await app.state.pool.fetchval("SELECT count(*) FROM invitations") == 0
            # A JSON caller may send the token as a header instead.
            r = await browser.http.post("/language", data={"language": "es"}, headers={"X-CSRF-Token": good})
            assert r.status_code == 303


async def test_invitations_follow_the_roles(stack, schema) -> None:  # type: ignore[no-untyped-def]
    async with running_portal(stack.database_url, schema) as app:
        pool = app.state.pool
        ops = await member(pool, "operators", "coalition-ops", "admin")
        async with Browser(app) as operator:
            await operator.sign_in(ops["email"])
            made = await operator.post(
                "/organisations", {"name": "Beta Org", "kind": "partner", "tenant_id": "beta-org"}, "/organisations"
            )
            assert made.status_code == 303
            org_id = await pool.fetchval("SELECT org_id::text FROM organisations WHERE tenant_id = 'beta-org'")
            invited = await operator.post(
                f"/organisations/{org_id}/invitations",
                {"email": "boss@beta.example.org", "role": "admin"},
                "/organisations",
            )
            assert invited.status_code == 200
            link = re.search(r'value="(http://portal/invitations/[^"]+)"', invited.text).group(1)
        async with Browser(app) as boss:
            path = link.removeprefix("http://portal")
            short = await boss.post(
                path, {"display_name": "Bea Boss", "password": "short", "password_again": "short"}, path
            )
            assert short.status_code == 422 and "at least 12 characters" in short.text
            ok = await boss.post(
                path,
                {
                    "display_name": "Bea Boss",
                    "password": "a long enough password",
                    "password_again": "a long enough password",
                },
                path,
            )
            assert ok.status_code == 303 and boss.session_cookie
            assert (await boss.http.get(path)).status_code == 404  # used once
            # An organisation's admin invites staff and read-only users, not admins.
            refused = await boss.post(
                "/team/invitations", {"email": "admin2@beta.example.org", "role": "admin"}, "/team"
            )
            assert refused.status_code == 403
            staffed = await boss.post("/team/invitations", {"email": "sam@beta.example.org", "role": "staff"}, "/team")
            assert staffed.status_code == 200
            staff_link = re.search(r'value="http://portal(/invitations/[^"]+)"', staffed.text).group(1)
        row = await pool.fetchrow("SELECT password_hash, role FROM users WHERE email = 'boss@beta.example.org'")
        assert row["password_hash"].startswith("$argon2id$") and row["role"] == "admin"
        async with Browser(app) as sam:
            assert (
                await sam.post(
                    staff_link,
                    {
                        "display_name": "Sam",
                        "password": "another long password",
                        "password_again": "another long password",
                    },
                    staff_link,
                )
            ).status_code == 303
            assert (await sam.http.get("/team")).status_code == 403  # staff manage nobody
        # An expired invitation opens nothing.
        async with Browser(app) as boss:
            await boss.sign_in("boss@beta.example.org", "a long enough password")
            made = await boss.post(
                "/team/invitations", {"email": "rita@beta.example.org", "role": "read_only"}, "/team"
            )
            late_link = re.search(r'value="http://portal(/invitations/[^"]+)"', made.text).group(1)
        assert (await Browser(app).http.get(late_link)).status_code == 200
        await pool.execute("UPDATE invitations SET expires_at = now() - interval '1 second' WHERE accepted_at IS NULL")
        async with Browser(app) as late:
            assert (await late.http.get(late_link)).status_code == 404
            taken = await late.http.post(
                late_link,
                data={
                    "display_name": "Rita",
                    "password": "x" * 20,
                    "password_again": "x" * 20,
                    "csrf_token": await late.csrf("/sign-in"),
                },
            )
            assert taken.status_code == 404
        assert await pool.fetchval("SELECT count(*) FROM users WHERE email = 'rita@beta.example.org'") == 0
        audit = [r["action"] for r in await pool.fetch("SELECT action FROM audit ORDER BY audit_id")]
        assert audit.count("invited") == 3 and audit.count("invitation_accepted") == 2
        assert "organisation_created" in audit


async def test_cookie_flags_and_the_trusted_proxy(stack, schema) -> None:  # type: ignore[no-untyped-def]
    async with running_portal(stack.database_url, schema, TALENTLOOP_FORWARDED_ALLOW_IPS="127.0.0.1") as app:
        async with Browser(app) as direct:
            cookie = (await direct.http.get("/sign-in")).headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        async with Browser(app) as proxied:
            r = await proxied.http.get("/sign-in", headers={"X-Forwarded-Proto": "https"})
            assert "Secure" in r.headers["set-cookie"]
        async with Browser(app, address="203.0.113.9") as spoofing:  # not the trusted proxy
            r = await spoofing.http.get("/sign-in", headers={"X-Forwarded-Proto": "https"})
            assert "Secure" not in r.headers["set-cookie"]
        async with Browser(app) as anyone:
            r = await anyone.http.get("/sign-in")
            assert r.headers["x-frame-options"] == "DENY"
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
            assert (await anyone.http.get("/health")).json()["status"] == "ok"
            scraped = await anyone.http.get("/metrics")
            assert scraped.status_code == 200 and "/sign-in" in scraped.text


async def test_another_organisations_upload_is_not_found(stack, schema) -> None:  # type: ignore[no-untyped-def]
    async with running_portal(stack.database_url, schema) as app:
        pool = app.state.pool
        a = await member(pool, "partner", "alpha-org", "staff")
        b = await member(pool, "partner", "beta-org", "staff")
        theirs = await store.start_upload(pool, b["org_id"], b["user_id"], "b.csv", 10)
        await pool.execute("UPDATE uploads SET import_id = 'imp_x' WHERE upload_id = $1::uuid", theirs)
        async with Browser(app) as browser:
            await browser.sign_in(a["email"])
            for path in (
                f"/uploads/{theirs}",
                f"/uploads/{theirs}/progress",
                f"/uploads/{theirs}/errors.csv",
                "/uploads/not-a-uuid",
            ):
                r = await browser.http.get(path)
                assert r.status_code == 404, path
            assert "b.csv" not in (await browser.http.get(f"/uploads/{theirs}")).text


async def test_read_only_users_and_other_kinds_change_nothing(stack, schema) -> None:  # type: ignore[no-untyped-def]
    async with running_portal(stack.database_url, schema) as app:
        pool = app.state.pool
        reader = await member(pool, "partner", "alpha-org", "read_only")
        employer = await member(pool, "employer", "acme-jobs", "admin")
        async with Browser(app) as browser:
            await browser.sign_in(reader["email"])
            for path in ("/refer", "/uploads", "/team", "/organisations"):
                assert (await browser.http.get(path)).status_code == 403, path
            token = await browser.csrf("/sign-in")
            refused = await browser.http.post("/refer", data={"csrf_token": token, "form_id": "f1", "given_name": "A"})
            assert refused.status_code == 403 and "Your role does not allow this." in refused.text
            upload = await browser.http.post(
                "/uploads", data={"csrf_token": token}, files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")}
            )
            assert upload.status_code == 403
            # The employer's pages are not a partner's (and the gateway is never asked).
            assert (await browser.http.get("/routed")).status_code == 403
            acted = await browser.http.post("/routed/ref_1/acknowledge", data={"csrf_token": token})
            assert acted.status_code == 403
        async with Browser(app) as browser:
            await browser.sign_in(employer["email"])
            home = await browser.http.get("/")
            assert home.status_code == 303 and home.headers["location"] == "/routed"
            assert (await browser.http.get("/referrals")).status_code == 403
        # An employer's read-only user sees its referrals but takes no step (403, before the gateway).
        employer_reader = await member(pool, "employer", "acme-jobs", "read_only")
        async with Browser(app) as browser:
            await browser.sign_in(employer_reader["email"])
            token = await browser.csrf("/sign-in")
            for step in ("acknowledge", "decline", "schedule", "offer", "placement", "retention"):
                acted = await browser.http.post(f"/routed/ref_1/{step}", data={"csrf_token": token, "reason": "other"})
                assert acted.status_code == 403 and "Your role does not allow this." in acted.text, step
            for path in ("/openings", "/openings/op_1/change", "/openings/op_1/close"):
                acted = await browser.http.post(path, data={"csrf_token": token, "capacity": "2", "reason": "filled"})
                assert acted.status_code == 403 and "Your role does not allow this." in acted.text, path
        assert await pool.fetchval("SELECT count(*) FROM uploads") == 0
        assert (
            await pool.fetchval("SELECT count(*) FROM audit WHERE action IN ('referred', 'uploaded', 'employer_step')")
            == 0
        )


async def test_taking_away_access_ends_the_sessions_and_the_sign_ins(stack, schema) -> None:  # type: ignore[no-untyped-def]
    async with running_portal(stack.database_url, schema) as app:
        pool = app.state.pool
        admin = await member(pool, "partner", "alpha-org", "admin")
        staff = await member(pool, "partner", "alpha-org", "staff")
        other = await member(pool, "partner", "beta-org", "admin")
        async with Browser(app) as leaving, Browser(app) as boss, Browser(app) as stranger:
            await leaving.sign_in(staff["email"])
            assert (await leaving.http.get("/team")).status_code == 403  # signed in, not an admin
            await stranger.sign_in(other["email"])
            refused = await stranger.post(f"/team/{staff['user_id']}/disable", {}, "/team")
            assert refused.status_code == 404  # another organisation's people are not there
            await boss.sign_in(admin["email"])
            assert (await boss.post(f"/team/{admin['user_id']}/disable", {}, "/team")).status_code == 404
            done = await boss.post(f"/team/{staff['user_id']}/disable", {}, "/team")
            assert done.status_code == 303
            team = await boss.http.get("/team")
            assert "Taken away" in team.text
            assert (await leaving.http.get("/team")).status_code == 303  # the open session ended
        async with Browser(app) as again:
            assert (await again.sign_in(staff["email"])).status_code == 401
        audit = await pool.fetchrow("SELECT user_id::text, target FROM audit WHERE action = 'user_disabled'")
        assert (audit["user_id"], audit["target"]) == (admin["user_id"], staff["user_id"])
