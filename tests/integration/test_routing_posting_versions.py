"""Routing's postings are re-read exactly when one changed (migration 007's `posting_version`):
every column of an opening but its slots and swept hold draws a new version when it changes,
and a batch's catalogue sees a change another connection committed; slots taken alone leave
the index as it was. On real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from plumbing.consumer import EventConsumer
from services.routing import store
from services.routing.app import DEFINITION as ROUTING
from tests.integration import test_withdraw_update_erase as shared
from tests.integration.test_routing_batches import records, scenario
from tests.integration.test_withdraw_update_erase import T0

pytestmark = pytest.mark.integration
make_pool = shared.make_pool

NOT_A_POSTING = {"routed_count", "hold_released", "posting_version"}  # changing these keeps the version

# A different value of a column, by its type (state has a CHECK of its own).
CHANGE = {
    "state": "CASE WHEN state = 'open' THEN 'closed' ELSE 'open' END",
    "text": "coalesce({c}, '') || 'x'",
    "ARRAY": "{c} || ARRAY['x']",
    "integer": "{c} + 1",
    "boolean": "NOT {c}",
    "jsonb": "{c} || '[{{\"name\": \"x\"}}]'::jsonb",
    "timestamp with time zone": "coalesce({c}, now()) + interval '1 second'",
}


class CountingPostings(store.Postings):
    def __init__(self) -> None:
        super().__init__()
        self.reindexed = 0

    async def _reindex(self, conn):  # type: ignore[no-untyped-def]
        self.reindexed += 1
        return await super()._reindex(conn)


async def version(pool: asyncpg.Pool, opening_id: str) -> int:
    return await pool.fetchval("SELECT posting_version FROM openings WHERE opening_id = $1", opening_id)


async def seeded(make_pool) -> asyncpg.Pool:  # type: ignore[no-untyped-def]
    consumer = EventConsumer("routing", await make_pool(ROUTING.migrations), None, handlers=ROUTING.handlers)  # type: ignore[arg-type]
    openings, _ = scenario(1, n_openings=6, n_referrals=0)
    assert (await consumer.process_batch(records(openings)))["applied"] == len(openings)
    return consumer.pool


async def test_every_column_of_a_posting_draws_a_new_version_and_the_slots_do_not(make_pool):
    pool = await seeded(make_pool)
    columns = await pool.fetch(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = 'openings' ORDER BY ordinal_position"
    )
    assert {"routed_count", "posting_version", "title", "state"} <= {c["column_name"] for c in columns}
    oid = "o000"
    for c in columns:
        name = c["column_name"]
        if name in NOT_A_POSTING:
            continue
        change = CHANGE.get(name) or CHANGE.get(c["data_type"])
        assert change, f"openings.{name} ({c['data_type']}): a posting's column? add it to migration 007's trigger"
        before = await version(pool, oid)
        new_id = await pool.fetchval(
            f"UPDATE openings SET {name} = {change.format(c=name)} WHERE opening_id = $1 RETURNING opening_id", oid
        )
        assert await version(pool, new_id) > before, name
        oid = new_id
    for name, change in (("routed_count", "routed_count + 1"), ("hold_released", "NOT hold_released")):
        before = await version(pool, oid)
        await pool.execute(f"UPDATE openings SET {name} = {change} WHERE opening_id = $1", oid)
        assert await version(pool, oid) == before, name
    # an update that sets a posting's columns to what they were keeps the version too
    before = await version(pool, oid)
    await pool.execute("UPDATE openings SET title = title, updated_at = updated_at WHERE opening_id = $1", oid)
    assert await version(pool, oid) == before


async def test_a_batch_reindexes_when_a_posting_changed_and_only_then(make_pool):
    pool = await seeded(make_pool)
    postings = CountingPostings()
    earliest = T0 + timedelta(days=1)

    async def look() -> store.Catalogue:
        async with pool.acquire() as conn:
            found, _ = await postings.catalogue(conn, [], earliest)
        return found

    await look()
    assert postings.reindexed == 1
    await pool.execute("UPDATE openings SET routed_count = routed_count + 1 WHERE opening_id = 'o001'")
    await look()  # slots taken (by this process or another): the same postings
    assert postings.reindexed == 1
    assert postings._index is not None and postings._index.postings["o002"].title == "Job 2"

    await pool.execute("UPDATE openings SET title = 'Renamed', updated_at = now() WHERE opening_id = 'o002'")
    await look()
    assert postings.reindexed == 2 and postings._index.postings["o002"].title == "Renamed"

    await pool.execute("UPDATE openings SET state = 'closed' WHERE opening_id = 'o003'")  # leaves the open set
    await look()
    assert postings.reindexed == 3 and "o003" not in postings._index.ids

    await pool.execute("UPDATE openings SET state = 'open' WHERE opening_id = 'o003'")  # and comes back
    await look()
    assert postings.reindexed == 4 and "o003" in postings._index.ids
    await look()
    assert postings.reindexed == 4
