"""Webhook endpoints in the portal on real PostgreSQL (docs/portals.md, "Webhook endpoints"),
through the webhooks API of outcomes, support and the employer gateway in this process (their
own routers over schemas of their own), with the key the portal issues each organisation: an
admin adds an endpoint (the secret shown once), gives it a new secret and removes it; CSRF
required; another organisation's endpoint is 404 and stays; staff get 403; an employer
manages its endpoints at the gateway only; a portal key issued before the webhooks scope gets
it from migration 004; in Spanish."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from plumbing import apikeys, db, webhooks
from plumbing.destinations import Destinations
from plumbing.settings import Settings
from plumbing.webhooks_api import router_for
from services.employer_gateway.application import EMPLOYER_NOTIFICATIONS
from services.outcomes.app import CLOSED_LOOPS
from services.portal import webhook_admin
from services.support.domain import PROVIDER_NOTIFICATIONS
from tests.integration.portal_services import portal_beside, service_app
from tests.support.portal import Browser, member

pytestmark = pytest.mark.integration
SECRET = re.compile(r'id="secret"[^>]*>([^<]+)</textarea>')
MIGRATION = Path(webhook_admin.__file__).parent / "migrations" / "004_org_keys_webhooks.sql"
HOOK = "http://127.0.0.1:9/talentloop"  # loopback http: allowed by these services' destinations


def test_the_portal_offers_the_event_types_each_service_sends() -> None:
    assert list(webhook_admin.OUTCOMES.events) == [e.event_type for e in CLOSED_LOOPS]
    assert list(webhook_admin.SUPPORT.events) == PROVIDER_NOTIFICATIONS
    assert list(webhook_admin.GATEWAY.events) == EMPLOYER_NOTIFICATIONS


@pytest.fixture
async def pools(stack) -> AsyncIterator[dict[str, asyncpg.Pool]]:  # type: ignore[no-untyped-def]
    """A schema with plumbing's webhook tables for each service."""
    made = {s: f"t_{uuid.uuid4().hex[:10]}" for s in ("outcomes", "support", "employer_gateway")}
    pools = {s: await db.create_pool(stack.database_url, schema) for s, schema in made.items()}
    for pool in pools.values():
        await db.migrate(pool)
    yield pools
    conn = await asyncpg.connect(stack.database_url)
    try:
        for service, schema in made.items():
            await pools[service].close()
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await conn.close()


