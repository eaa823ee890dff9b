"""A parked outbox row on the running network: intake's own relay parks a row Kafka refuses,
`talentloop outbox list` (a separate process, finding the database as operators' commands do)
shows it, the console's API (what the portal's Retry button calls) releases it (and the relay parks it again: the cause is
still there), and `talentloop outbox discard --yes` gives it up, recording who."""

from __future__ import annotations

import os
import uuid

import asyncpg
import httpx

from contracts import topics
from plumbing.operations import Operations
from tests.e2e.helpers import OPERATOR, Api, poll
from tests.e2e.ops_helpers import acli, ok_json


async def test_a_row_intakes_relay_parks_is_listed_retried_by_the_console_and_discarded(  # type: ignore[no-untyped-def]
    api: Api, stack, network_config
) -> None:
    key = f"ref_park_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(stack.database_url)
    ops = Operations(api.net.bootstrap, stack.database_url)
    # Larger than any topic takes, as an unbounded field once made one.
    row = await conn.fetchval(
        "INSERT INTO intake.outbox (event_id, topic, key, value) VALUES (gen_random_uuid(), $1, $2, $3)"
        " RETURNING id", topics.REFERRALS.name, key, b"x" * 1_100_000,
    )
    try:

        async def listed() -> dict | None:
            rows = await ok_json(network_config, "outbox", "list", "--service", "intake")
            return next((r for r in rows if r["id"] == row), None)

        parked = await poll("intake's relay to park the row", listed, timeout=60, every=0.5)
        assert (parked["service"], parked["key"], parked["size"]) == ("intake", key, 1_100_000)
        assert "MessageSizeTooLarge" in parked["reason"]

        # The console's API, as the portal's Parked outbox page calls it (with an operator's key).
        bearer = {"Authorization": f"Bearer {api.net.keys[OPERATOR]}"}
        async with httpx.AsyncClient(base_url=api.net.urls["console"], timeout=15.0, headers=bearer) as console:
            listed_there = (await console.get("/api/outbox", params={"service": "intake"})).json()
            assert [(r["id"], r["key"]) for r in listed_there if r["id"] == row] == [(row, key)]
            r = await console.post(f"/api/outbox/intake/{row}/retry")
            assert r.status_code == 200 and r.json()["done"] == [row], r.text

        async def parked_again() -> bool | None:
            state = await conn.fetchrow("SELECT parked_at, park_reason FROM intake.outbox WHERE id = $1", row)
            return True if state["parked_at"] is not None else None

        await poll("the relay to try it again and park it again", parked_again, timeout=30)

        r = await acli(network_config, "outbox", "discard", str(row), "--service", "intake", "--yes")
        assert r.returncode == 0, r.stderr
        assert f"intake: discarded 1 ({row})" in r.stdout
        state = await conn.fetchrow("SELECT discarded_at, park_reason FROM intake.outbox WHERE id = $1", row)
        who = os.environ.get("USER") or os.environ.get("LOGNAME") or "operator"
        assert state["discarded_at"] is not None and state["park_reason"].endswith(f"(discarded by cli:{who})")
        assert row not in [r["id"] for r in await ok_json(network_config, "outbox", "list")]
    finally:
        # Whatever happened above, leave nothing parked for the tests after this one.
        await ops.discard_outbox("intake", [row], by="test cleanup")
        await ops.close()
        await conn.close()
