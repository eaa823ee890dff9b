"""The held slots routing keeps per opening and partner (`held_slots`, migration 006) equal a
full recount of the slot-holding decisions after randomized takes and releases, on real
PostgreSQL: through the handlers (routing, declines, placements, offers turned down,
withdrawals, erasure, closes), and through arbitrary changes of `decisions` rows."""

from __future__ import annotations

import random

import asyncpg
import pytest

from contracts import events
from plumbing.consumer import EventConsumer
from services.routing.app import DEFINITION as ROUTING
from services.routing.store import HOLDS_SLOT
from tests.integration import test_withdraw_update_erase as shared
from tests.integration.test_routing_matching import referral
from tests.integration.test_routing_placements import declined, offer_turned_down, placement
from tests.integration.test_withdraw_update_erase import T0, deliver, erased, opening, withdrawn

pytestmark = pytest.mark.integration
make_pool = shared.make_pool  # the fixture: one fresh schema per service


@pytest.fixture
async def routing(make_pool) -> EventConsumer:  # type: ignore[no-untyped-def]
    return await shared.consumer_for(make_pool, ROUTING)


async def kept(pool: asyncpg.Pool) -> dict[tuple[str, str], int]:
    return {(r["opening_id"], r["partner_id"]): r["n"] for r in await pool.fetch("SELECT * FROM held_slots")}


async def recount(pool: asyncpg.Pool) -> dict[tuple[str, str], int]:
    rows = await pool.fetch(
        "SELECT opening_id, coalesce(partner_id, '') AS partner_id, count(*) AS n FROM decisions"
        f" WHERE opening_id IS NOT NULL AND {HOLDS_SLOT} GROUP BY 1, 2"
    )
    return {(r["opening_id"], r["partner_id"]): r["n"] for r in rows}


async def assert_counts_hold(pool: asyncpg.Pool) -> None:
    held = await kept(pool)
    assert held == await recount(pool)
    per_opening: dict[str, int] = {}
    for (oid, _), n in held.items():
        per_opening[oid] = per_opening.get(oid, 0) + n
    # A placement learnt of after its withdrawal retakes its slot, even beyond the capacity
    # (migration 005); otherwise no opening holds more than its capacity.
    over_ok = {
        r["opening_id"]
        for r in await pool.fetch(
            "SELECT DISTINCT opening_id FROM decisions WHERE outcome = 'placed' AND withdrawn_at IS NOT NULL"
        )
    }
    for r in await pool.fetch("SELECT opening_id, capacity, routed_count FROM openings"):
        assert r["routed_count"] == per_opening.get(r["opening_id"], 0)
        assert r["opening_id"] in over_ok or r["routed_count"] <= r["capacity"]


async def test_held_slots_equal_a_recount_after_random_events(routing):
    rnd = random.Random(20261201)
    skills = ["python", "sql", "docker"]
    for i in range(6):
        await deliver(routing, opening(f"o{i}", [rnd.choice(skills)], capacity=rnd.randint(1, 3)), time=T0)
    submitted: list[str] = []
    seen: set[str] = set()  # outcomes the decisions went through
    done: set[str] = set()  # the kinds of events delivered
    for step in range(120):
        pool = routing.pool
        rows = await pool.fetch("SELECT referral_id, outcome, opening_id, withdrawn_at FROM decisions")
        seen |= {r["outcome"] for r in rows}
        routed_ = [r for r in rows if r["outcome"] == "routed" and r["withdrawn_at"] is None]
        placed = [r for r in rows if r["outcome"] in ("routed", "placed")]
        kind = rnd.choices(
            ["submit", "withdraw", "decline", "place", "turn_down", "erase", "close"], weights=[8, 2, 2, 2, 2, 1, 1]
        )[0]
        if kind == "submit" or not submitted:
            done.add("submit")
            ref = f"r{step}"
            submitted.append(ref)
            await deliver(routing, referral(ref, *rnd.sample(skills, 2), partner=rnd.choice(["p1", "p2", "p3"])))
        elif kind == "withdraw":
            done.add("withdraw")
            await deliver(routing, withdrawn(rnd.choice(submitted), cand=f"cand_{step}"))
        elif kind == "decline" and routed_:
            done.add("decline")
            r = rnd.choice(routed_)
            await deliver(routing, declined(r["referral_id"], r["opening_id"]))
        elif kind == "place" and placed:
            done.add("place")
            r = rnd.choice(placed)
            await deliver(routing, placement(r["referral_id"], r["opening_id"]))
        elif kind == "turn_down" and placed:
            done.add("turn_down")
            r = rnd.choice(placed)
            await deliver(routing, offer_turned_down(r["referral_id"], r["opening_id"]))
        elif kind == "erase":
            done.add("erase")
            ref = rnd.choice(submitted)
            await deliver(routing, erased(f"cand_{ref}", ref))
        elif kind == "close":
            done.add("close")
            oid = f"o{rnd.randrange(6)}"
            await deliver(
                routing,
                events.OpeningClosedV1(
                    opening_id=oid, employer_id="emp1", reason=events.OpeningCloseReason.filled, closed_at=T0
                ),
            )
        await assert_counts_hold(pool)
    assert {"routed", "placed", "offer_declined"} <= seen  # slots were taken and released
    assert done == {"submit", "withdraw", "decline", "place", "turn_down", "erase", "close"}


async def test_held_slots_follow_any_change_of_decisions(routing):
    """Inserts, updates and deletes of many rows at once, in every transition between the
    outcomes, partners and openings: the triggers keep the counts whatever statement changes them."""
    pool = routing.pool
    rnd = random.Random(7)
    for i in range(4):
        await deliver(routing, opening(f"o{i}", ["python"], capacity=1000), time=T0)
    outcomes = ["routed", "placed", "unmatched", "declined", "withdrawn", "offer_declined"]

    def row(i: int) -> tuple[object, ...]:
        outcome = rnd.choice(outcomes)
        withdrawn_at = T0 if outcome == "withdrawn" or rnd.random() < 0.3 else None
        return (
            f"d{i}",
            rnd.choice(["p1", "p2", None]) if outcome == "withdrawn" else rnd.choice(["p1", "p2"]),
            outcome,
            rnd.choice([None, "o0", "o1", "o2", "o3"]),
            withdrawn_at,
        )

    for _ in range(40):
        op = rnd.choice(["insert", "update", "delete"])
        ids = [rnd.randrange(60) for _ in range(rnd.randint(1, 8))]
        async with pool.acquire() as conn, conn.transaction():
            if op == "insert":
                await conn.executemany(
                    "INSERT INTO decisions (referral_id, partner_id, outcome, opening_id, withdrawn_at)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (referral_id) DO NOTHING",
                    [row(i) for i in ids],
                )
            elif op == "update":
                await conn.execute(
                    "UPDATE decisions SET outcome = $2, opening_id = $3, partner_id = $4,"
                    " withdrawn_at = CASE WHEN $2 = 'withdrawn' THEN $5::timestamptz END"
                    " WHERE referral_id = ANY($1)",
                    [f"d{i}" for i in ids],
                    rnd.choice(outcomes[:4]),
                    rnd.choice(["o0", "o1", "o2", "o3"]),
                    rnd.choice(["p1", "p2"]),
                    T0,
                )
            else:
                await conn.execute("DELETE FROM decisions WHERE referral_id = ANY($1)", [f"d{i}" for i in ids])
        assert await kept(pool) == await recount(pool)
    assert await kept(pool)