async def test_admins_manage_their_endpoints_at_each_service(stack, pools) -> None:  # type: ignore[no-untyped-def]
    routers = {
        "outcomes": router_for("partner", list(webhook_admin.OUTCOMES.events)),
        "support": router_for("partner", PROVIDER_NOTIFICATIONS),
        "employer_gateway": router_for("employer", EMPLOYER_NOTIFICATIONS),
    }
    async with portal_beside(stack, *routers) as (app, transport):
        for service, router in routers.items():
            transport.apps[service] = service_app(
                service,
                [router],
                apikeys.ApiKeys(app.state.pool, cache_s=0),
                pool=pools[service],
                settings=Settings(),
                webhook_box=webhooks.SecretBox(os.urandom(32)),
                destinations=Destinations(allow_loopback_http=True),
            )
        pool = app.state.pool
        admin = await member(pool, "partner", "wh-alpha", "admin")
        staff = await member(pool, "partner", "wh-alpha", "staff")
        stranger = await member(pool, "training_provider", "wh-beta", "admin")
        employer = await member(pool, "employer", "wh-emp", "admin")
        async with Browser(app) as browser:
            await browser.sign_in(admin["email"])
            page = await browser.http.get("/webhooks")
            assert page.status_code == 200 and 'href="/webhooks" aria-current="page"' in page.text
            assert 'data-service="outcomes"' in page.text and 'data-service="support"' in page.text
            assert 'data-service="employer_gateway"' not in page.text

            no_token = await browser.http.post("/webhooks/outcomes/endpoints", data={"url": HOOK})
            assert no_token.status_code == 403 and "did not come from this site" in no_token.text
            bad = await browser.post("/webhooks/outcomes/endpoints", {"url": "http://example.org/hook"}, "/webhooks")
            assert bad.status_code == 422 and 'id="problem"' in bad.text and "https" in bad.text
            assert await pools["outcomes"].fetchval("SELECT count(*) FROM webhook_endpoints") == 0

            added = await browser.post(
                "/webhooks/outcomes/endpoints",
                {"url": HOOK, "event_types": ["referral.status_changed.v1", "not.a.type"]},
                "/webhooks",
            )
            assert added.status_code == 201, added.text[:500]
            secret = SECRET.search(added.text).group(1)  # type: ignore[union-attr]
            row = await pools["outcomes"].fetchrow("SELECT * FROM webhook_endpoints")
            assert (row["owner"], row["url"], list(row["event_types"])) == (
                "partner:wh-alpha",
                HOOK,
                ["referral.status_changed.v1"],
            )
            endpoint_id = row["endpoint_id"]
            listed = await browser.http.get("/webhooks")
            assert secret not in listed.text  # shown once
            section = re.search(r'<section id="service-outcomes".*?</section>', listed.text, re.S)
            assert section and f'data-endpoint="{endpoint_id}"' in section.group(0)
            assert "Every change of your referrals&#39; statuses, with why" in section.group(0)

            rotated = await browser.post(f"/webhooks/outcomes/endpoints/{endpoint_id}/rotate-secret", {}, "/webhooks")
            assert rotated.status_code == 200 and "A new signing secret" in rotated.text
            assert SECRET.search(rotated.text).group(1) != secret  # type: ignore[union-attr]

            async with Browser(app) as theirs:
                await theirs.sign_in(stranger["email"])
                assert endpoint_id not in (await theirs.http.get("/webhooks")).text
                for action in ("remove", "rotate-secret"):
                    r = await theirs.post(f"/webhooks/outcomes/endpoints/{endpoint_id}/{action}", {}, "/webhooks")
                    assert r.status_code == 404, action
            async with Browser(app) as worker:
                await worker.sign_in(staff["email"])
                page = await worker.http.get("/webhooks")
                assert page.status_code == 403 and 'href="/webhooks"' not in page.text
                made = await worker.post("/webhooks/outcomes/endpoints", {"url": HOOK}, "/sign-in")
                gone = await worker.post(f"/webhooks/outcomes/endpoints/{endpoint_id}/remove", {}, "/sign-in")
                assert (made.status_code, gone.status_code) == (403, 403)
            async with Browser(app) as hiring:
                await hiring.sign_in(employer["email"])
                own = await hiring.http.get("/webhooks")
                assert 'data-service="employer_gateway"' in own.text and 'data-service="outcomes"' not in own.text
                assert (
                    await hiring.post("/webhooks/outcomes/endpoints", {"url": HOOK}, "/webhooks")
                ).status_code == 404
                at_gateway = await hiring.post(
                    "/webhooks/employer_gateway/endpoints", {"url": HOOK, "event_types": "referral.routed"}, "/webhooks"
                )
                assert at_gateway.status_code == 201
                assert (
                    await pools["employer_gateway"].fetchval("SELECT owner FROM webhook_endpoints") == "employer:wh-emp"
                )
            assert await pools["outcomes"].fetchval("SELECT count(*) FROM webhook_endpoints") == 1

            # A portal key issued before the webhooks scope: the page says so, migration 004 gives it.
            key_id = await pool.fetchval("SELECT key_id FROM org_keys WHERE org_id = $1::uuid", admin["org_id"])
            await pool.execute("UPDATE credentials.api_keys SET scopes = '{read,write}' WHERE key_id = $1", key_id)
            old = await browser.http.get("/webhooks")
            assert old.status_code == 200 and "may not manage webhooks" in old.text
            await pool.execute(MIGRATION.read_text())
            assert "may not manage webhooks" not in (await browser.http.get("/webhooks")).text

            removed = await browser.post(f"/webhooks/outcomes/endpoints/{endpoint_id}/remove", {}, "/webhooks")
            assert removed.status_code == 303 and removed.headers["location"] == f"/webhooks?removed={endpoint_id}"
            assert await pools["outcomes"].fetchval("SELECT count(*) FROM webhook_endpoints") == 0

            await browser.post("/language", {"language": "es", "next": "/webhooks"}, "/webhooks")
            spanish = (await browser.http.get("/webhooks")).text
            assert "Destinos de webhooks" in spanish and "Añadir el destino" in spanish

        audit = await pool.fetch(
            "SELECT action, target FROM audit WHERE user_id = $1::uuid AND action LIKE 'webhook_%' ORDER BY audit_id",
            admin["user_id"],
        )
        assert [(a["action"], a["target"]) for a in audit] == [
            ("webhook_added", endpoint_id),
            ("webhook_secret_rotated", endpoint_id),
            ("webhook_removed", endpoint_id),
        ]
