"""Supportive services through the support service's HTTP API on real PostgreSQL: the directory,
a request's whole life, tenancy (another partner's referral, enrollment or request is a 404),
idempotency, the stale sweeper on an injected clock, and erasure.

The router runs in-process with its real store and outbox (`World.client`); intake's events are
applied the way the service's consumer applies them (`World.deliver`).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Request

from contracts import Envelope, build, events, payload_of
from plumbing import db, problems, webhooks
from plumbing.auth import Principal, principal
from plumbing.consumer import EventConsumer, Record
from plumbing.context import Deps
from plumbing.destinations import Destinations
from plumbing.settings import Settings
from services.support import application, stale
from services.support.app import DEFINITION as SUPPORT
from services.support.domain import StaleRule
from talentloop.waiting import until
from tests.support import training_events as t

pytestmark = pytest.mark.integration
MON = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a Monday
RULE = StaleRule.from_settings(Settings())
T = events.ServiceType
BOX = webhooks.SecretBox(os.urandom(32))  # two business days to answer, ten to deliver


class World:
    """The support service's tables and router, a clock the test moves, and intake's events."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.now = MON
        self.deps = Deps("/talentloop/support", Settings(), clock=lambda: self.now)
        self.consumer = EventConsumer(
            SUPPORT.name,
            pool,
            None,
            handlers=SUPPORT.handlers,
            batch_handler=SUPPORT.batch_handler,  # type: ignore[arg-type]
            deps=self.deps,
        )

    def client(self, partner: str) -> httpx.AsyncClient:
        app = FastAPI()
        problems.install(app)

        @app.middleware("http")
        async def correlate(request: Request, call_next):  # type: ignore[no-untyped-def]
            request.state.correlation_id = "test"
            return await call_next(request)

        for router in SUPPORT.routers:
            app.include_router(router)
        app.state.pool, app.state.deps, app.state.stale_rule = self.pool, self.deps, RULE
        # Providers' webhook endpoints: secrets sealed under a test key, receivers on loopback.
        app.state.settings, app.state.webhook_box = self.deps.settings, BOX
        app.state.destinations = Destinations(allow_loopback_http=True)
        app.dependency_overrides[principal] = lambda: Principal("partner", partner)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://support")

    async def deliver(self, payload: events.Payload) -> Envelope:
        env = build(payload, source="/test", correlation_id="test")
        record = Record(payload.topic.name, 0, 0, env.subject.encode(), env.to_bytes())
        assert await self.consumer.process(record) == "applied"
        return env

    async def emitted(self, *, publish: bool = False) -> list[Envelope]:
        if publish:
            await self.pool.execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
        rows = await self.pool.fetch("SELECT value FROM outbox WHERE topic = 'talentloop.services' ORDER BY id")
        return [Envelope.from_bytes(r["value"]) for r in rows]


@pytest.fixture
async def world(pool: asyncpg.Pool) -> AsyncIterator[World]:
    await db.migrate(pool, SUPPORT.migrations)
    yield World(pool)


def referral(ref: str, partner: str, cand: str) -> events.ReferralSubmittedV2:
    return events.ReferralSubmittedV2(
        referral_id=ref,
        partner_id=partner,
        candidate_id=cand,
        skills=[{"id": None, "text": "driving"}],
        skills_vocabulary="2026.11",
        consent=events.ConsentScope(share_with_employers=True, aggregate_reports=True, given_at=MON),
    )


async def ok(r: httpx.Response, status: int = 200) -> dict:
    assert r.status_code == status, r.text
    return r.json()


