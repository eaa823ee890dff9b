"""The public read endpoints (issue 16 item 6) on real PostgreSQL: `talentloop publish` stores the
release it writes, and outcomes serves exactly that, the last one, without a key; rate-limited."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from plumbing.service import create_app
from services.outcomes.app import DEFINITION as OUTCOMES
from services.outcomes.public_api import PublicSettings, TokenBucket
from services.outcomes.reports import GoodJobPolicy
from talentloop import publish as release
from tests.integration.test_outcomes_ledger import apply
from tests.integration.test_outcomes_pipeline_funnel import training
from tests.integration.test_withdraw_update_erase import consumer_for, make_pool  # noqa: F401
from tests.support import training_events as t

pytestmark = pytest.mark.integration

POLICY = GoodJobPolicy(Decimal("25.00"), "test threshold")
YEAR = 2026  # the training events' (T0 is in November 2026)


def public_client(pool, burst: int = 1000, now=lambda: 0.0) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    app = create_app(OUTCOMES)
    app.state.pool = pool
    app.state.public_limiter = (TokenBucket(60, burst, now), PublicSettings())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://outcomes")


async def publish(database_url: str, schema: str, out: Path) -> dict[str, bytes]:
    files, _ = await release.publish(database_url, schema, YEAR, out, POLICY, 3)
    return files


async def stored(pool) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    return (
        await pool.fetchval("SELECT count(*) FROM releases"),
        await pool.fetchval("SELECT count(*) FROM release_files"),
    )


async def test_what_publish_wrote_is_served_byte_for_byte_without_a_key(stack, make_pool, tmp_path):  # noqa: F811
    consumer = await consumer_for(make_pool, OUTCOMES)
    pool, schema = consumer.pool, await consumer.pool.fetchval("SELECT current_schema()")
    for env in (training(t.program(), 0), training(t.enrolled("enr_1", "cand_a"), 1)):
        await apply(consumer, env)
    async with public_client(pool) as anyone:
        nothing = await anyone.get("/public/release")
        assert nothing.status_code == 404 and nothing.headers["content-type"] == "application/problem+json"

        first = await publish(stack.database_url, schema, tmp_path / "site")
        manifest = await anyone.get("/public/release")
        assert manifest.status_code == 200 and manifest.content == (tmp_path / "site" / "release.json").read_bytes()
        listed = json.loads(manifest.content)
        assert listed["year"] == YEAR and listed["ledger_position"]["events"] == 2
        assert set(listed["files"]) | {"release.json"} == set(first)
        types = {".html": "text/html; charset=utf-8", ".csv": "text/csv; charset=utf-8", ".json": "application/json"}
        for path in first:
            r = await anyone.get(f"/public/release/{path}")
            on_disk = (tmp_path / "site" / path).read_bytes()
            assert r.status_code == 200 and r.content == on_disk, path
            assert r.headers["content-type"] == types[path[path.rfind(".") :]], path
            assert r.headers["etag"] == f'"{hashlib.sha256(on_disk).hexdigest()}"', path
            assert r.headers["cache-control"] == "public, max-age=300"

        page = await anyone.get("/public/release/methods.html")
        assert (
            await anyone.get("/public/release/methods.html", headers={"If-None-Match": page.headers["etag"]})
        ).status_code == 304
        assert (await anyone.get("/public/release/methods.html", headers={"If-None-Match": '"0"'})).status_code == 200
        missing = await anyone.get("/public/release/tables/secret.csv")
        assert missing.status_code == 404 and missing.json()["type"].endswith(":not-found")
        assert (await anyone.get("/public/release/../release.json")).status_code == 404

        assert await stored(pool) == (1, len(first))
        assert await publish(stack.database_url, schema, tmp_path / "again") == first
        assert await stored(pool) == (1, len(first))  # the same release: nothing new

        await apply(consumer, training(t.enrolled("enr_2", "cand_b"), 2))
        (tmp_path / "taken").mkdir()
        (tmp_path / "taken" / "index.html").write_text("someone else's site")
        with pytest.raises(release.NotPublishable):
            await publish(stack.database_url, schema, tmp_path / "taken")
        assert await stored(pool) == (1, len(first))  # refused before anything was stored
        second = await publish(stack.database_url, schema, tmp_path / "site")
        assert second["release.json"] != first["release.json"]
        now = await anyone.get("/public/release")
        assert now.content == second["release.json"] and json.loads(now.content)["ledger_position"]["events"] == 3
        stale = await anyone.get("/public/release/methods.html", headers={"If-None-Match": page.headers["etag"]})
        assert stale.status_code == 200 and stale.content == second["methods.html"] != first["methods.html"]
        assert (await stored(pool))[0] == 2


async def test_the_newest_year_is_served_when_a_past_year_is_published_after_it(stack, make_pool, tmp_path):  # noqa: F811
    """2026 published, then 2025 made again (a past year): stored, but /public/release stays 2026's;
    2026 from a later position then replaces it."""
    consumer = await consumer_for(make_pool, OUTCOMES)
    pool, schema = consumer.pool, await consumer.pool.fetchval("SELECT current_schema()")
    year_before = -24 * 400  # in 2025 (T0 is in November 2026)
    for env in (training(t.program(), year_before), training(t.enrolled("enr_1", "cand_a"), year_before + 1)):
        await apply(consumer, env)
    await apply(consumer, training(t.enrolled("enr_2", "cand_b"), 1))

    async def year(y: int, out: str) -> bytes:
        files, _ = await release.publish(stack.database_url, schema, y, tmp_path / out, POLICY, 3)
        return files["release.json"]

    async with public_client(pool) as anyone:
        newest = await year(YEAR, "y2026")
        past = await year(YEAR - 1, "y2025")  # stored after 2026
        assert await stored(pool) == (2, await pool.fetchval("SELECT count(*) FROM release_files"))
        served = await anyone.get("/public/release")
        assert served.content == newest != past
        await apply(consumer, training(t.enrolled("enr_3", "cand_c"), 2))
        moved = await year(YEAR, "y2026")
        assert (await anyone.get("/public/release")).content == moved != newest


async def test_a_client_past_its_burst_gets_429_with_retry_after(stack, make_pool):  # noqa: F811
    pool = await make_pool(OUTCOMES.migrations)
    clock = [0.0]
    async with public_client(pool, burst=3, now=lambda: clock[0]) as anyone:
        assert [(await anyone.get("/public/release")).status_code for _ in range(3)] == [404, 404, 404]
        refused = await anyone.get("/public/release/methods.html")
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"].endswith(":rate-limited")
        clock[0] += 1  # 60 a minute: one more a second
        assert (await anyone.get("/public/release")).status_code == 404
        assert (await anyone.get("/public/release")).status_code == 429
