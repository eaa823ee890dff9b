"""The webhooks API as mounted in the employer gateway, against real PostgreSQL: an employer
manages its own endpoints and deliveries; the secret is shown once; another employer's ids
answer 404 everywhere; a partner's key gets 403; a failed delivery is redelivered."""

from __future__ import annotations

import os
import uuid

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from plumbing import problems, webhooks
from plumbing.auth import Principal, principal
from plumbing.destinations import Destinations
from plumbing.settings import Settings
from services.employer_gateway.app import DEFINITION as GATEWAY
from tests.integration.test_withdraw_update_erase import make_pool  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration
BOX = webhooks.SecretBox(os.urandom(32))
# The public names these tests register, and internal ones a tenant might try.
ADDRESSES = {"ats.example.com": ["93.184.216.34"], "a.example.com": ["93.184.216.35"],
             "split.example.com": ["93.184.216.36", "10.1.2.3"], "meta.example.com": ["169.254.169.254"]}


async def resolve(host: str, port: int) -> list[str]:
    if host not in ADDRESSES:
        raise OSError("Name or service not known")
    return ADDRESSES[host]


DESTINATIONS = Destinations(resolver=resolve)


def client(pool: asyncpg.Pool, who: Principal) -> httpx.AsyncClient:
    """The gateway's routers, as it mounts them, with `who` as the caller."""
    app = FastAPI()
    problems.install(app)
    for router in GATEWAY.routers:
        app.include_router(router)
    app.state.pool = pool
    app.state.webhook_box = BOX
    app.state.settings = Settings(TALENTLOOP_WEBHOOK_ROTATION_GRACE_S=600)
    app.state.destinations = DESTINATIONS
    app.dependency_overrides[principal] = lambda: who
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


@pytest.fixture
async def gw_pool(make_pool) -> asyncpg.Pool:  # type: ignore[no-untyped-def]  # noqa: F811
    return await make_pool(GATEWAY.migrations)


async def queue(pool: asyncpg.Pool, owner: str, n: int = 1) -> list[str]:
    ids: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        for i in range(n):
            ids += await webhooks.enqueue(
                conn,
                owner,
                event_id=uuid.uuid4(),
                event_type="referral.routed",
                subject=f"ref_{i}",
                data={"referral_id": f"ref_{i}", "state": "routed"},
            )
    return ids


def assert_not_found(r: httpx.Response) -> None:
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("not-found")


async def test_the_secret_is_shown_once_and_stored_only_encrypted(gw_pool):  # type: ignore[no-untyped-def]
    async with client(gw_pool, Principal("employer", "emp1")) as http:
        r = await http.post("/v1/webhooks/endpoints", json={"url": "https://ats.example.com/hooks"})
        assert r.status_code == 201, r.text
        created = r.json()
        secret, endpoint_id = created["secret"], created["endpoint_id"]
        assert secret.startswith("whsec_") and endpoint_id.startswith("whe_") and created["event_types"] == []
        await queue(gw_pool, "employer:emp1")
        [delivery] = (await http.get("/v1/webhooks/deliveries")).json()["items"]
        later = [
            await http.get("/v1/webhooks/endpoints"),
            await http.patch(f"/v1/webhooks/endpoints/{endpoint_id}", json={"url": "https://ats.example.com/v2"}),
            await http.get(f"/v1/webhooks/deliveries/{delivery['delivery_id']}"),
            await http.get("/v1/webhooks/deliveries"),
        ]
        for r in later:
            assert r.status_code == 200 and secret not in r.text and '"secret"' not in r.text, r.text
    sealed = await gw_pool.fetchval("SELECT secret_sealed FROM webhook_endpoints")
    assert secret.encode() not in sealed and BOX.open(endpoint_id, sealed) == secret


async def test_another_employers_ids_are_not_found_and_stay_untouched(gw_pool):  # type: ignore[no-untyped-def]
    async with client(gw_pool, Principal("employer", "emp1")) as mine:
        endpoint_id = (await mine.post("/v1/webhooks/endpoints", json={"url": "https://a.example.com/h"})).json()[
            "endpoint_id"
        ]
    [delivery_id] = await queue(gw_pool, "employer:emp1")
    await gw_pool.execute("UPDATE webhook_deliveries SET status = 'failed', attempts = 12")
    async with client(gw_pool, Principal("employer", "emp2")) as theirs:
        assert (await theirs.get("/v1/webhooks/endpoints")).json() == []
        assert (await theirs.get("/v1/webhooks/deliveries")).json() == {"items": [], "next_after": None}
        for r in [
            await theirs.patch(f"/v1/webhooks/endpoints/{endpoint_id}", json={"active": False}),
            await theirs.delete(f"/v1/webhooks/endpoints/{endpoint_id}"),
            await theirs.post(f"/v1/webhooks/endpoints/{endpoint_id}/rotate-secret"),
            await theirs.get(f"/v1/webhooks/deliveries/{delivery_id}"),
            await theirs.post(f"/v1/webhooks/deliveries/{delivery_id}/redeliver"),
            await theirs.get("/v1/webhooks/deliveries/whd_missing"),
            await theirs.delete("/v1/webhooks/endpoints/whe_missing"),
        ]:
            assert_not_found(r)
    endpoint = await gw_pool.fetchrow("SELECT active, previous_sealed FROM webhook_endpoints")
    assert endpoint["active"] is True and endpoint["previous_sealed"] is None  # not paused, not rotated
    assert await gw_pool.fetchval("SELECT status FROM webhook_deliveries") == "failed"  # not redelivered


