"""An opening's lifecycle through the employer gateway's HTTP API, on real PostgreSQL.

The gateway's router runs in-process with its real store and outbox (`gateway_app`); routed
referrals enter its inbox the way its consumer applies them (`deliver`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import asyncpg
import httpx
import pytest

from contracts import Envelope, events, registry
from plumbing import db
from plumbing.consumer import EventConsumer
from plumbing.vault import Vault
from services.employer_gateway.app import DEFINITION as GATEWAY
from tests.integration.test_withdraw_update_erase import deliver, gateway_app, routed, withdrawn

pytestmark = pytest.mark.integration

POSTING = {
    "title": "Junior Software Developer",
    "onet_soc_code": "15-1252.00",
    "required_skills": ["python", "sql"],
    "preferred_skills": ["docker"],
    "capacity": 3,
    "wage": {"amount": "25", "unit": "hour", "currency": "USD"},
    "location": "Bronx, NY",
    "remote": False,
    "required_credentials": [{"name": "OSHA 10", "ctdl_id": "ce-0a1b"}],
    "degree_required": "associate",
}
# What a posting carries when it says nothing of these (opening.posted 1.3).
UNSAID = {"employment_type": None, "apprenticeship_registered": None, "paid": True, "engagement_hours": None,
          "schedule": None, "benefits": None}


@pytest.fixture
async def gateway_pool(pool: asyncpg.Pool) -> asyncpg.Pool:
    await db.migrate(pool, GATEWAY.migrations)
    async with pool.acquire() as conn, conn.transaction():
        await Vault.ensure_schema(conn)
    return pool


async def opening_events(pool: asyncpg.Pool) -> list[Envelope]:
    rows = await pool.fetch("SELECT value FROM outbox WHERE topic = 'talentloop.openings' ORDER BY id")
    return [Envelope.from_bytes(r["value"]) for r in rows]


async def post_opening(http: httpx.AsyncClient, **changes) -> str:  # type: ignore[no-untyped-def]
    r = await http.post("/v1/openings", json={**POSTING, **changes})
    assert r.status_code == 201, r.text
    return r.json()["opening_id"]


async def listed(http: httpx.AsyncClient) -> dict[str, dict]:
    r = await http.get("/v1/openings")
    assert r.status_code == 200, r.text
    return {o["opening_id"]: o for o in r.json()}


async def test_posting_publishes_the_current_opening_posted_with_the_requirements_and_lists_it_open(gateway_pool):
    async with gateway_app(gateway_pool) as http:
        oid = await post_opening(http)
        (posted,) = await opening_events(gateway_pool)
        assert posted.type == "opening.posted.v1" and posted.dataschema == registry.dataschema(events.OpeningPostedV1)
        assert posted.subject == oid
        assert posted.data["required_credentials"] == [{"name": "OSHA 10", "ctdl_id": "ce-0a1b"}]
        assert posted.data["degree_required"] == "associate"
        item = (await listed(http))[oid]
    assert item["state"] == "open" and item["closed_at"] is None and item["updated_at"] is None
    assert {k: item[k] for k in POSTING} == POSTING


async def test_an_update_stores_and_publishes_the_whole_posting(gateway_pool):
    async with gateway_app(gateway_pool) as http:
        oid = await post_opening(http)
        r = await http.patch(
            f"/v1/openings/{oid}",
            json={"title": "Software Developer I", "capacity": 5, "degree_required": None, "remote": True},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        expected = {**POSTING, "title": "Software Developer I", "capacity": 5, "degree_required": None, "remote": True}
        assert {k: body[k] for k in POSTING} == expected and body["state"] == "open"
        assert body["event"]["type"] == "opening.updated.v1" and body["updated_at"] is not None

        posted, update = await opening_events(gateway_pool)
        assert (posted.type, update.type) == ("opening.posted.v1", "opening.updated.v1")
        assert str(update.id) == body["event"]["id"] and update.subject == oid
        # The whole posting as it now is, unchanged parts included.
        assert update.data == {"opening_id": oid, "employer_id": "emp1", **expected, **UNSAID}
        item = (await listed(http))[oid]
        assert {k: item[k] for k in POSTING} == expected

        # A second partial update starts from the first one's result.
        r = await http.patch(f"/v1/openings/{oid}", json={"required_credentials": []})
        assert r.status_code == 200, r.text
        last = (await opening_events(gateway_pool))[-1]
        assert last.data == {"opening_id": oid, "employer_id": "emp1", **expected, **UNSAID, "required_credentials": []}


@pytest.mark.parametrize(
    "body",
    [{}, {"title": None}, {"capacity": 0}, {"required_skills": []}, {"opening_id": "opn_x"}, {"state": "open"}],
)
async def test_an_update_that_is_not_valid_is_422_and_changes_nothing(gateway_pool, body):
    async with gateway_app(gateway_pool) as http:
        oid = await post_opening(http)
        r = await http.patch(f"/v1/openings/{oid}", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["type"].endswith(":validation")
        assert {k: (await listed(http))[oid][k] for k in POSTING} == POSTING
    assert [e.type for e in await opening_events(gateway_pool)] == ["opening.posted.v1"]


@pytest.mark.parametrize("reason", ["closed", "filled"])
async def test_closing_publishes_opening_closed_and_then_updates_and_closes_are_409_naming_the_state(
    gateway_pool, reason
):
    async with gateway_app(gateway_pool) as http:
        oid = await post_opening(http)
        r = await http.post(f"/v1/openings/{oid}/close", json={"reason": reason})
        assert r.status_code == 200, r.text
        closed_at = r.json()["closed_at"]
        assert r.json()["state"] == reason and closed_at is not None
        (closed,) = (await opening_events(gateway_pool))[1:]
        assert closed.type == "opening.closed.v1" and closed.subject == oid
        assert closed.data == {
            "opening_id": oid, "employer_id": "emp1", "reason": reason, "closed_at": closed.data["closed_at"]
        }
        assert datetime.fromisoformat(closed.data["closed_at"]) == datetime.fromisoformat(closed_at)

        for attempt in [
            http.patch(f"/v1/openings/{oid}", json={"title": "Reopened?"}),
            http.patch(f"/v1/openings/{oid}", json={"capacity": 9}),
            http.post(f"/v1/openings/{oid}/close", json={"reason": "closed"}),
            http.post(f"/v1/openings/{oid}/close", json={"reason": "filled"}),
        ]:
            r = await attempt
            assert r.status_code == 409, r.text
            problem = r.json()
            assert problem["type"].endswith(":invalid-transition") and problem["current_state"] == reason
            assert f"an opening that is {reason}" in problem["detail"]
        item = (await listed(http))[oid]
    assert item["state"] == reason and item["closed_at"] == closed_at
    assert item["title"] == POSTING["title"] and item["capacity"] == 3
    assert [e.type for e in await opening_events(gateway_pool)] == ["opening.posted.v1", "opening.closed.v1"]


async def test_capacity_may_not_go_below_the_referrals_routed_and_still_in_play(gateway_pool):
    consumer = EventConsumer(GATEWAY.name, gateway_pool, None, handlers=GATEWAY.handlers)  # type: ignore[arg-type]
    async with gateway_app(gateway_pool) as http:
        oid = await post_opening(http, capacity=4)
        for ref in ("ref_a", "ref_b", "ref_withdrawn", "ref_declined"):
            await deliver(consumer, routed(ref, cand=f"cand_{ref}").model_copy(update={"opening_id": oid}))
        await deliver(consumer, routed("ref_elsewhere", cand="cand_x"))  # another opening: not counted
        await deliver(consumer, withdrawn("ref_withdrawn", cand="cand_ref_withdrawn"))
        r = await http.post("/v1/referrals/ref_declined/decline", json={"reason": "no_capacity"})
        assert r.status_code == 200, r.text

        r = await http.patch(f"/v1/openings/{oid}", json={"capacity": 1})
        assert r.status_code == 409, r.text
        assert r.json()["type"].endswith(":capacity-below-routed") and r.json()["routed"] == 2
        assert (await listed(http))[oid]["capacity"] == 4

        r = await http.patch(f"/v1/openings/{oid}", json={"capacity": 2})
        assert r.status_code == 200 and r.json()["capacity"] == 2
    updates = [e for e in await opening_events(gateway_pool) if e.type == "opening.updated.v1"]
    assert [e.data["capacity"] for e in updates] == [2]


async def test_another_employers_opening_is_404_on_every_openings_route(gateway_pool):
    async with gateway_app(gateway_pool, "emp1") as mine, gateway_app(gateway_pool, "emp2") as theirs:
        oid = await post_opening(mine)
        for path_id in (oid, "opn_does_not_exist"):
            for attempt in [
                theirs.patch(f"/v1/openings/{path_id}", json={"title": "Hijacked"}),
                theirs.patch(f"/v1/openings/{path_id}", json={"title": "Hijacked"}, headers={"Idempotency-Key": "k1"}),
                theirs.post(f"/v1/openings/{path_id}/close", json={"reason": "filled"}),
                theirs.post(
                    f"/v1/openings/{path_id}/close", json={"reason": "closed"}, headers={"Idempotency-Key": "k2"}
                ),
            ]:
                r = await attempt
                assert r.status_code == 404, r.text
                assert r.json()["type"].endswith(":not-found")
        assert await listed(theirs) == {}
        item = (await listed(mine))[oid]
    assert item["state"] == "open" and item["title"] == POSTING["title"]
    assert [e.type for e in await opening_events(gateway_pool)] == ["opening.posted.v1"]
    # A key whose request failed (404) is released: nothing stored for emp2.
    assert await gateway_pool.fetchval("SELECT count(*) FROM idempotency_keys WHERE principal = 'employer:emp2'") == 0


async def test_an_idempotency_key_replays_the_update_and_the_close_without_publishing_twice(gateway_pool):
    async with gateway_app(gateway_pool) as http:
        oid = await post_opening(http)
        key = {"Idempotency-Key": "upd-1"}
        first = await http.patch(f"/v1/openings/{oid}", json={"title": "Renamed"}, headers=key)
        again = await http.patch(f"/v1/openings/{oid}", json={"title": "Renamed"}, headers=key)
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
        other = await http.patch(f"/v1/openings/{oid}", json={"title": "Something else"}, headers=key)
        assert other.status_code == 422 and other.json()["type"].endswith(":idempotency-key-reused")

        key = {"Idempotency-Key": "close-1"}
        first = await http.post(f"/v1/openings/{oid}/close", json={"reason": "filled"}, headers=key)
        again = await http.post(f"/v1/openings/{oid}/close", json={"reason": "filled"}, headers=key)
        assert first.status_code == again.status_code == 200  # the replay, not a 409
        assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
        assert first.json()["state"] == "filled"
        # Without the key, a second close is refused.
        r = await http.post(f"/v1/openings/{oid}/close", json={"reason": "filled"})
        assert r.status_code == 409 and r.json()["current_state"] == "filled"
        assert (await listed(http))[oid]["title"] == "Renamed"
    types = [e.type for e in await opening_events(gateway_pool)]
    assert types == ["opening.posted.v1", "opening.updated.v1", "opening.closed.v1"]


async def test_concurrent_partial_updates_of_one_opening_both_apply(gateway_pool):
    async with gateway_app(gateway_pool) as http:
        oid = await post_opening(http)
        for attempt in range(5):
            title, location = f"Title {attempt}", f"Place {attempt}"
            results = await asyncio.gather(
                http.patch(f"/v1/openings/{oid}", json={"title": title}),
                http.patch(f"/v1/openings/{oid}", json={"location": location}),
            )
            assert [r.status_code for r in results] == [200, 200]
            item = (await listed(http))[oid]
            assert (item["title"], item["location"]) == (title, location), attempt
    last = (await opening_events(gateway_pool))[-1]
    assert (last.data["title"], last.data["location"]) == ("Title 4", "Place 4")


async def declines(pool: asyncpg.Pool) -> dict[str, Envelope]:
    rows = await pool.fetch("SELECT value FROM outbox WHERE topic = 'talentloop.employer-actions' ORDER BY id")
    found = [Envelope.from_bytes(r["value"]) for r in rows]
    return {e.subject: e for e in found if e.type == "referral.declined.v1"}


async def test_closing_declines_the_referrals_still_in_progress_and_those_routed_after_it(gateway_pool):
    consumer = EventConsumer(GATEWAY.name, gateway_pool, None, handlers=GATEWAY.handlers)  # type: ignore[arg-type]
    async with gateway_app(gateway_pool) as http:
        oid = await post_opening(http, capacity=5)
        for ref in ("ref_new", "ref_acked", "ref_placed", "ref_declined"):
            await deliver(consumer, routed(ref, cand=f"cand_{ref}").model_copy(update={"opening_id": oid}))
        assert (await http.post("/v1/referrals/ref_acked/acknowledge")).status_code == 200
        assert (await http.post("/v1/referrals/ref_placed/acknowledge")).status_code == 200
        from tests.integration.test_withdraw_update_erase import PLACEMENT

        assert (await http.post("/v1/referrals/ref_placed/placement", json=PLACEMENT)).status_code == 200
        r = await http.post("/v1/referrals/ref_declined/decline", json={"reason": "candidate_unreachable"})
        assert r.status_code == 200

        r = await http.post(f"/v1/openings/{oid}/close", json={"reason": "filled"})
        assert r.status_code == 200, r.text
        assert r.json()["declined_referrals"] == ["ref_acked", "ref_new"]
        # Routing had already decided for this opening when it closed: declined on arrival.
        await deliver(consumer, routed("ref_late", cand="cand_late").model_copy(update={"opening_id": oid}))

        r = await http.get("/v1/referrals", params={"opening_id": oid})
        states = {i["referral_id"]: (i["state"], i["decline_reason"]) for i in r.json()["items"]}
    assert states == {
        "ref_new": ("declined", "position_filled"),
        "ref_acked": ("declined", "position_filled"),
        "ref_placed": ("placed", None),
        "ref_declined": ("declined", "candidate_unreachable"),
        "ref_late": ("declined", "position_filled"),
    }
    sent = await declines(gateway_pool)
    assert set(sent) == {"ref_new", "ref_acked", "ref_declined", "ref_late"}
    assert sent["ref_late"].data["detail"] == "the employer marked the opening filled"
    assert sent["ref_late"].partnerid == "p1" and sent["ref_late"].causationid is not None


async def test_a_referral_routed_again_is_a_separate_copy_in_each_employers_inbox(gateway_pool):
    consumer = EventConsumer(GATEWAY.name, gateway_pool, None, handlers=GATEWAY.handlers)  # type: ignore[arg-type]
    await deliver(consumer, routed("ref_r", cand="cand_r", employer="emp1"))
    async with gateway_app(gateway_pool, "emp1") as emp1, gateway_app(gateway_pool, "emp2") as emp2:
        r = await emp1.post("/v1/referrals/ref_r/decline", json={"reason": "requirements_not_met"})
        assert r.status_code == 200, r.text
        assert (await emp2.post("/v1/referrals/ref_r/acknowledge")).status_code == 404  # not routed to emp2 yet
        second = routed("ref_r", cand="cand_r", employer="emp2").model_copy(update={"opening_id": "opn2", "attempt": 2})
        await deliver(consumer, second)
        await deliver(consumer, second)  # a redelivery under another event id changes nothing
        assert (await emp2.post("/v1/referrals/ref_r/acknowledge")).status_code == 200
        r = await emp1.post("/v1/referrals/ref_r/acknowledge")
        assert r.status_code == 409 and r.json()["current_state"] == "declined"
        await deliver(consumer, withdrawn("ref_r", cand="cand_r"))
        mine = {i["referral_id"]: i["state"] for i in (await emp1.get("/v1/referrals")).json()["items"]}
        theirs = {i["referral_id"]: i["state"] for i in (await emp2.get("/v1/referrals")).json()["items"]}
    assert mine == {"ref_r": "declined"} and theirs == {"ref_r": "withdrawn"}
