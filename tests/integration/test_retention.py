"""Rows that only make delivery safe are deleted once they have served their retention, and
rows still needed (unpublished, parked, pending, recent) never are (plumbing/retention.py)."""

from __future__ import annotations

import uuid

import pytest

from plumbing.retention import Retention, prune_once

pytestmark = pytest.mark.integration

DAY = 86400
RETENTION = Retention(outbox_s=7 * DAY, inbox_s=30 * DAY, idempotency_s=DAY, webhook_deliveries_s=30 * DAY)


async def outbox_row(pool, *, age_days: float, published: bool, parked: bool = False) -> int:  # type: ignore[no-untyped-def]
    return await pool.fetchval(
        "INSERT INTO outbox (event_id, topic, key, value, created_at, published_at, parked_at, park_reason)"
        " VALUES ($1, 't', 'k', '\\x7b7d', now() - make_interval(days => $2),"
        " CASE WHEN $3 THEN now() - make_interval(days => $2) END,"
        " CASE WHEN $4 THEN now() - make_interval(days => $2) END, CASE WHEN $4 THEN 'too large' END)"
        " RETURNING id",
        uuid.uuid4(), age_days, published, parked,
    )


async def delivery(pool, endpoint: str, *, age_days: float, status: str) -> str:  # type: ignore[no-untyped-def]
    delivery_id = f"whd_{uuid.uuid4().hex}"
    await pool.execute(
        "INSERT INTO webhook_deliveries (delivery_id, endpoint_id, owner, event_id, event_type, body, status, created_at)"
        " VALUES ($1, $2, 'partner:p1', $3, 'referral.status_changed', '{}', $4, now() - make_interval(days => $5))",
        delivery_id, endpoint, uuid.uuid4(), status, age_days,
    )
    await pool.execute(
        "INSERT INTO webhook_attempts (delivery_id, status_code, duration_ms) VALUES ($1, 500, 3)", delivery_id
    )
    return delivery_id


async def test_served_rows_past_their_retention_are_pruned_and_every_other_row_stays(pool):
    old_published = [await outbox_row(pool, age_days=8, published=True) for _ in range(3)]
    keep_outbox = {
        await outbox_row(pool, age_days=6, published=True),  # within retention
        await outbox_row(pool, age_days=40, published=False),  # never published: still to go
        await outbox_row(pool, age_days=40, published=False, parked=True),  # parked: an operator decides
    }
    await pool.execute(
        "INSERT INTO inbox (consumer, event_id, applied_at) SELECT 'c', gen_random_uuid(), now() - make_interval(days => d)"
        " FROM unnest(ARRAY[31, 45, 29, 1]::int[]) AS d"
    )
    await pool.execute(
        "INSERT INTO idempotency_keys (principal, key, request_hash, status_code, created_at) VALUES"
        " ('partner:p1', 'old', 'h', 201, now() - interval '25 hours'),"
        " ('partner:p1', 'dead-claim', 'h', NULL, now() - interval '25 hours'),"
        " ('partner:p1', 'new', 'h', 201, now() - interval '23 hours')"
    )
    await pool.execute(
        "INSERT INTO webhook_endpoints (endpoint_id, owner, url, secret_sealed) VALUES ('whe_1', 'partner:p1', 'https://x.example', '\\x00')"
    )
    gone = [await delivery(pool, "whe_1", age_days=31, status=s) for s in ("delivered", "failed")]
    kept = {
        await delivery(pool, "whe_1", age_days=31, status="pending"),  # still being tried
        await delivery(pool, "whe_1", age_days=29, status="delivered"),
    }

    removed = await prune_once(pool, RETENTION, batch=2)  # batches smaller than the work: it loops

    assert removed == {"outbox": 3, "inbox": 2, "idempotency_keys": 2, "webhook_deliveries": 2}
    assert {r["id"] for r in await pool.fetch("SELECT id FROM outbox")} == keep_outbox
    assert not set(old_published) & keep_outbox
    ages = await pool.fetch("SELECT extract(day FROM now() - applied_at)::int AS d FROM inbox ORDER BY 1")
    assert [r["d"] for r in ages] == [1, 29]
    assert {r["key"] for r in await pool.fetch("SELECT key FROM idempotency_keys")} == {"new"}
    assert {r["delivery_id"] for r in await pool.fetch("SELECT delivery_id FROM webhook_deliveries")} == kept
    attempts = {r["delivery_id"] for r in await pool.fetch("SELECT delivery_id FROM webhook_attempts")}
    assert attempts == kept and not attempts & set(gone)  # their attempts go with them
    assert sum((await prune_once(pool, RETENTION)).values()) == 0  # nothing more to do
