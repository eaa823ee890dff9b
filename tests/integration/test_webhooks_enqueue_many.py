"""`webhooks.enqueue_many` queues, in one statement, exactly the deliveries `enqueue` queues one
notification at a time (owners, filters, inactive endpoints, repeats), on real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from plumbing import db, webhooks

pytestmark = pytest.mark.integration
BOX = webhooks.SecretBox(os.urandom(32))
AT = datetime(2026, 11, 30, 9, tzinfo=UTC)


@pytest.fixture
async def hooks_pool(pool: asyncpg.Pool) -> asyncpg.Pool:
    await db.migrate(pool)
    return pool


async def endpoints(conn: asyncpg.Connection, tag: str) -> None:
    """employer:a takes everything (two endpoints), employer:b only referral.routed and has an
    inactive endpoint, employer:c none."""
    for url, owner, types in [
        ("https://a.example/1", "employer:a", []), ("https://a.example/2", "employer:a", []),
        ("https://b.example/1", "employer:b", ["referral.routed"]),
    ]:
        await webhooks.create_endpoint(conn, BOX, owner, f"{url}/{tag}", types)
    off, _ = await webhooks.create_endpoint(conn, BOX, "employer:b", f"https://b.example/off/{tag}", [])
    await webhooks.update_endpoint(conn, "employer:b", off["endpoint_id"], {"active": False})


def notifications() -> list[webhooks.Notification]:
    ids = [uuid.uuid4() for _ in range(4)]
    out = []
    for i, owner in enumerate(["employer:a", "employer:b", "employer:c", "employer:b", "employer:a"]):
        for event_type in ("referral.routed", "referral.withdrawn"):
            out.append(webhooks.Notification(
                owner, ids[i % 4], event_type, f"r{i}", {"referral_id": f"r{i}", "state": "routed"}, occurred_at=AT))
    return out  # the fifth repeats the first's event id for the same owner: queued once


async def queued(conn: asyncpg.Connection) -> list[tuple]:
    rows = await conn.fetch(
        "SELECT e.url, d.owner, d.event_id, d.event_type, d.body, d.status FROM webhook_deliveries d"
        " JOIN webhook_endpoints e USING (endpoint_id) ORDER BY e.url, d.event_id, d.event_type"
    )
    return [(r["url"].rsplit("/", 1)[0], *tuple(r)[1:]) for r in rows]


async def test_enqueue_many_queues_what_enqueue_one_by_one_queues(hooks_pool):
    wanted = notifications()
    async with hooks_pool.acquire() as conn, conn.transaction():
        await endpoints(conn, "one")
        one_by_one = []
        for n in wanted:
            one_by_one += await webhooks.enqueue(
                conn, n.owner, event_id=n.event_id, event_type=n.event_type, subject=n.subject, data=n.data,
                occurred_at=n.occurred_at,
            )
        expected = await queued(conn)
        await conn.execute("DELETE FROM webhook_deliveries")
        await conn.execute("DELETE FROM webhook_endpoints")

        await endpoints(conn, "many")
        together = await webhooks.enqueue_many(conn, wanted)
        assert await queued(conn) == expected
        assert len(together) == len(one_by_one) == len(expected)
        # One delivery per endpoint and event id, the first notification's: a has one event id
        # (both types, and the repeat) on each of its 2 endpoints; b two ids, routed only; c none.
        assert len(expected) == 2 + 2
        assert {(url, event_type) for url, _, _, event_type, *_ in expected if "a.example" in url} == {
            ("https://a.example/1", "referral.routed"), ("https://a.example/2", "referral.routed")}
        assert await webhooks.enqueue_many(conn, wanted) == []  # again: nothing new
        assert await webhooks.enqueue_many(conn, []) == []