async def test_a_partner_key_is_refused_at_the_employer_gateway(gw_pool):  # type: ignore[no-untyped-def]
    async with client(gw_pool, Principal("partner", "p1")) as http:
        r = await http.post("/v1/webhooks/endpoints", json={"url": "https://a.example.com/h"})
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
        assert (await http.get("/v1/webhooks/deliveries")).status_code == 403
    assert await gw_pool.fetchval("SELECT count(*) FROM webhook_endpoints") == 0


async def test_endpoints_that_would_reach_inside_the_network_are_refused(gw_pool):  # type: ignore[no-untyped-def]
    internal = [
        "http://ats.example.com/hooks",  # plain http
        "https://127.0.0.1/hooks", "https://[::1]/hooks", "https://10.0.0.7/hooks", "https://192.168.1.2/hooks",
        "https://169.254.169.254/latest/meta-data", "https://meta.example.com/hooks",
        "https://split.example.com/hooks",  # one private answer among public ones
        "https://postgres/hooks", "https://kafka:9092/", "https://intake:8001/v1/referrals", "https://db.internal/x",
        "https://localhost/hooks", "http://127.0.0.1:8001/hooks",  # loopback http: development setting only
        "https://nowhere.example.com/hooks",  # does not resolve
    ]
    async with client(gw_pool, Principal("employer", "emp1")) as http:
        for url in internal:
            r = await http.post("/v1/webhooks/endpoints", json={"url": url})
            assert r.status_code == 422 and r.json()["errors"][0]["code"] == "bad_url", (url, r.text)
        endpoint_id = (await http.post("/v1/webhooks/endpoints", json={"url": "https://ats.example.com/h"})).json()[
            "endpoint_id"
        ]
        r = await http.patch(f"/v1/webhooks/endpoints/{endpoint_id}", json={"url": "https://169.254.169.254/"})
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "bad_url"
    assert [r["url"] for r in await gw_pool.fetch("SELECT url FROM webhook_endpoints")] == ["https://ats.example.com/h"]


async def test_bad_urls_unknown_event_types_and_empty_patches_are_422(gw_pool):  # type: ignore[no-untyped-def]
    async with client(gw_pool, Principal("employer", "emp1")) as http:
        for bad in ("ftp://ats.example.com/x", "https://user:pw@ats.example.com/x", "ats.example.com/x"):
            r = await http.post("/v1/webhooks/endpoints", json={"url": bad})
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "url", bad
        r = await http.post(
            "/v1/webhooks/endpoints", json={"url": "https://a.example.com/h", "event_types": ["referral.routd"]}
        )
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "unknown_event_type", r.text
        assert "referral.routed" in r.json()["errors"][0]["message"]  # says which types exist
        assert await gw_pool.fetchval("SELECT count(*) FROM webhook_endpoints") == 0
        endpoint_id = (
            await http.post(
                "/v1/webhooks/endpoints", json={"url": "https://a.example.com/h", "event_types": ["referral.stale"]}
            )
        ).json()["endpoint_id"]
        for patch in ({}, {"url": "https://u:p@a.example.com/h"}, {"event_types": ["nope"]}, {"secret": "mine"}):
            r = await http.patch(f"/v1/webhooks/endpoints/{endpoint_id}", json=patch)
            assert r.status_code == 422, (patch, r.text)
        r = await http.patch(f"/v1/webhooks/endpoints/{endpoint_id}", json={"event_types": [], "active": False})
        assert r.status_code == 200 and r.json()["event_types"] == [] and r.json()["active"] is False
        assert (await http.get("/v1/webhooks/endpoints")).json()[0]["url"] == "https://a.example.com/h"


async def test_rotation_returns_a_new_secret_and_keeps_the_old_one_for_the_grace(gw_pool):  # type: ignore[no-untyped-def]
    async with client(gw_pool, Principal("employer", "emp1")) as http:
        created = (await http.post("/v1/webhooks/endpoints", json={"url": "https://a.example.com/h"})).json()
        r = await http.post(f"/v1/webhooks/endpoints/{created['endpoint_id']}/rotate-secret")
        assert r.status_code == 200, r.text
        rotated = r.json()
        assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
        assert rotated["previous_secret_valid_until"] is not None
    row = await gw_pool.fetchrow(
        "SELECT secret_sealed, previous_sealed, previous_until - now() AS grace FROM webhook_endpoints"
    )
    assert BOX.open(created["endpoint_id"], row["secret_sealed"]) == rotated["secret"]
    assert BOX.open(created["endpoint_id"], row["previous_sealed"]) == created["secret"]
    assert 590 <= row["grace"].total_seconds() <= 600  # TALENTLOOP_WEBHOOK_ROTATION_GRACE_S


