"""Idempotency-Key handling against real PostgreSQL."""

from __future__ import annotations

import json

import pytest

from plumbing import idempotency
from plumbing.auth import Principal
from plumbing.problems import Problem

pytestmark = pytest.mark.integration
WHO = Principal("partner", "p1")


async def effect_counter(pool):
    await pool.execute("CREATE TABLE IF NOT EXISTS effects (n int)")

    async def effect(conn):
        await conn.execute("INSERT INTO effects VALUES (1)")
        return 201, {"count": await conn.fetchval("SELECT count(*) FROM effects")}

    return effect


async def test_replay_conflict_and_reuse(pool):
    effect = await effect_counter(pool)
    first = await idempotency.run_once(pool, WHO, "k1", {"a": 1}, effect)
    again = await idempotency.run_once(pool, WHO, "k1", {"a": 1}, effect)
    assert json.loads(again.body) == json.loads(first.body) == {"count": 1}
    assert again.headers["Idempotent-Replayed"] == "true"
    with pytest.raises(Problem) as reused:
        await idempotency.run_once(pool, WHO, "k1", {"a": 2}, effect)
    assert reused.value.status == 422
    other = await idempotency.run_once(pool, Principal("partner", "p2"), "k1", {"a": 1}, effect)
    assert json.loads(other.body) == {"count": 2}  # keys are scoped to the caller


async def test_in_flight_key_is_409_until_it_expires(pool):
    effect = await effect_counter(pool)
    await pool.execute(
        "INSERT INTO idempotency_keys (principal, key, request_hash) VALUES ($1, 'k2', $2)",
        WHO.ref,
        idempotency.fingerprint({"a": 1}),
    )
    with pytest.raises(Problem) as busy:
        await idempotency.run_once(pool, WHO, "k2", {"a": 1}, effect)
    assert busy.value.status == 409
    # The process that claimed it died: once the claim is old enough, a retry goes through.
    await pool.execute("UPDATE idempotency_keys SET created_at = now() - interval '2 minutes' WHERE key = 'k2'")
    done = await idempotency.run_once(pool, WHO, "k2", {"a": 1}, effect)
    assert done.status_code == 201 and json.loads(done.body) == {"count": 1}


async def test_a_failed_request_releases_its_key(pool):
    async def failing(conn):
        raise Problem(409, "invalid-transition", "nope")

    with pytest.raises(Problem):
        await idempotency.run_once(pool, WHO, "k3", {"a": 1}, failing)
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = 'k3'") == 0


async def test_an_effect_outlasting_its_deadline_is_rolled_back_and_releases_its_key(pool, monkeypatch):
    """A claim expires after IN_FLIGHT_EXPIRY_S; an effect still running then would run twice
    (the retry takes the expired claim over). So the effect is cut off well before."""
    assert idempotency.EFFECT_DEADLINE_S < idempotency.IN_FLIGHT_EXPIRY_S
    monkeypatch.setattr(idempotency, "EFFECT_DEADLINE_S", 0.3)
    effect = await effect_counter(pool)

    async def stuck(conn):
        await effect(conn)
        await conn.execute("SELECT pg_sleep(30)")
        return 201, {}

    with pytest.raises(TimeoutError):
        await idempotency.run_once(pool, WHO, "k4", {"a": 1}, stuck)
    assert await pool.fetchval("SELECT count(*) FROM effects") == 0  # rolled back
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = 'k4'") == 0  # released
    done = await idempotency.run_once(pool, WHO, "k4", {"a": 1}, effect)  # the retry runs once
    assert done.status_code == 201 and json.loads(done.body) == {"count": 1}
