"""The closed loops of issue 15 items 3 and 6 on a real database: a training provider hears what
came of its participants' referrals by other partners (only with their consent, once when the
enrollment arrives late, nothing after consent is withdrawn or the person erased); a service
request is projected into `service_requests` and its requester hears each status; an erasure
re-keys and strips requests, and the result does not depend on the order a rebuild applies
them in; an operator's journey of a person over HTTP."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from contracts import Envelope, build, events, payload_of
from plumbing import db, problems, webhooks
from plumbing.auth import Principal, principal
from plumbing.context import Deps
from services.outcomes import api as outcomes_api
from services.outcomes import rebuild, store
from services.outcomes.handlers import batch_handler
from tests.integration.test_outcomes_store import lifecycle
from tests.integration.test_outcomes_training import applied, schemas  # noqa: F401
from tests.support import training_events as t

pytestmark = pytest.mark.integration
T0 = datetime(2026, 9, 1, tzinfo=UTC)
MIGRATIONS = rebuild.DEFINITION.migrations


def at(payload: events.Payload, hours: float, partner: str | None = None) -> Envelope:
    return build(payload, source="/t", correlation_id="c", partner_id=partner, time=T0 + timedelta(hours=hours))


def referral(ref: str, cand: str, start: float, steps: int = 6) -> list[Envelope]:
    """A referral by p1 of `cand`: submitted, routed, acknowledged, interviewed, placed."""
    out = []
    for i, p in enumerate(lifecycle(ref)[:steps]):
        if isinstance(p, (events.ReferralSubmittedV2, events.ReferralRoutedV1)):
            p = p.model_copy(update={"candidate_id": cand})
        out.append(at(p, start + i, "p1"))
    return out


def ids(req: str, requester: str = "p1", provider: str = "sp") -> dict[str, str]:
    return {"request_id": req, "requester_id": requester, "provider_id": provider}


def requested(req: str, cand: str, *, ref: str | None = None, enr: str | None = None, requester: str = "p1",
              amount: str | None = "50") -> events.ServiceRequestedV1:
    return events.ServiceRequestedV1(
        **ids(req, requester), candidate_id=cand, referral_id=ref, enrollment_id=enr,
        service_type=events.ServiceType.transportation, reason="Bus fare to the first weeks of work",
        amount_requested=events.Money(amount=amount) if amount else None)


async def live(pool: asyncpg.Pool, batch: list[Envelope]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await batch_handler(live=True)(Deps.of("outcomes").bind(conn), [(e, payload_of(e)) for e in batch])


async def told(pool: asyncpg.Pool, event_type: str) -> list[dict]:
    rows = await pool.fetch("SELECT value FROM outbox WHERE topic = 'talentloop.partner-status' ORDER BY id")
    return [e.data for e in map(Envelope.from_bytes, (r["value"] for r in rows)) if e.type == event_type]


def app_for(pool: asyncpg.Pool, who: Principal) -> httpx.AsyncClient:
    app = FastAPI()
    problems.install(app)
    app.include_router(outcomes_api.router)
    app.state.pool = pool
    app.dependency_overrides[principal] = lambda: who
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://outcomes")


async def test_a_training_provider_hears_of_its_participants_referrals_by_others_with_consent(pool) -> None:  # type: ignore[no-untyped-def]
    await db.migrate(pool, MIGRATIONS)
    async with pool.acquire() as conn:
        await webhooks.create_endpoint(conn, webhooks.SecretBox(os.urandom(32)), "partner:trainer",
                                       "https://trainer.example/hook", [])
    history = referral("ref_a", "cand_a", 1)
    # In one batch: the referral is submitted and routed, and the person enrolls at three
    # providers: with consent (told the status once), without (never told), and at p1, the
    # referring partner itself (it hears as the referrer).
    await live(pool, [
        at(t.program(), 0), *history[:2],
        at(t.enrolled("enr_1", "cand_a", share_outcomes=True), 0.5),
        at(t.enrolled("enr_2", "cand_a", partner="trainer2", share_outcomes=False), 0.5),
        at(t.enrolled("enr_3", "cand_a", partner="p1", share_outcomes=True), 0.5),
    ])
    await live(pool, history[2:4])
    await live(pool, [at(t.progressed("enr_1", "cand_a"), 4.5)])  # projected again: nothing told again
    await live(pool, history[4:])
    # A provider whose enrollment arrives after the referral is told the current status, once.
    late = at(t.enrolled("enr_4", "cand_a", partner="trainer3", share_outcomes=True), 7)
    await live(pool, [late])
    await live(pool, [late.model_copy(update={"id": uuid.uuid4()}), at(t.completed("enr_4", "cand_a"), 8)])
    heard = [(d["partner_id"], d["enrollment_id"], d["referral_id"], d["previous_status"], d["status"])
             for d in await told(pool, "participant.status_changed.v1")]
    assert heard == [
        ("trainer", "enr_1", "ref_a", None, "in_review"),
        ("trainer", "enr_1", "ref_a", "in_review", "interviewing"),
        ("trainer", "enr_1", "ref_a", "interviewing", "hired"),
        ("trainer3", "enr_4", "ref_a", None, "hired"),
    ]
    hired = (await told(pool, "participant.status_changed.v1"))[2]
    assert hired["program_id"] == "prog_1" and hired["detail"]["wage_band"] == "$30-40/hour"
    assert "wage" not in json.dumps(hired["detail"]).replace("wage_band", "")
    # The referring partner heard every change as the referrer, nothing as a provider.
    assert [d["status"] for d in await told(pool, "referral.status_changed.v1")] == [
        "in_review", "interviewing", "hired"]
    deliveries = await pool.fetch("SELECT owner, event_type FROM webhook_deliveries ORDER BY owner, delivery_id")
    assert {(r["owner"], r["event_type"]) for r in deliveries} == {("partner:trainer", "participant.status_changed.v1")}
    assert len(deliveries) == 3

    async with app_for(pool, Principal("partner", "trainer")) as trainer:
        page = (await trainer.get("/v1/partner/participants")).json()
        assert [(i["enrollment_id"], i["training_status"]) for i in page["items"]] == [("enr_1", "in_training")]
        (seen,) = page["items"][0]["referrals"]
        assert (seen["referral_id"], seen["status"], seen["detail"]["wage_band"]) == ("ref_a", "hired", "$30-40/hour")
        assert (await trainer.get("/v1/partner/participants?status=declined")).json()["items"] == []
        assert (await trainer.get("/v1/partner/participants?status=hired")).json()["items"] == page["items"]
    async with app_for(pool, Principal("partner", "trainer2")) as other:
        assert (await other.get("/v1/partner/participants")).json()["items"] == []  # no consent
    async with app_for(pool, Principal("partner", "p1")) as referrer:
        # p1's own participant: its referral is its own, not another partner's.
        assert [(i["enrollment_id"], i["referrals"]) for i in
                (await referrer.get("/v1/partner/participants")).json()["items"]] == [("enr_3", [])]

    # Consent withdrawn (the enrollment reported again without it), or the person erased:
    # nothing more is sent.
    await live(pool, [at(t.enrolled("enr_1", "cand_a", share_outcomes=False), 9)])
    separation = events.RetentionCheckedV1(referral_id="ref_a", employer_id="emp1", opening_id="opn1", milestone_days=30,
                                           still_employed=False, checked_on=date(2027, 2, 4))
    before = len(await told(pool, "participant.status_changed.v1"))
    await live(pool, [at(events.CandidateErasedV1(
        candidate_id="cand_a", referral_ids=["ref_a"], enrollment_ids=["enr_4"],
        requested_by=events.ErasureRequester.operator, erased_at=T0 + timedelta(hours=10)), 10)])
    await live(pool, [at(separation, 11)])
    assert len(await told(pool, "participant.status_changed.v1")) == before
    assert (await told(pool, "referral.status_changed.v1"))[-1]["status"] == "closed"  # the referrer still hears


def service_story() -> list[Envelope]:
    """req_1 by p1 through its referral of cand_b: accepted, flagged stale, delivered; req_2 by the
    trainer through its enrollment of cand_b: cancelled in its own words; then cand_b is erased."""
    return [
        at(t.enrolled("enr_b", "cand_b"), 0), *referral("ref_b", "cand_b", 0, steps=2),
        at(requested("req_1", "cand_b", ref="ref_b"), 3),
        at(events.ServiceAcceptedV1(**ids("req_1")), 4),
        at(events.ServiceStaleV1(**ids("req_1"), waiting_in=events.ServiceWaitingIn.accepted,
                                 waiting_since=T0 + timedelta(hours=4), business_days=5), 5),
        at(events.ServiceDeliveredV1(**ids("req_1"), delivered_on=date(2026, 9, 10),
                                     value=events.Money(amount="45")), 6),
        at(requested("req_2", "cand_b", enr="enr_b", requester="trainer", amount=None), 3.5),
        at(events.ServiceCancelledV1(**ids("req_2", "trainer"), reason="Found a ride with a neighbour"), 7),
        at(events.CandidateErasedV1(candidate_id="cand_b", referral_ids=["ref_b"], enrollment_ids=["enr_b"],
                                    requested_by=events.ErasureRequester.operator,
                                    erased_at=T0 + timedelta(hours=8)), 8),
    ]


async def test_a_service_request_is_projected_and_its_requester_hears_each_status(pool) -> None:  # type: ignore[no-untyped-def]
    await db.migrate(pool, MIGRATIONS)
    async with pool.acquire() as conn:
        await webhooks.create_endpoint(conn, webhooks.SecretBox(os.urandom(32)), "partner:trainer",
                                       "https://trainer.example/hook", [])
    story = service_story()
    for e in story[:-1]:
        await live(pool, [e])
    changes = [(d["partner_id"], d["request_id"], d["previous_status"], d["status"],
                {k: v for k, v in d["detail"].items() if v is not None}) for d in await told(pool, "service.status_changed.v1")]
    moved = {"service_type": "transportation"}
    assert changes == [
        ("p1", "req_1", None, "requested", moved),
        ("p1", "req_1", "requested", "accepted", moved),
        ("p1", "req_1", "accepted", "stale", moved),
        ("p1", "req_1", "stale", "delivered",
         {**moved, "delivered_on": "2026-09-10", "value": {"amount": "45", "currency": "USD"}}),
        ("trainer", "req_2", None, "requested", moved),
        ("trainer", "req_2", "requested", "cancelled", {**moved, "reason": "Found a ride with a neighbour"}),
    ]
    row = dict(await pool.fetchrow("SELECT * FROM service_requests WHERE request_id = 'req_1'"))
    assert (row["person_key"], row["status"], row["referral_id"], row["service_type"]) == (
        "cand_b", "delivered", "ref_b", "transportation")
    assert (row["amount_requested"], row["value_delivered"], row["delivered_on"]) == (50, 45, date(2026, 9, 10))
    assert row["accepted_at"] == T0 + timedelta(hours=4) and row["stale_at"] == T0 + timedelta(hours=5)
    assert row["ended_at"] == T0 + timedelta(hours=6) and row["requested_at"] == T0 + timedelta(hours=3)

    async with app_for(pool, Principal("partner", "p1")) as p1:
        (mine,) = (await p1.get("/v1/partner/service-requests")).json()["items"]
        assert (mine["request_id"], mine["status"], mine["detail"]["value"]["amount"]) == ("req_1", "delivered", "45")
        assert (await p1.get("/v1/partner/service-requests?status=cancelled")).json()["items"] == []
    async with app_for(pool, Principal("partner", "sp")) as provider:
        assert (await provider.get("/v1/partner/service-requests")).json()["items"] == []  # not its requests

    # The erasure: both requests re-keyed to it, their words gone from the ledger and the answer.
    await live(pool, story[-1:])
    rows = {r["request_id"]: r for r in await pool.fetch("SELECT * FROM service_requests")}
    erasure = str(story[-1].id)
    assert {r["person_key"] for r in rows.values()} == {"erased:" + erasure}
    assert json.loads(rows["req_2"]["detail"]) == moved
    ledger = await pool.fetch("SELECT envelope::text AS e, redacted_at FROM ledger WHERE request_id IS NOT NULL")
    assert len(ledger) == 6 and all(r["redacted_at"] is not None for r in ledger)
    assert not any("neighbour" in r["e"] or "Bus fare" in r["e"] or "cand_b" in r["e"] for r in ledger)
    # The requester's copies of the cancellation keep its status, not its words.
    cancelled = [d for d in await told(pool, "service.status_changed.v1") if d["status"] == "cancelled"]
    assert [d["detail"].get("reason") for d in cancelled] == [None] and cancelled[0]["detail"]["service_type"]
    bodies = await pool.fetch("SELECT body::text AS b FROM webhook_deliveries WHERE owner = 'partner:trainer'")
    assert len(bodies) == 2 and not any("neighbour" in r["b"] for r in bodies)
    assert any('"cancelled"' in r["b"] for r in bodies)


async def rebuilt_hash(stack, schemas: list[str], batches: list[list[Envelope]]) -> dict[str, str]:  # type: ignore[no-untyped-def]  # noqa: F811
    """The content hash of a fresh schema the batches were applied to as a rebuild applies them."""
    pool = await applied(stack, schemas, batches)
    try:
        return await rebuild.content_hash(pool)
    finally:
        await pool.close()


async def test_requests_are_the_same_whether_the_erasure_comes_before_or_after_them(stack, schemas) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """As live (the erasure after the requests) and as a rebuild applies them (erasures first:
    their topic sorts before talentloop.services), with repeats."""
    story = service_story()
    erasure, rest = story[-1], story[:-1]
    refs = [e for e in rest if e.subject in ("ref_b",)]
    others = [e for e in rest if e not in refs]
    live_order = await rebuilt_hash(stack, schemas, [[e] for e in rest] + [[erasure]])
    rebuild_order = await rebuilt_hash(stack, schemas, [refs, [erasure], others, others[:3]])
    assert live_order == rebuild_order
    assert "service_requests" in live_order


async def test_an_operator_sees_a_persons_journey_and_no_one_else_does(pool) -> None:  # type: ignore[no-untyped-def]
    await db.migrate(pool, MIGRATIONS)
    for e in service_story()[:-1]:
        await live(pool, [e])
    async with app_for(pool, Principal("operator", "ops")) as ops:
        journey = (await ops.get("/v1/people/cand_b/journey")).json()
        assert [e["enrollment_id"] for e in journey["enrollments"]] == ["enr_b"]
        assert [r["referral_id"] for r in journey["referrals"]] == ["ref_b"]
        assert [q["request_id"] for q in journey["service_requests"]] == ["req_1", "req_2"]
        steps = [(e["kind"], e["type"].rsplit(".", 1)[0]) for e in journey["events"]]
        assert steps == [
            ("enrollment", "training.enrolled"), ("referral", "referral.submitted"), ("referral", "referral.routed"),
            ("service_request", "service.requested"), ("service_request", "service.requested"),
            ("service_request", "service.accepted"), ("service_request", "service.stale"),
            ("service_request", "service.delivered"), ("service_request", "service.cancelled"),
        ]
        times = [e["occurred_at"] for e in journey["events"]]
        assert times == sorted(times)
        assert journey["events"][3]["data"]["reason"] == "Bus fare to the first weeks of work"  # as recorded
        assert (await ops.get("/v1/people/cand_nobody/journey")).status_code == 404
    for who in (Principal("partner", "p1"), Principal("employer", "emp1")):
        async with app_for(pool, who) as client:
            # Refused by its kind, before any person is looked up: the same answer for anyone named.
            answer, unknown = [await client.get(f"/v1/people/{c}/journey") for c in ("cand_b", "cand_nobody")]
            assert answer.status_code == unknown.status_code == 403
            assert answer.json()["detail"] == unknown.json()["detail"]
    assert await store.requests_naming(pool, ["ref_b"], []) == ["req_1"]  # type: ignore[arg-type]


async def test_a_request_whose_two_locks_fall_in_two_steps_of_a_batch_is_applied(pool, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The request names ref_a; ref_m (between ref_a and "service:req_1" in the lock order) is
    held by another transaction: the batch locks ref_a, applies that step, waits for ref_m, then
    locks the request's own key in the last step, and applies the request there."""
    from services.outcomes import application
    from tests.integration.test_outcomes_store import _history, _while_held

    monkeypatch.setattr(application, "STEP_MIN_REFERRALS", 1)
    held = _history("ref_m", 1)
    batch = [*_history("ref_a", 2), at(requested("req_1", "cand_ref_a", ref="ref_a"), 3), *_history("ref_m", 2)[1:]]

    async def check(pids: list[int]) -> None:
        assert await pool.fetchval("SELECT count(*) FROM service_requests") == 0  # not before its last lock

    await _while_held(pool, held, [batch], check)
    row = await pool.fetchrow("SELECT status, person_key, referral_id FROM service_requests")
    assert dict(row) == {"status": "requested", "person_key": "cand_ref_a", "referral_id": "ref_a"}
    assert [d["request_id"] for d in await told(pool, "service.status_changed.v1")] == ["req_1"]


