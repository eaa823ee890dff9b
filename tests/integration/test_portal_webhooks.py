"""Webhook endpoints in the portal on real PostgreSQL (docs/portals.md, "Webhook endpoints"),
through the webhooks API of outcomes, support and the employer gateway in this process (their
own routers over schemas of their own), with the key the portal issues each organisation: an
admin adds an endpoint (the secret shown once), gives it a new secret and removes it; CSRF
required; another organisation's endpoint is 404 and stays; staff get 403; an employer
manages its endpoints at the gateway only; a portal key issued before the webhooks scope gets
it from migration 004; in Spanish. With outcomes' dispatcher sending to a receiver on
127.0.0.1: the delivery log, one delivery's attempts, a failed delivery redelivered, an
endpoint paused and resumed; another organisation's delivery 404."""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from fastapi import FastAPI

from plumbing import apikeys, db, webhooks
from plumbing.destinations import Destinations
from plumbing.settings import Settings
from plumbing.webhooks_api import router_for
from services.employer_gateway.application import EMPLOYER_NOTIFICATIONS
from services.outcomes.app import CLOSED_LOOPS
from services.portal import webhook_admin
from services.support.domain import PROVIDER_NOTIFICATIONS
from tests.integration.portal_services import portal_beside, service_app
from tests.integration.test_webhooks import receiver, until  # noqa: F401  (a fixture)
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


@contextlib.asynccontextmanager
async def portal_and_services(stack, pools, box: webhooks.SecretBox) -> AsyncIterator[FastAPI]:  # type: ignore[no-untyped-def]
    """The portal calling the webhooks API of outcomes, support and the gateway in this process."""
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
                webhook_box=box,
                destinations=Destinations(allow_loopback_http=True),
            )
        yield app


async def test_admins_manage_their_endpoints_at_each_service(stack, pools) -> None:  # type: ignore[no-untyped-def]
    async with portal_and_services(stack, pools, webhooks.SecretBox(os.urandom(32))) as app:
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


# Two tries, quickly: a failing endpoint's delivery fails within a second.
POLICY = webhooks.Policy(timeout_s=2, base_s=0.05, cap_s=0.1, max_attempts=2, poll_s=0.05, allow_loopback_http=True)