async def test_the_delivery_log_is_newest_first_and_filters_by_endpoint(gw_pool):  # type: ignore[no-untyped-def]
    """Newest first by when a delivery was queued, pages that hold while new ones come, and one
    endpoint's deliveries on their own."""
    async with client(gw_pool, Principal("employer", "emp3")) as http:
        endpoints = [
            (await http.post("/v1/webhooks/endpoints", json={"url": f"https://{h}/h"})).json()["endpoint_id"]
            for h in ("ats.example.com", "a.example.com")
        ]
        ids = await queue(gw_pool, "employer:emp3", n=3)  # each to both endpoints: 6 deliveries
        assert len(ids) == 6
        for age, delivery_id in enumerate(ids):  # the first queued the oldest
            await gw_pool.execute(
                "UPDATE webhook_deliveries SET created_at = now() - make_interval(mins => $1) WHERE delivery_id = $2",
                len(ids) - age,
                delivery_id,
            )
        first = (await http.get("/v1/webhooks/deliveries", params={"limit": 4})).json()
        assert [d["delivery_id"] for d in first["items"]] == ids[::-1][:4]
        newer = await queue(gw_pool, "employer:emp3", n=1)  # comes while the log is read
        rest = (await http.get("/v1/webhooks/deliveries", params={"limit": 4, "after": first["next_after"]})).json()
        assert [d["delivery_id"] for d in rest["items"]] == ids[::-1][4:] and rest["next_after"] is None
        assert [d["delivery_id"] for d in (await http.get("/v1/webhooks/deliveries")).json()["items"][:2]] == sorted(
            newer, reverse=True
        )
        only_b = (await http.get("/v1/webhooks/deliveries", params={"endpoint_id": endpoints[1]})).json()["items"]
        assert len(only_b) == 4 and {d["endpoint_id"] for d in only_b} == {endpoints[1]}


async def test_the_delivery_log_pages_filters_and_a_failed_delivery_is_redelivered(gw_pool):  # type: ignore[no-untyped-def]
    async with client(gw_pool, Principal("employer", "emp1")) as http:
        endpoint_id = (await http.post("/v1/webhooks/endpoints", json={"url": "https://a.example.com/h"})).json()[
            "endpoint_id"
        ]
        ids = await queue(gw_pool, "employer:emp1", n=3)
        first = (await http.get("/v1/webhooks/deliveries", params={"limit": 2})).json()
        assert len(first["items"]) == 2 and first["next_after"] == first["items"][-1]["delivery_id"]
        rest = (await http.get("/v1/webhooks/deliveries", params={"limit": 2, "after": first["next_after"]})).json()
        assert rest["next_after"] is None
        assert sorted(d["delivery_id"] for d in first["items"] + rest["items"]) == sorted(ids)

        failed_id = ids[0]
        await gw_pool.execute(
            "UPDATE webhook_deliveries SET status = 'failed', attempts = 12, last_status = 503,"
            " next_attempt_at = now() + interval '1 day' WHERE delivery_id = $1",
            failed_id,
        )
        await gw_pool.execute(
            "INSERT INTO webhook_attempts (delivery_id, status_code, duration_ms, error) VALUES ($1, 503, 12, 'HTTP 503')",
            failed_id,
        )
        only_failed = (await http.get("/v1/webhooks/deliveries", params={"status": "failed"})).json()["items"]
        assert [d["delivery_id"] for d in only_failed] == [failed_id]
        assert (await http.get("/v1/webhooks/deliveries", params={"status": "lost"})).status_code == 422

        shown = (await http.get(f"/v1/webhooks/deliveries/{failed_id}")).json()
        assert shown["endpoint_id"] == endpoint_id and shown["body"]["type"] == "referral.routed"
        assert shown["body"]["data"] == {"referral_id": "ref_0", "state": "routed"}
        assert [(a["status_code"], a["error"]) for a in shown["log"]] == [(503, "HTTP 503")]

        r = await http.post(f"/v1/webhooks/deliveries/{failed_id}/redeliver")
        assert r.status_code == 200 and (r.json()["status"], r.json()["attempts"]) == ("pending", 0), r.text
        assert await gw_pool.fetchval(
            "SELECT next_attempt_at <= now() FROM webhook_deliveries WHERE delivery_id = $1", failed_id
        )
        assert len((await http.get(f"/v1/webhooks/deliveries/{failed_id}")).json()["log"]) == 1  # the log stays

        assert (await http.delete(f"/v1/webhooks/endpoints/{endpoint_id}")).status_code == 204
        assert (await http.get("/v1/webhooks/endpoints")).json() == []
        assert (await http.get("/v1/webhooks/deliveries")).json()["items"] == []  # removed with it
        assert_not_found(await http.get(f"/v1/webhooks/deliveries/{failed_id}"))