async def test_service_events_one_at_a_time_take_the_batch_path(stack, schemas) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """The consumer's one-by-one handlers (a record the batch could not apply) know every service
    type and give what the batch gives."""
    from services.outcomes.handlers import HANDLERS

    story = service_story()
    assert {e.type for e in story} <= set(HANDLERS)
    want = await rebuilt_hash(stack, schemas, [story])
    got = await rebuilt_hash(stack, schemas, [[e] for e in story])
    assert got == want


async def test_the_closed_loops_lists_page_as_the_referrals_list_does(pool) -> None:  # type: ignore[no-untyped-def]
    await db.migrate(pool, MIGRATIONS)
    await live(pool, [at(t.enrolled(f"enr_{i}", f"cand_{i}", share_outcomes=True), i) for i in range(3)]
               + [at(requested(f"req_{i}", f"cand_{i}", enr=f"enr_{i}", requester="trainer"), 5 + i) for i in range(3)])
    async with app_for(pool, Principal("partner", "trainer")) as trainer:
        for path, key in (("/v1/partner/participants", "enrollment_id"), ("/v1/partner/service-requests", "request_id")):
            first = (await trainer.get(f"{path}?limit=2")).json()
            rest = (await trainer.get(f"{path}?limit=2&after={first['next_after']}")).json()
            assert [i[key] for i in first["items"] + rest["items"]] == [f"{key[:3]}_{i}" for i in range(3)]
            assert first["next_after"] == first["items"][-1][key] and rest["next_after"] is None