async def test_the_delivery_log_a_failed_delivery_redelivered_and_an_endpoint_paused(stack, pools, receiver) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    box = webhooks.SecretBox(os.urandom(32))
    outcomes = pools["outcomes"]
    async with portal_and_services(stack, pools, box) as app:
        pool = app.state.pool
        admin = await member(pool, "partner", "wh-gamma", "admin")
        stranger = await member(pool, "partner", "wh-delta", "admin")
        receiver.scripts["/hook"] = [503]
        async with Browser(app) as browser, Browser(app) as theirs:
            await browser.sign_in(admin["email"])
            await theirs.sign_in(stranger["email"])
            added = await browser.post("/webhooks/outcomes/endpoints", {"url": receiver.base + "/hook"}, "/webhooks")
            secret = SECRET.search(added.text).group(1)  # type: ignore[union-attr]
            endpoint_id = await outcomes.fetchval("SELECT endpoint_id FROM webhook_endpoints")
            empty = await browser.http.get("/webhooks/outcomes/deliveries")
            assert empty.status_code == 200 and 'id="empty"' in empty.text

            async with outcomes.acquire() as conn:  # as outcomes queues a closed loop's change
                [delivery_id] = await webhooks.enqueue(
                    conn,
                    "partner:wh-gamma",
                    event_id=uuid.uuid4(),
                    event_type="referral.status_changed.v1",
                    subject="ref_hooked",
                    data={"referral_id": "ref_hooked", "status": "hired"},
                )
            dispatcher = asyncio.create_task(webhooks.Dispatcher(outcomes, box, POLICY).run())
            try:
                await until("the delivery to fail", lambda: _status_is(outcomes, delivery_id, "failed"))
                log = await browser.http.get("/webhooks/outcomes/deliveries")
                row = re.search(rf'<tr data-delivery="{delivery_id}" data-status="failed">.*?</tr>', log.text, re.S)
                assert log.status_code == 200 and row, log.text[:1000]
                assert "referral.status_changed.v1" in row.group(0) and receiver.base + "/hook" in row.group(0)
                assert "HTTP 503" in row.group(0) and "<td>2</td>" in row.group(0)  # two tries
                failed_only = (await browser.http.get("/webhooks/outcomes/deliveries?status=failed")).text
                delivered_only = (await browser.http.get("/webhooks/outcomes/deliveries?status=delivered")).text
                assert delivery_id in failed_only and delivery_id not in delivered_only
                # One endpoint's log, from its row on the endpoints' page.
                listed = (await browser.http.get("/webhooks")).text
                its_log = f"/webhooks/outcomes/deliveries?endpoint={endpoint_id}"
                assert f'href="{its_log}"' in listed
                only_its = (await browser.http.get(its_log)).text
                assert delivery_id in only_its and 'id="only-endpoint"' in only_its
                assert f"status=failed&amp;endpoint={endpoint_id}" in only_its  # the filter kept by status
                others = (await browser.http.get("/webhooks/outcomes/deliveries?endpoint=whe_someone_elses")).text
                assert delivery_id not in others and 'id="empty"' in others
                one = await browser.http.get(f"/webhooks/outcomes/deliveries/{delivery_id}")
                assert one.status_code == 200 and '"referral_id": "ref_hooked"' in html.unescape(one.text)
                assert one.text.count('<tr data-answer="503">') == 2

                # Another organisation: not in its log, 404 reading it and redelivering it.
                assert delivery_id not in (await theirs.http.get("/webhooks/outcomes/deliveries")).text
                assert (await theirs.http.get(f"/webhooks/outcomes/deliveries/{delivery_id}")).status_code == 404
                r = await theirs.post(f"/webhooks/outcomes/deliveries/{delivery_id}/redeliver", {}, "/webhooks")
                assert r.status_code == 404
                assert (await browser.http.get("/webhooks/employer_gateway/deliveries")).status_code == 404
                no_token = await browser.http.post(f"/webhooks/outcomes/deliveries/{delivery_id}/redeliver", data={})
                assert no_token.status_code == 403
                assert await _status_is(outcomes, delivery_id, "failed")

                receiver.scripts["/hook"] = [200]
                sent = await browser.post(
                    f"/webhooks/outcomes/deliveries/{delivery_id}/redeliver",
                    {},
                    f"/webhooks/outcomes/deliveries/{delivery_id}",
                )
                assert sent.status_code == 303
                assert sent.headers["location"] == f"/webhooks/outcomes/deliveries/{delivery_id}?redelivered=1"
                await until("the redelivery", lambda: _status_is(outcomes, delivery_id, "delivered"))
            finally:
                dispatcher.cancel()
            shown = (await browser.http.get(sent.headers["location"])).text
            assert 'id="notice"' in shown and 'data-status="delivered"' in shown
            assert '<tr data-answer="200">' in shown and "answered 200" in shown  # the accepting answer's start
            got = receiver.got("/hook")
            assert len(got) == 3
            for _, headers, body in got:
                webhooks.verify(secret, headers, body)  # signed with the secret the portal showed once

            # Paused: nothing new is queued for it until it is resumed; another organisation cannot.
            assert (
                await theirs.post(f"/webhooks/outcomes/endpoints/{endpoint_id}/pause", {}, "/webhooks")
            ).status_code == 404
            paused = await browser.post(f"/webhooks/outcomes/endpoints/{endpoint_id}/pause", {}, "/webhooks")
            assert paused.status_code == 303 and paused.headers["location"] == f"/webhooks?paused={endpoint_id}"
            page = (await browser.http.get(paused.headers["location"])).text
            assert f'data-endpoint="{endpoint_id}" data-active="no"' in page and f"/{endpoint_id}/resume" in page
            async with outcomes.acquire() as conn:
                none = await webhooks.enqueue(
                    conn,
                    "partner:wh-gamma",
                    event_id=uuid.uuid4(),
                    event_type="referral.status_changed.v1",
                    subject="ref_later",
                    data={"referral_id": "ref_later"},
                )
            assert none == []
            resumed = await browser.post(f"/webhooks/outcomes/endpoints/{endpoint_id}/resume", {}, "/webhooks")
            assert resumed.status_code == 303
            assert await outcomes.fetchval("SELECT active FROM webhook_endpoints WHERE endpoint_id = $1", endpoint_id)

            await browser.post("/language", {"language": "es", "next": "/webhooks"}, "/webhooks")
            spanish = (await browser.http.get(f"/webhooks/outcomes/deliveries/{delivery_id}")).text
            assert "Enviarla de nuevo" in spanish and "Entregada: su destino la aceptó" in spanish

        audit = await pool.fetch(
            "SELECT action, target FROM audit WHERE user_id = $1::uuid AND action LIKE 'webhook_%' ORDER BY audit_id",
            admin["user_id"],
        )
        assert [(a["action"], a["target"]) for a in audit] == [
            ("webhook_added", endpoint_id),
            ("webhook_redelivered", delivery_id),
            ("webhook_paused", endpoint_id),
            ("webhook_resumed", endpoint_id),
        ]


async def _status_is(pool: asyncpg.Pool, delivery_id: str, status: str) -> bool | None:
    return (
        await pool.fetchval("SELECT status FROM webhook_deliveries WHERE delivery_id = $1", delivery_id) == status
        or None
    )