def problem(r: httpx.Response, status: int, slug: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    doc = r.json()
    assert doc["type"].endswith(f":{slug}"), doc
    return doc


RIDES = {"name": "Eastside Rides", "service_types": ["transportation"]}
ASK = {
    "provider_id": "rides",
    "service_type": "transportation",
    "enrollment_id": "enr_1",
    "reason": "Bus pass",
    "amount_requested": {"amount": "40.00"},
}


async def test_a_training_provider_asks_for_a_ride_the_provider_accepts_and_delivers(world: World) -> None:
    await world.deliver(t.enrolled("enr_1", "cand_1", partner="trainer"))
    async with world.client("rides") as rides, world.client("trainer") as trainer, world.client("other") as other:
        registered = await ok(await rides.post("/v1/service-provider", json=RIDES), 201)
        assert registered["event"]["type"] == "service_provider.registered.v1"
        same = await ok(await rides.post("/v1/service-provider", json=RIDES))
        assert same["event"] is None  # nothing changed, nothing published
        both = {**RIDES, "service_types": ["technology", "transportation"]}
        assert (await ok(await rides.post("/v1/service-provider", json=both)))["event"]["type"] == (
            "service_provider.updated.v1"
        )
        assert [
            p["provider_id"] for p in await ok(await other.get("/v1/service-providers?service_type=technology"))
        ] == ["rides"]
        assert await ok(await other.get("/v1/service-providers?service_type=housing")) == []

        asked = await ok(await trainer.post("/v1/service-requests", json=ASK), 201)
        rid = asked["request_id"]
        assert asked["state"] == "requested"
        # Someone else's enrollment, an unknown one and an unknown provider: 404 alike.
        problem(await other.post("/v1/service-requests", json=ASK), 404, "not-found")
        problem(await trainer.post("/v1/service-requests", json={**ASK, "enrollment_id": "enr_x"}), 404, "not-found")
        problem(await trainer.post("/v1/service-requests", json={**ASK, "provider_id": "nobody"}), 404, "not-found")
        refused = problem(
            await trainer.post("/v1/service-requests", json={**ASK, "service_type": "housing"}), 422, "inconsistent"
        )
        assert [e["field"] for e in refused["errors"]] == ["service_type"]

        # Each side sees it; the provider not which enrollment, nor the candidate.
        mine = (await ok(await trainer.get("/v1/service-requests")))["items"]
        assert [(r["request_id"], r["enrollment_id"]) for r in mine] == [(rid, "enr_1")]
        assert "candidate_id" not in mine[0]  # a partner is never told the network's id of a person
        (addressed,) = (await ok(await rides.get("/v1/service-provider/requests")))["items"]
        assert addressed["request_id"] == rid and "enrollment_id" not in addressed and "candidate_id" not in addressed
        assert addressed["amount_requested"] == {"amount": "40.00", "currency": "USD"}
        problem(await other.get(f"/v1/service-requests/{rid}"), 404, "not-found")
        assert (await ok(await other.get("/v1/service-provider/requests")))["items"] == []
        problem(await other.post(f"/v1/service-requests/{rid}/accept"), 404, "not-found")
        problem(await trainer.post(f"/v1/service-requests/{rid}/accept"), 403, "forbidden")  # not the provider
        problem(await rides.post(f"/v1/service-requests/{rid}/cancel", json={"reason": "no"}), 403, "forbidden")

        world.now = MON + timedelta(days=1)
        assert (await ok(await rides.post(f"/v1/service-requests/{rid}/accept")))["state"] == "accepted"
        problem(
            await rides.post(f"/v1/service-requests/{rid}/deliver", json={"delivered_on": "2026-12-05"}),
            422,
            "inconsistent",
        )  # in the future of the service's clock
        value = {"delivered_on": "2026-12-01", "value": {"amount": "40"}}
        assert (await ok(await rides.post(f"/v1/service-requests/{rid}/deliver", json=value)))["state"] == "delivered"
        ended = problem(
            await trainer.post(f"/v1/service-requests/{rid}/cancel", json={"reason": "late"}), 409, "invalid-transition"
        )
        assert ended["current_state"] == "delivered"
        problem(
            await rides.post(f"/v1/service-requests/{rid}/decline", json={"reason_code": "duplicate"}),
            409,
            "invalid-transition",
        )
        seen = await ok(await trainer.get(f"/v1/service-requests/{rid}"))
        assert (seen["state"], seen["delivered_on"], seen["value_delivered"]) == (
            "delivered",
            "2026-12-01",
            {"amount": "40.00", "currency": "USD"},
        )

    sent = await world.emitted()
    assert [e.type for e in sent] == [
        "service_provider.registered.v1",
        "service_provider.updated.v1",
        "service.requested.v1",
        "service.accepted.v1",
        "service.delivered.v1",
    ]
    assert [e.partnerid for e in sent] == ["rides", "rides", "trainer", "trainer", "trainer"]
    requested = payload_of(sent[2])
    assert isinstance(requested, events.ServiceRequestedV1)
    assert (requested.candidate_id, requested.enrollment_id, requested.referral_id) == ("cand_1", "enr_1", None)
    assert sent[3].time == MON + timedelta(days=1)  # the service's clock dates its events


async def test_a_referring_partner_asks_by_referral_declined_or_cancelled_from_either_open_state(world: World) -> None:
    await world.deliver(referral("ref_1", "northside", "cand_2"))
    async with world.client("rides") as rides, world.client("northside") as northside:
        await ok(await rides.post("/v1/service-provider", json=RIDES), 201)
        ask = {**ASK, "enrollment_id": None, "referral_id": "ref_1", "amount_requested": None}
        first = (await ok(await northside.post("/v1/service-requests", json=ask), 201))["request_id"]
        second = (await ok(await northside.post("/v1/service-requests", json=ask), 201))["request_id"]
        await ok(await rides.post(f"/v1/service-requests/{first}/accept"))
        declined = {"reason_code": "out_of_area", "detail": "East side only"}
        assert (await ok(await rides.post(f"/v1/service-requests/{first}/decline", json=declined)))[
            "state"
        ] == "declined"
        cancelled = await ok(await northside.post(f"/v1/service-requests/{second}/cancel", json={"reason": "carpool"}))
        assert cancelled["state"] == "cancelled"
        states = {r["request_id"]: r for r in (await ok(await northside.get("/v1/service-requests")))["items"]}
        assert (states[first]["decline_reason"], states[first]["decline_detail"]) == ("out_of_area", "East side only")
        assert states[second]["cancel_reason"] == "carpool"
        only = (await ok(await northside.get("/v1/service-requests?status=cancelled")))["items"]
        assert [r["request_id"] for r in only] == [second]


async def test_a_post_with_an_idempotency_key_runs_once(world: World) -> None:
    await world.deliver(t.enrolled("enr_1", "cand_1", partner="trainer"))
    async with world.client("rides") as rides, world.client("trainer") as trainer:
        await ok(await rides.post("/v1/service-provider", json=RIDES), 201)
        key = {"Idempotency-Key": "ask-1"}
        first = await trainer.post("/v1/service-requests", json=ASK, headers=key)
        again = await trainer.post("/v1/service-requests", json=ASK, headers=key)
        assert first.status_code == again.status_code == 201 and first.json() == again.json()
        assert again.headers.get("Idempotent-Replayed") == "true"
        problem(
            await trainer.post("/v1/service-requests", json={**ASK, "reason": "Other"}, headers=key),
            422,
            "idempotency-key-reused",
        )
        rid = first.json()["request_id"]
        accepts = [
            await rides.post(f"/v1/service-requests/{rid}/accept", headers={"Idempotency-Key": "acc"}) for _ in "ab"
        ]
        assert [r.status_code for r in accepts] == [200, 200]
    assert [e.type for e in await world.emitted()].count("service.requested.v1") == 1
    assert [e.type for e in await world.emitted()].count("service.accepted.v1") == 1


async def test_the_sweeper_flags_a_request_once_in_each_state_it_waits_too_long_in(world: World) -> None:
    await world.deliver(t.enrolled("enr_1", "cand_1", partner="trainer"))
    async with world.client("rides") as rides, world.client("trainer") as trainer:
        await ok(await rides.post("/v1/service-provider", json=RIDES), 201)
        rid = (await ok(await trainer.post("/v1/service-requests", json=ASK), 201))["request_id"]
        world.now = MON + timedelta(days=2) - timedelta(seconds=1)
        assert await stale.sweep_once(world.pool, world.deps, RULE) == 0
        (item,) = (await ok(await rides.get("/v1/service-provider/requests")))["items"]
        assert item["waiting_too_long"] is False and item["due_at"] == (MON + timedelta(days=2)).isoformat()
        world.now = MON + timedelta(days=2)  # Wednesday 09:00: two business days unanswered
        assert await stale.sweep_once(world.pool, world.deps, RULE) == 1
        assert await stale.sweep_once(world.pool, world.deps, RULE) == 0  # once
        (item,) = (await ok(await rides.get("/v1/service-provider/requests")))["items"]
        assert item["waiting_too_long"] is True and item["flagged_stale_at"] == world.now.isoformat()
        await ok(await rides.post(f"/v1/service-requests/{rid}/accept"))
        world.now += timedelta(days=14) - timedelta(seconds=1)
        assert await stale.sweep_once(world.pool, world.deps, RULE) == 0
        world.now += timedelta(seconds=1)  # ten business days accepted, not delivered
        assert await stale.sweep_once(world.pool, world.deps, RULE) == 1
    flags = [payload_of(e) for e in await world.emitted() if e.type == "service.stale.v1"]
    assert [(f.waiting_in.value, f.business_days) for f in flags] == [("requested", 2), ("accepted", 10)]


async def test_erasure_strips_the_words_re_keys_the_requests_and_closes_the_person_to_new_ones(world: World) -> None:
    await world.deliver(t.enrolled("enr_1", "cand_1", partner="trainer"))
    await world.deliver(t.enrolled("enr_2", "cand_2", partner="trainer"))
    async with world.client("rides") as rides, world.client("trainer") as trainer:
        await ok(await rides.post("/v1/service-provider", json=RIDES), 201)
        erased_rid = (
            await ok(await trainer.post("/v1/service-requests", json=ASK, headers={"Idempotency-Key": "k"}), 201)
        )["request_id"]
        kept_rid = (await ok(await trainer.post("/v1/service-requests", json={**ASK, "enrollment_id": "enr_2"}), 201))[
            "request_id"
        ]
        decline = {"reason_code": "other", "detail": "Cannot reach her at her address"}
        await ok(await rides.post(f"/v1/service-requests/{erased_rid}/decline", json=decline))
        await world.emitted(publish=True)
        await world.deliver(t.erased("cand_1", [], ["enr_1"]))
        # An erasure that names an enrollment not seen yet: it stays erased when it arrives.
        await world.deliver(t.erased("cand_3", [], ["enr_3"]))
        await world.deliver(t.enrolled("enr_3", "cand_3", partner="trainer"))

        gone = await ok(await trainer.get(f"/v1/service-requests/{erased_rid}"))
        assert (gone["reason"], gone["decline_detail"], gone["state"], gone["decline_reason"]) == (
            None,
            None,
            "declined",
            "other",
        )
        assert (await ok(await trainer.get(f"/v1/service-requests/{kept_rid}")))["reason"] == "Bus pass"
        rekeyed = {r["request_id"]: r["candidate_id"] for r in await world.pool.fetch("SELECT * FROM requests")}
        assert rekeyed == {erased_rid: "erased", kept_rid: "cand_2"}
        for erased_enrollment in ("enr_1", "enr_3"):
            problem(
                await trainer.post("/v1/service-requests", json={**ASK, "enrollment_id": erased_enrollment}),
                404,
                "not-found",
            )
    about = [
        json.loads(r["value"])["data"]
        for r in await world.pool.fetch("SELECT value FROM outbox WHERE key = $1 ORDER BY id", erased_rid)
    ]
    assert about[0]["candidate_id"] == "erased" and "reason" not in about[0]
    assert "detail" not in about[1] and about[1]["reason_code"] == "other"
    assert "Bus pass" in (await world.pool.fetchval("SELECT value FROM outbox WHERE key = $1", kept_rid)).decode()
    assert "cand_1" not in await world.pool.fetchval("SELECT response::text FROM idempotency_keys WHERE key = 'k'")


async def test_a_batch_applies_people_and_erasures_in_record_order(world: World) -> None:
    batch = [
        t.enrolled("enr_5", "cand_5", partner="trainer"),
        t.erased("cand_5", [], ["enr_5"]),
        t.enrolled("enr_6", "cand_6", partner="trainer"),
        referral("ref_7", "trainer", "cand_7"),
    ]
    records = [
        Record(p.topic.name, 0, i, p.subject().encode(), build(p, source="/test", correlation_id="t").to_bytes())
        for i, p in enumerate(batch)
    ]
    await world.consumer.process_batch(records)
    people = {
        r["ref_id"]: (r["owner_id"], r["candidate_id"], r["erased_at"] is not None)
        for r in await world.pool.fetch("SELECT * FROM people")
    }
    assert people == {
        "enr_5": ("trainer", "erased", True),
        "enr_6": ("trainer", "cand_6", False),
        "ref_7": ("trainer", "cand_7", False),
    }


async def test_a_request_made_while_its_enrollment_is_erased_is_erased_too(world: World) -> None:
    """The request's transaction reads the enrollment, the erasure's arrives before it commits:
    the erasure waits for it (the person's row is read FOR SHARE) and then finds the request,
    instead of missing it and leaving its words and candidate id behind."""
    await world.deliver(t.enrolled("enr_1", "cand_1", partner="trainer"))
    async with world.client("rides") as rides:
        await ok(await rides.post("/v1/service-provider", json=RIDES), 201)
    erasure = build(t.erased("cand_1", [], ["enr_1"]), source="/test", correlation_id="test")
    async with world.pool.acquire() as asking, world.pool.acquire() as erasing:
        tx = asking.transaction()
        await tx.start()
        made = await application.request_service(
            world.deps.bind(asking), "trainer", "rides", "enrollment", "enr_1", T.transportation, "Bus pass", None, "c"
        )

        async def erase() -> None:
            async with erasing.transaction():
                await application.erase_candidate(world.deps.bind(erasing), erasure, payload_of(erasure))

        erasing_pid = erasing.get_server_pid()
        erased = asyncio.create_task(erase())

        async def waits_or_done() -> bool | None:
            if erased.done():
                return True
            state = await world.pool.fetchval(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", erasing_pid
            )
            return True if state == "Lock" else None

        await until("the erasure to finish or wait for the request's transaction", waits_or_done, timeout=10)
        await tx.commit()
        await erased
    row = await world.pool.fetchrow(
        "SELECT candidate_id, reason FROM requests WHERE request_id = $1", made["request_id"]
    )
    assert (row["candidate_id"], row["reason"]) == ("erased", None)


async def test_a_request_whose_person_was_erased_takes_no_action_and_is_not_flagged(world: World) -> None:
    """After an erasure a request may still be open; no action may add words about the person
    (a cancellation's reason, a decline's detail) or move it on: each is a 409 `request-erased`,
    nothing stored or published. The sweeper does not flag it, nor the provider's list count it
    as waiting too long."""
    await world.deliver(t.enrolled("enr_1", "cand_1", partner="trainer"))
    await world.deliver(t.enrolled("enr_2", "cand_2", partner="trainer"))
    async with world.client("rides") as rides, world.client("trainer") as trainer:
        await ok(await rides.post("/v1/service-provider", json=RIDES), 201)
        waiting = (await ok(await trainer.post("/v1/service-requests", json=ASK), 201))["request_id"]
        accepted = (await ok(await trainer.post("/v1/service-requests", json={**ASK, "enrollment_id": "enr_2"}), 201))[
            "request_id"
        ]
        await ok(await rides.post(f"/v1/service-requests/{accepted}/accept"))
        await world.deliver(t.erased("cand_1", [], ["enr_1"]))
        await world.deliver(t.erased("cand_2", [], ["enr_2"]))
        before = len(await world.emitted())
        decline = {"reason_code": "other", "detail": "She moved to her sister's"}
        for client, rid, action, body in (
            (trainer, waiting, "cancel", {"reason": "He found a ride with his cousin"}),
            (rides, waiting, "decline", decline),
            (rides, waiting, "accept", None),
            (trainer, accepted, "cancel", {"reason": "He found a ride with his cousin"}),
            (rides, accepted, "decline", decline),
            (rides, accepted, "deliver", {"delivered_on": MON.date().isoformat()}),
        ):
            doc = problem(await client.post(f"/v1/service-requests/{rid}/{action}", json=body), 409, "request-erased")
            assert rid not in doc["detail"] and "cand_" not in doc["detail"]
        assert len(await world.emitted()) == before
        rows = await world.pool.fetch("SELECT state, cancel_reason, decline_detail FROM requests ORDER BY request_id")
        assert sorted(tuple(r) for r in rows) == [("accepted", None, None), ("requested", None, None)]
        world.now = MON + timedelta(days=30)
        assert await stale.sweep_once(world.pool, world.deps, RULE) == 0
        items = (await ok(await rides.get("/v1/service-provider/requests")))["items"]
        assert [(i["waiting_too_long"], i["due_at"]) for i in items] == [(False, None), (False, None)]
