"""Rebuild: replaying every topic from offset 0 into empty projections gives the live
projections back (the same hash of their normalized content), after a history with a
re-routed referral, a hire with retention check-ins, an offer turned down and an erasure."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import asyncpg

from services.outcomes import rebuild
from tests.e2e.helpers import Api, opening_body, referral_body, unique
from tests.e2e.test_referral_path import interview_body, placement_body

EMPLOYER, OTHER = "civic-data-labs", "bluewave-fintech"
PARTNER = "riverbend-community-college"


async def test_the_rebuilt_projections_equal_the_live_ones(api: Api, stack) -> None:  # type: ignore[no-untyped-def]
    skill = unique("rb")
    first = await api.open_opening(EMPLOYER, opening_body([skill], capacity=10))  # fair share: 5 per partner
    await api.open_opening(OTHER, opening_body([skill], capacity=2))
    hired, turned_down, rerouted, erased = [await api.refer(PARTNER, referral_body([skill])) for _ in range(4)]
    for r in (hired, turned_down, rerouted, erased):
        await api.wait_in_inbox(EMPLOYER, r, first)

    start = (date.today() - timedelta(days=100)).isoformat()
    for r in (hired, turned_down):
        assert (await api.act(EMPLOYER, r, "acknowledge")).status_code == 200
        assert (await api.act(EMPLOYER, r, "interviews", interview_body())).status_code == 201
        assert (await api.act(EMPLOYER, r, "offers", {**placement_body(), "start_date": start})).status_code == 201
    assert (await api.act(EMPLOYER, hired, "placement", {**placement_body(), "start_date": start})).status_code == 200
    retention = {"milestone_days": 90, "still_employed": True, "checked_on": date.today().isoformat()}
    assert (await api.act(EMPLOYER, hired, "retention", retention)).status_code == 200
    r = await api.act(EMPLOYER, turned_down, "offers/" + (await offer_of(api, turned_down)) + "/declined",
                      {"reason": "compensation"})
    assert r.status_code == 200, r.text
    assert (await api.act(EMPLOYER, rerouted, "decline", {"reason": "no_capacity"})).status_code == 200
    r = await api.http.post(api.url("intake", "/v1/erasures"), json={"referral_id": erased},
                            headers=api.net.auth(f"partner:{PARTNER}"))
    assert r.status_code in (200, 202), r.text

    await api.wait_timeline(hired, lambda t: t["status"] == "retained_90_days", "retained 90 days")
    await api.wait_timeline(turned_down, lambda t: t["status"] == "closed", "offer turned down")
    await api.wait_timeline(rerouted, lambda t: t["status"] == "in_review" and len(t["events"]) >= 4, "routed again")
    await api.wait_timeline(erased, lambda t: t["status"] == "withdrawn", "erased")

    # In this process: two worker processes (one per CPU, the default) each import the service
    # anew, which took most of this test's time for a few hundred events; the worker path is
    # tests/integration/test_outcomes_rebuild.py's (and the outcomes benchmark's).
    result = await rebuild.rebuild(api.net.bootstrap, stack.database_url, schema="outcomes_rebuild_test", batch=200,
                                   workers=1)
    for _ in range(80):  # the live consumers may still be applying the last events
        if result.equal:
            break
        await asyncio.sleep(0.25)
        result.hashes["live"] = await live_hash(stack.database_url)
    assert result.events > 0 and result.hashes["rebuilt"] == result.hashes["live"], result.as_dict()
    assert set(result.hashes["live"]) == set(rebuild.HASHED)

    # The hash sees a difference in one referral's projection (and it is put back after).
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute("UPDATE outcomes.referral_facts SET exit = 'tampered' WHERE referral_id = $1", hired)
        tampered = await live_hash(stack.database_url)
        await conn.execute("UPDATE outcomes.referral_facts SET exit = NULL WHERE referral_id = $1", hired)
    finally:
        await conn.close()
    assert tampered["referral_facts"] != result.hashes["rebuilt"]["referral_facts"]
    assert tampered["ledger"] == result.hashes["rebuilt"]["ledger"]


async def offer_of(api: Api, referral_id: str) -> str:
    r = await api.http.get(api.url("employer_gateway", f"/v1/referrals/{referral_id}"),
                           headers=api.net.auth(f"employer:{EMPLOYER}"))
    return r.json()["offers"][0]["offer_id"]


async def live_hash(database_url: str) -> dict[str, str]:
    from plumbing import db

    pool = await db.create_pool(database_url, "outcomes")
    try:
        return await rebuild.content_hash(pool)
    finally:
        await pool.close()