def erasure_of(cand: str, refs: list[str], enrs: list[str], hours: float) -> Envelope:
    return at(events.CandidateErasedV1(candidate_id=cand, referral_ids=refs, enrollment_ids=enrs,
                                       requested_by=events.ErasureRequester.operator,
                                       erased_at=T0 + timedelta(hours=hours)), hours)


async def test_a_provider_whose_enrollment_arrives_after_an_erasure_hears_nothing(pool) -> None:  # type: ignore[no-untyped-def]
    """A network-wide erasure gives the person's referrals and enrollments one key (the
    erasure's): an enrollment of the erased person arriving late with consent must not join
    them up again and tell its provider what came of the referrals."""
    await db.migrate(pool, MIGRATIONS)
    async with pool.acquire() as conn:
        await webhooks.create_endpoint(conn, webhooks.SecretBox(os.urandom(32)), "partner:trainer",
                                       "https://trainer.example/hook", [])
    await live(pool, [at(t.program(), 0), *referral("ref_a", "cand_a", 1)])
    await live(pool, [erasure_of("cand_a", ["ref_a"], ["enr_1"], 8)])
    await live(pool, [at(t.enrolled("enr_1", "cand_a", share_outcomes=True), 9)])
    keys = {r["person_key"] for r in await pool.fetch(
        "SELECT person_key FROM referral_facts UNION ALL SELECT person_key FROM enrollment_facts")}
    assert len(keys) == 1 and next(iter(keys)).startswith("erased:")  # the two share the erasure's key
    assert await told(pool, "participant.status_changed.v1") == []
    assert await pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 0
    async with app_for(pool, Principal("partner", "trainer")) as trainer:
        assert (await trainer.get("/v1/partner/participants")).json()["items"] == []


async def test_a_providers_participants_leave_out_an_erased_person(pool) -> None:  # type: ignore[no-untyped-def]
    await db.migrate(pool, MIGRATIONS)
    history = referral("ref_a", "cand_a", 1)
    await live(pool, [at(t.program(), 0), *history[:2], at(t.enrolled("enr_1", "cand_a", share_outcomes=True), 0.5)])
    await live(pool, history[2:])
    async with app_for(pool, Principal("partner", "trainer")) as trainer:
        (before,) = (await trainer.get("/v1/partner/participants")).json()["items"]
        assert [r["referral_id"] for r in before["referrals"]] == ["ref_a"]
        await live(pool, [erasure_of("cand_a", ["ref_a"], ["enr_1"], 10)])
        separation = events.RetentionCheckedV1(referral_id="ref_a", employer_id="emp1", opening_id="opn1",
                                               milestone_days=30, still_employed=False, checked_on=date(2027, 2, 4))
        await live(pool, [at(separation, 11)])
        for query in ("", "?status=closed"):
            page = (await trainer.get(f"/v1/partner/participants{query}")).json()
            assert page["items"] == [], page
    assert await pool.fetchval("SELECT count(*) FROM referral_facts WHERE status = 'closed'") == 1
