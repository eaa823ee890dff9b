"""Withdrawals, updates and erasure in routing, the employer gateway and outcomes, on real PostgreSQL.

Each service gets its own fresh schema with its migrations; events are applied the way the
consumer applies them (`EventConsumer.process`: upcast, inbox claim and handler in one
transaction). A producer is never needed: nothing here is dead-lettered.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from contracts import Envelope, build, events, payload_of
from plumbing import db, problems, webhooks
from plumbing.auth import Principal, principal
from plumbing.consumer import EventConsumer, Record
from plumbing.context import Deps
from plumbing.settings import Settings
from plumbing.vault import Vault
from services.employer_gateway import store as gateway_store
from services.employer_gateway.app import DEFINITION as GATEWAY
from services.employer_gateway.domain import InvalidTransition, State
from services.outcomes import store as outcomes_store
from services.outcomes.app import DEFINITION as OUTCOMES
from services.routing.app import DEFINITION as ROUTING

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
CONSENT = events.ConsentScope(share_with_employers=True, aggregate_reports=True, given_at=T0)
SEALED = events.Sealed(kid="cand#1", nonce="bm9uY2U", ciphertext="c2VhbGVk")

MakePool = Callable[[Path], Awaitable[asyncpg.Pool]]


@pytest.fixture
async def make_pool(stack) -> AsyncIterator[MakePool]:  # type: ignore[no-untyped-def]
    """Pools on fresh schemas (one per service: their tables share names), dropped afterwards."""
    made: list[tuple[asyncpg.Pool, str]] = []

    async def make(migrations: Path) -> asyncpg.Pool:
        schema = f"t_{uuid.uuid4().hex[:10]}"
        pool = await db.create_pool(stack.database_url, schema)
        made.append((pool, schema))
        await db.migrate(pool, migrations)
        async with pool.acquire() as conn, conn.transaction():
            await Vault.ensure_schema(conn)
        return pool

    yield make
    conn = await asyncpg.connect(stack.database_url)
    try:
        for pool, schema in made:
            await pool.close()
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await conn.close()


async def consumer_for(make_pool: MakePool, definition) -> EventConsumer:  # type: ignore[no-untyped-def]
    pool = await make_pool(definition.migrations)
    return EventConsumer(definition.name, pool, None, handlers=definition.handlers)  # type: ignore[arg-type]


@pytest.fixture
async def routing(make_pool) -> EventConsumer:  # type: ignore[no-untyped-def]
    return await consumer_for(make_pool, ROUTING)


@pytest.fixture
async def gateway(make_pool) -> EventConsumer:  # type: ignore[no-untyped-def]
    return await consumer_for(make_pool, GATEWAY)


@pytest.fixture
async def outcomes(make_pool) -> EventConsumer:  # type: ignore[no-untyped-def]
    return await consumer_for(make_pool, OUTCOMES)


async def deliver(consumer: EventConsumer, payload: events.Payload, *, time: datetime | None = None) -> Envelope:
    """Publish-and-consume in one step: a new envelope (a new event id) applied once."""
    env = build(payload, source="/test", correlation_id="test", time=time)
    assert await redeliver(consumer, env) == "applied"
    return env


async def redeliver(consumer: EventConsumer, env: Envelope) -> str:
    record = Record(payload_of(env).topic.name, 0, 0, env.subject.encode(), env.to_bytes())
    return await consumer.process(record)


def again(env: Envelope) -> Envelope:
    """The same fact under another event id (a producer that retried after a lost ack)."""
    return env.model_copy(update={"id": uuid.uuid4()})


# --- payloads -----------------------------------------------------------------------------


KNOWN = {"python", "sql", "docker", "java", "rust", "cobol"}


def skill_refs(*texts: str) -> list[events.SkillRef]:
    """Skills as intake sends them: a vocabulary id where there is one, the partner's text always."""
    return [events.SkillRef(id=t.casefold() if t.casefold() in KNOWN else None, text=t) for t in texts]


def submitted(ref: str, *skills: str, cand: str = "cand_1", soc: str | None = None) -> events.ReferralSubmittedV2:
    return events.ReferralSubmittedV2(
        referral_id=ref, partner_id="p1", candidate_id=cand, skills=skill_refs(*skills), skills_vocabulary="2026.11",
        credentials=[events.Credential(name=f"Credential of {cand}")], training=events.Training(program=f"Camp of {cand}"),
        target_onet_soc_code=soc, consent=CONSENT, contact_sealed=SEALED,
    )


def updated(ref: str, *skills: str, cand: str = "cand_1") -> events.ReferralUpdatedV1:
    return events.ReferralUpdatedV1(
        referral_id=ref, partner_id="p1", candidate_id=cand, changed=["skills", "credentials"],
        skills=skill_refs(*skills), skills_vocabulary="2026.11",
        credentials=[events.Credential(name="AWS Cloud Practitioner")], contact_sealed=SEALED,
    )


def withdrawn(ref: str, cand: str = "cand_1", reason=events.WithdrawalReason.found_employment) -> events.ReferralWithdrawnV1:  # type: ignore[no-untyped-def]
    return events.ReferralWithdrawnV1(referral_id=ref, partner_id="p1", candidate_id=cand, reason=reason, withdrawn_at=T0)


def erased(cand: str, *refs: str) -> events.CandidateErasedV1:
    return events.CandidateErasedV1(
        candidate_id=cand, referral_ids=list(refs), requested_by=events.ErasureRequester.partner, erased_at=T0
    )


def opening(oid: str, required: list[str], capacity: int = 1, soc: str = "15-1252.00") -> events.OpeningPostedV1:
    return events.OpeningPostedV1(
        opening_id=oid, employer_id="emp1", title=f"Job {oid}", onet_soc_code=soc, required_skills=required,
        capacity=capacity, wage=events.Wage(amount="25", unit="hour"), location="Bronx, NY",
    )


def routed(ref: str, cand: str = "cand_1", employer: str = "emp1") -> events.ReferralRoutedV1:
    return events.ReferralRoutedV1(
        referral_id=ref, partner_id="p1", candidate_id=cand, opening_id="opn1", employer_id=employer, score=0.85,
        matched_skills=["python"], missing_skills=["docker"], candidate_skills=["python", f"skill of {cand}"],
        credentials=[events.Credential(name=f"Credential of {cand}")], explanation="Has all 1 required skills",
    )


# --- routing ------------------------------------------------------------------------------


async def outbox(pool: asyncpg.Pool) -> list[Envelope]:
    """The service's published events, without routing's skills-gap observations (tested on their own)."""
    found = [Envelope.from_bytes(r["value"]) for r in await pool.fetch("SELECT value FROM outbox ORDER BY id")]
    return [e for e in found if not e.type.startswith("skills.gap_observed.")]


async def routed_count(pool: asyncpg.Pool, opening_id: str) -> int:
    return await pool.fetchval("SELECT routed_count FROM openings WHERE opening_id = $1", opening_id)


async def test_withdrawal_frees_the_slot_once_and_a_withdrawn_referral_is_never_routed_again(routing):
    pool = routing.pool
    await deliver(routing, opening("opn1", ["python"], capacity=1))
    first = await deliver(routing, submitted("ref_a", "Python"))
    await deliver(routing, submitted("ref_b", "Python"))
    assert [e.type for e in await outbox(pool)] == ["referral.routed.v1", "referral.unmatched.v1"]
    assert await routed_count(pool, "opn1") == 1

    withdrawal = await deliver(routing, withdrawn("ref_a"))
    assert await routed_count(pool, "opn1") == 0
    row = await pool.fetchrow("SELECT outcome, withdrawn_at, withdrawal_reason FROM decisions WHERE referral_id = 'ref_a'")
    assert row["outcome"] == "routed" and row["withdrawn_at"] == T0 and row["withdrawal_reason"] == "found_employment"

    # Redelivered: the same event id is skipped; the same withdrawal under a new id frees nothing more.
    assert await redeliver(routing, withdrawal) == "duplicate"
    assert await redeliver(routing, again(withdrawal)) == "applied"
    assert await routed_count(pool, "opn1") == 0
    # The submission again under another event id: the withdrawn referral is not routed.
    assert await redeliver(routing, again(first)) == "applied"
    assert await routed_count(pool, "opn1") == 0
    assert len(await outbox(pool)) == 2
    # An update of a withdrawn referral is not decided again either.
    await deliver(routing, updated("ref_a", "Python"))
    assert len(await outbox(pool)) == 2 and await routed_count(pool, "opn1") == 0


async def test_an_update_routes_an_unmatched_referral_whose_skills_now_fit_within_its_target(routing):
    pool = routing.pool
    await deliver(routing, opening("opn1", ["python", "sql"], capacity=2))
    await deliver(routing, opening("opn_nurse", ["python"], soc="29-1141.00"))  # fits, but not the target occupation
    await deliver(routing, submitted("ref_a", "Python", soc="15-1252.00"))
    (unmatched,) = await outbox(pool)
    assert unmatched.type == "referral.unmatched.v1" and unmatched.data["missing_skills"] == ["sql"]

    update = await deliver(routing, updated("ref_a", "Python", "SQL"))
    out = await outbox(pool)
    assert [e.type for e in out] == ["referral.unmatched.v1", "referral.routed.v1"]
    routed_event = out[-1]
    assert routed_event.causationid == str(update.id) and routed_event.subject == "ref_a"
    assert routed_event.data["opening_id"] == "opn1"  # the stored target occupation still applies
    assert routed_event.data["candidate_skills"] == ["python", "sql"]
    assert [c["name"] for c in routed_event.data["credentials"]] == ["AWS Cloud Practitioner"]
    assert await routed_count(pool, "opn1") == 1 and await routed_count(pool, "opn_nurse") == 0
    row = await pool.fetchrow("SELECT * FROM decisions WHERE referral_id = 'ref_a'")
    assert row["outcome"] == "routed" and row["opening_id"] == "opn1" and row["candidate_id"] == "cand_1"

    # Routed now: later updates change nothing in routing.
    await deliver(routing, updated("ref_a", "Java"))
    assert len(await outbox(pool)) == 2 and await routed_count(pool, "opn1") == 1


async def test_an_update_that_still_does_not_fit_is_unmatched_again_with_what_is_missing(routing):
    pool = routing.pool
    await deliver(routing, opening("opn1", ["python", "sql", "docker"]))
    await deliver(routing, submitted("ref_a", "Python"))
    await deliver(routing, updated("ref_a", "Python", "SQL"))
    out = await outbox(pool)
    assert [e.type for e in out] == ["referral.unmatched.v1", "referral.unmatched.v1"]
    assert out[0].data["missing_skills"] == ["docker", "sql"] and out[1].data["missing_skills"] == ["docker"]
    assert await pool.fetchval("SELECT outcome FROM decisions WHERE referral_id = 'ref_a'") == "unmatched"


async def test_erasure_withdraws_every_referral_forgets_the_candidate_and_blocks_later_submissions(routing):
    pool = routing.pool
    await deliver(routing, opening("opn1", ["python"], capacity=3))
    await deliver(routing, submitted("ref_a", "Python", cand="cand_x"))
    await deliver(routing, submitted("ref_other", "Python", cand="cand_y"))
    assert await routed_count(pool, "opn1") == 2

    # The erasure arrives before ref_c's submission and before the withdrawals (other topic).
    erasure = await deliver(routing, erased("cand_x", "ref_a", "ref_c"))
    assert await routed_count(pool, "opn1") == 1
    rows = {r["referral_id"]: r for r in await pool.fetch("SELECT * FROM decisions")}
    assert rows["ref_a"]["withdrawn_at"] == T0 and rows["ref_a"]["withdrawal_reason"] == "candidate_erased"
    assert rows["ref_c"]["outcome"] == "withdrawn" and rows["ref_c"]["partner_id"] is None
    assert rows["ref_other"]["candidate_id"] == "cand_y" and rows["ref_other"]["withdrawn_at"] is None
    assert await pool.fetchval("SELECT count(*) FROM decisions WHERE candidate_id = 'cand_x'") == 0

    await deliver(routing, submitted("ref_c", "Python", cand="cand_x"))
    await deliver(routing, withdrawn("ref_a", "cand_x", events.WithdrawalReason.candidate_erased))
    assert await redeliver(routing, again(erasure)) == "applied"
    assert await routed_count(pool, "opn1") == 1
    assert [e.subject for e in await outbox(pool)] == ["ref_a", "ref_other"]  # ref_c was never routed
    assert await pool.fetchval("SELECT count(*) FROM decisions WHERE candidate_id = 'cand_x'") == 0
    assert await pool.fetchval("SELECT count(*) FROM decisions") == 3  # counts remain


# --- employer gateway -----------------------------------------------------------------------


TEST_VAULT = Vault(os.urandom(32))  # the gateway opens consenting candidates' contact details with it


def gateway_app(pool: asyncpg.Pool, employer: str = "emp1") -> httpx.AsyncClient:
    app = FastAPI()
    problems.install(app)

    @app.middleware("http")
    async def correlate(request, call_next):  # type: ignore[no-untyped-def]
        request.state.correlation_id = "test"
        return await call_next(request)

    for router in GATEWAY.routers:  # the referral API and the webhooks API
        app.include_router(router)
    app.state.pool = pool
    app.state.vault = TEST_VAULT
    app.state.deps = Deps.of(GATEWAY.name, Settings(), TEST_VAULT)  # what a route's use case gets (`context_of`)
    app.state.webhook_box = webhooks.SecretBox(os.urandom(32))
    app.state.settings = Settings()
    app.dependency_overrides[principal] = lambda: Principal("employer", employer)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


async def referral_row(pool: asyncpg.Pool, referral_id: str) -> asyncpg.Record:
    return await pool.fetchrow("SELECT * FROM referrals WHERE referral_id = $1", referral_id)


PLACEMENT = {
    "job_title": "Dev", "onet_soc_code": "15-1252.00", "wage": {"amount": "30", "unit": "hour"}, "hours_per_week": 40,
    "employment_type": "full_time", "start_date": "2027-01-04",
}


async def test_employer_actions_on_a_withdrawn_referral_are_refused_with_409_naming_the_state(gateway):
    pool = gateway.pool
    await deliver(gateway, routed("ref_a"))
    async with gateway_app(pool) as http:
        r = await http.post("/v1/referrals/ref_a/acknowledge")
        assert r.status_code == 200 and r.json()["state"] == "acknowledged"
        withdrawal = await deliver(gateway, withdrawn("ref_a"))
        row = await referral_row(pool, "ref_a")
        assert row["state"] == "withdrawn"

        for path, body in [
            ("/v1/referrals/ref_a/acknowledge", None),
            ("/v1/referrals/ref_a/placement", PLACEMENT),
            ("/v1/referrals/ref_a/decline", {"reason": "no_capacity"}),
            ("/v1/referrals/ref_a/interviews", {"scheduled_for": "2026-12-01T15:00:00Z"}),
        ]:
            r = await http.post(path, json=body)
            assert r.status_code == 409, (path, r.text)
            assert r.json()["type"].endswith("invalid-transition") and r.json()["current_state"] == "withdrawn"
        r = await http.get("/v1/referrals", params={"status": "withdrawn"})
        assert [i["referral_id"] for i in r.json()["items"]] == ["ref_a"]
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 1  # only the acknowledgement

    # The domain refuses it too (what the API turns into the 409), and redelivery changes nothing.
    async with pool.acquire() as conn, conn.transaction():
        referral, _ = await gateway_store.load(conn, "ref_a", "emp1")
        with pytest.raises(InvalidTransition) as err:
            referral.acknowledge()
        assert err.value.current is State.withdrawn
    assert await redeliver(gateway, again(withdrawal)) == "applied"
    assert await referral_row(pool, "ref_a") == row


async def test_a_withdrawal_that_arrives_before_the_routing_decision_is_applied_when_it_arrives(gateway):
    pool = gateway.pool
    await deliver(gateway, withdrawn("ref_early"))
    assert await referral_row(pool, "ref_early") is None
    await deliver(gateway, routed("ref_early"))
    row = await referral_row(pool, "ref_early")
    assert row["state"] == "withdrawn" and row["employer_id"] == "emp1"
    async with gateway_app(pool) as http:
        r = await http.post("/v1/referrals/ref_early/acknowledge")
        assert r.status_code == 409 and r.json()["current_state"] == "withdrawn"


async def test_a_placement_stands_when_the_partner_withdraws_afterwards(gateway):
    pool = gateway.pool
    await deliver(gateway, routed("ref_hired"))
    async with gateway_app(pool) as http:
        assert (await http.post("/v1/referrals/ref_hired/acknowledge")).status_code == 200
        assert (await http.post("/v1/referrals/ref_hired/placement", json=PLACEMENT)).status_code == 200
    before = await referral_row(pool, "ref_hired")
    await deliver(gateway, withdrawn("ref_hired"))
    assert await referral_row(pool, "ref_hired") == before and before["state"] == "placed"


async def test_updates_refresh_the_inbox_and_the_newest_profile_wins_whatever_arrives_first(gateway):
    pool = gateway.pool
    await deliver(gateway, routed("ref_a"))
    await deliver(gateway, updated("ref_a", "Python", "Docker"), time=T0)
    async with gateway_app(pool) as http:
        (item,) = (await http.get("/v1/referrals")).json()["items"]
    assert item["skills"] == ["docker", "python"] and [c["name"] for c in item["credentials"]] == ["AWS Cloud Practitioner"]
    assert item["score"] == 0.85 and item["state"] == "routed"  # the decision itself stays

    # An older update delivered late does not overwrite a newer one.
    await deliver(gateway, updated("ref_a", "Cobol"), time=T0 - timedelta(hours=1))
    assert json.loads((await referral_row(pool, "ref_a"))["routing"])["candidate_skills"] == ["docker", "python"]

    # Updated before routed (other topics): the update's profile is newer than the decision's.
    await deliver(gateway, updated("ref_b", "Rust"), time=T0)
    await deliver(gateway, routed("ref_b"), time=T0 + timedelta(minutes=1))
    assert json.loads((await referral_row(pool, "ref_b"))["routing"])["candidate_skills"] == ["rust"]


async def test_erasure_blanks_the_candidate_in_the_inbox_and_withdraws_referrals_in_progress(gateway):
    pool = gateway.pool
    for ref in ("ref_a", "ref_b"):
        await deliver(gateway, routed(ref, cand="cand_x"))
    await deliver(gateway, routed("ref_keep", cand="cand_y"))
    await deliver(gateway, updated("ref_b", "Canary Skill", cand="cand_x"))
    async with gateway_app(pool) as http:
        assert (await http.post("/v1/referrals/ref_b/decline", json={"reason": "no_capacity"})).status_code == 200

    erasure = await deliver(gateway, erased("cand_x", "ref_a", "ref_b", "ref_late"))
    a, b = await referral_row(pool, "ref_a"), await referral_row(pool, "ref_b")
    assert (a["state"], b["state"]) == ("withdrawn", "declined")  # a final state stays
    for row in (a, b):
        routing = json.loads(row["routing"])
        assert row["candidate_id"] == "erased" and routing["candidate_id"] == "erased"
        assert not {"candidate_skills", "credentials", "training"} & routing.keys()
        assert routing["matched_skills"] == ["python"]  # the opening's side stays
    keep = await referral_row(pool, "ref_keep")
    assert keep["candidate_id"] == "cand_y" and keep["state"] == "routed"

    # Late arrivals: a routed decision enters blanked and withdrawn; an update is ignored.
    await deliver(gateway, routed("ref_late", cand="cand_x"))
    await deliver(gateway, updated("ref_a", "Canary Skill", cand="cand_x"), time=datetime.now(UTC))
    late = await referral_row(pool, "ref_late")
    assert late["state"] == "withdrawn" and late["candidate_id"] == "erased"
    assert "candidate_skills" not in json.loads(late["routing"])
    assert "candidate_skills" not in json.loads((await referral_row(pool, "ref_a"))["routing"])
    async with gateway_app(pool) as http:
        items = {i["referral_id"]: i for i in (await http.get("/v1/referrals")).json()["items"]}
    assert items["ref_a"]["skills"] == [] and items["ref_a"]["candidate_id"] == "erased"
    # Nothing about the person is left in any of the gateway's tables.
    for needle in ("cand_x", "canary"):
        assert await count_mentions(pool, needle) == {}, needle

    before = [dict(r) for r in await pool.fetch("SELECT * FROM referrals ORDER BY referral_id")]
    assert await redeliver(gateway, again(erasure)) == "applied"
    assert [dict(r) for r in await pool.fetch("SELECT * FROM referrals ORDER BY referral_id")] == before


async def count_mentions(pool: asyncpg.Pool, needle: str) -> dict[str, int]:
    tables = await pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        " AND table_type = 'BASE TABLE' AND table_name NOT IN ('inbox', 'schema_migrations')"
    )
    hits = {}
    for t in tables:
        n = await pool.fetchval(
            f'SELECT count(*) FROM "{t["table_name"]}" AS t WHERE t::text ILIKE \'%\' || $1 || \'%\'', needle
        )
        if n:
            hits[t["table_name"]] = n
    return hits


# --- outcomes -------------------------------------------------------------------------------


async def funnel(pool: asyncpg.Pool) -> dict[str, dict]:
    """The whole funnel's referrals and people (services/outcomes/pipeline.py's shape)."""
    return (await outcomes_store.funnel_counts(pool, None, None, None))["all"]


async def test_updates_and_withdrawals_are_facts_in_the_ledger(outcomes):
    pool = outcomes.pool
    await deliver(outcomes, submitted("ref_a", "Python"))
    await deliver(outcomes, updated("ref_a", "Python", "SQL"))
    row = await pool.fetchrow("SELECT * FROM referral_facts WHERE referral_id = 'ref_a'")
    assert row["facts"] == ["submitted", "updated"] and row["stages"] == ["referred"] and row["status"] == "submitted"

    await deliver(outcomes, routed("ref_a"))
    await deliver(outcomes, withdrawn("ref_a"))
    row = await pool.fetchrow("SELECT * FROM referral_facts WHERE referral_id = 'ref_a'")
    assert row["stages"] == ["referred", "routed", "withdrawn"] and row["status"] == "withdrawn"
    types = [r["event_type"] for r in await pool.fetch("SELECT event_type FROM ledger ORDER BY seq")]
    assert types == ["referral.submitted.v2", "referral.updated.v1", "referral.routed.v1", "referral.withdrawn.v1"]
    assert (await funnel(pool))["referrals"]["outcomes"]["withdrawn"] == 1


async def test_erasure_redacts_the_ledger_keeps_the_counts_and_the_ledger_stays_append_only(outcomes):
    pool = outcomes.pool
    await deliver(outcomes, submitted("ref_a", "Python", "Canary Skill", cand="cand_x"))
    await deliver(outcomes, routed("ref_a", cand="cand_x"))
    await deliver(outcomes, updated("ref_b", "Canary Skill", cand="cand_x"))
    await deliver(outcomes, submitted("ref_keep", "Python", cand="cand_y"))
    before = await funnel(pool)
    facts_before = [dict(r) for r in await pool.fetch("SELECT referral_id, facts, stages, status FROM referral_facts ORDER BY referral_id")]

    erasure = await deliver(outcomes, erased("cand_x", "ref_a", "ref_b"))
    assert await funnel(pool) == before  # counts do not change through erasure: people neither
    assert before["people"]["stages"]["referred"] == 2 and before["referrals"]["stages"]["referred"] == 3
    keys = await pool.fetch("SELECT referral_id, person_key FROM referral_facts ORDER BY referral_id")
    assert [tuple(r) for r in keys] == [("ref_a", f"erased:{erasure.id}"), ("ref_b", f"erased:{erasure.id}"),
                                        ("ref_keep", "cand_y")]
    assert [dict(r) for r in await pool.fetch("SELECT referral_id, facts, stages, status FROM referral_facts ORDER BY referral_id")] == facts_before

    rows = await pool.fetch("SELECT * FROM ledger ORDER BY seq")
    redacted = [r for r in rows if r["referral_id"] in ("ref_a", "ref_b")]
    assert len(redacted) == 3 and all(r["redacted_at"] is not None for r in redacted)
    for r in redacted:
        data = json.loads(r["envelope"])["data"]
        assert data["candidate_id"] == "erased"
        assert not {"contact_sealed", "candidate_skills", "credentials", "training"} & data.keys()
        assert all(set(s) == {"id"} for s in data.get("skills", []))
    assert json.loads(redacted[0]["envelope"])["data"]["skills"] == [{"id": "python"}, {"id": None}]
    (erasure_row,) = [r for r in rows if r["event_type"] == "candidate.erased.v1"]
    assert erasure_row["referral_id"] is None and erasure_row["source_topic"] == "talentloop.candidates"
    assert json.loads(erasure_row["envelope"])["data"]["referral_ids"] == ["ref_a", "ref_b"]
    keep = [r for r in rows if r["referral_id"] == "ref_keep"]
    assert keep[0]["redacted_at"] is None and json.loads(keep[0]["envelope"])["data"]["candidate_id"] == "cand_y"
    assert await count_mentions(pool, "cand_x") == {}
    assert await count_mentions(pool, "Canary") == {}  # the partner's skill texts

    # A withdrawal that arrives after the erasure (another topic) is stored redacted.
    await deliver(outcomes, withdrawn("ref_a", "cand_x", events.WithdrawalReason.candidate_erased))
    late = await pool.fetchrow("SELECT * FROM ledger WHERE event_type = 'referral.withdrawn.v1'")
    assert late["redacted_at"] is not None and json.loads(late["envelope"])["data"]["candidate_id"] == "erased"
    assert await count_mentions(pool, "cand_x") == {}

    # Redelivered: the same id is a duplicate; the same erasure under a new id changes nothing more.
    ledger_before = [dict(r) for r in await pool.fetch("SELECT * FROM ledger WHERE referral_id IS NOT NULL ORDER BY seq")]
    assert await redeliver(outcomes, erasure) == "duplicate"
    assert await redeliver(outcomes, again(erasure)) == "applied"
    assert [dict(r) for r in await pool.fetch("SELECT * FROM ledger WHERE referral_id IS NOT NULL ORDER BY seq")] == (
        ledger_before
    )
    after = await funnel(pool)
    # Only the withdrawal's own outcome changed (ref_a: in progress -> withdrawn); the person,
    # whose ref_b waits for a decision, is pending now. The erasure id stayed the first one's.
    refs, people = before["referrals"]["outcomes"], before["people"]["outcomes"]
    assert after["referrals"]["outcomes"] == {**refs, "in_progress": refs["in_progress"] - 1, "withdrawn": 1}
    assert after["people"]["outcomes"] == {**people, "in_progress": people["in_progress"] - 1,
                                           "pending": people["pending"] + 1}
    assert after["referrals"]["stages"] == before["referrals"]["stages"]
    assert await pool.fetchval("SELECT person_key FROM referral_facts WHERE referral_id = 'ref_a'") == (
        f"erased:{erasure.id}")

    # Outside a redaction the ledger cannot be changed; DELETE never; and a redaction is narrow.
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE ledger SET envelope = envelope WHERE referral_id = 'ref_keep'")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM ledger WHERE referral_id = 'ref_a'")
        async with conn.transaction():
            await conn.execute("SET LOCAL talentloop.redacting = 'on'")
            for sql in (
                "DELETE FROM ledger WHERE referral_id = 'ref_keep'",
                "UPDATE ledger SET event_type = 'x.y.v1', redacted_at = now() WHERE referral_id = 'ref_keep'",
                "UPDATE ledger SET envelope = jsonb_set(envelope, '{data,candidate_id}', '\"someone\"'),"
                " redacted_at = now() WHERE referral_id = 'ref_keep'",
                "UPDATE ledger SET envelope = jsonb_set(envelope, '{data,extra}', '1'), redacted_at = now()"
                " WHERE referral_id = 'ref_keep'",
                "UPDATE ledger SET envelope = jsonb_set(envelope, '{subject}', '\"x\"'), redacted_at = now()"
                " WHERE referral_id = 'ref_keep'",
                "UPDATE ledger SET envelope = envelope WHERE referral_id = 'ref_a'",  # redacted once already
            ):
                with pytest.raises(asyncpg.RaiseError, match="append-only"):
                    async with conn.transaction():  # a savepoint per attempt, rolled back
                        await conn.execute(sql)
    assert await pool.fetchval("SELECT count(*) FROM ledger") == len(rows) + 2
    assert await pool.fetchval("SELECT count(*) FROM ledger WHERE redacted_at IS NULL AND referral_id = 'ref_keep'") == 1


async def test_an_erasure_racing_the_referrals_events_leaves_nothing_unredacted(outcomes):
    for attempt in range(8):  # a race: give it several chances to show
        ref, cand = f"ref_race_{attempt}", f"cand_race_{attempt}"
        await asyncio.gather(
            deliver(outcomes, erased(cand, ref)),
            deliver(outcomes, submitted(ref, "Python", cand=cand)),
            deliver(outcomes, routed(ref, cand=cand)),
            deliver(outcomes, withdrawn(ref, cand, events.WithdrawalReason.candidate_erased)),
        )
        assert await count_mentions(outcomes.pool, cand) == {}, attempt
        stages = await outcomes.pool.fetchval("SELECT stages FROM referral_facts WHERE referral_id = $1", ref)
        assert stages == ["referred", "routed", "withdrawn"]


async def test_a_gateway_erasure_racing_the_routing_decision_leaves_nothing_behind(gateway):
    for attempt in range(8):
        ref, cand = f"ref_race_{attempt}", f"cand_race_{attempt}"
        await asyncio.gather(
            deliver(gateway, erased(cand, ref)),
            deliver(gateway, routed(ref, cand=cand)),
            deliver(gateway, updated(ref, "Canary Skill", cand=cand)),
        )
        row = await referral_row(gateway.pool, ref)
        assert row["state"] == "withdrawn" and row["candidate_id"] == "erased", attempt
        assert await count_mentions(gateway.pool, cand) == {} and await count_mentions(gateway.pool, "canary") == {}


async def test_placement_then_erasure_keeps_the_hire_counted(outcomes):
    pool = outcomes.pool
    await deliver(outcomes, submitted("ref_h", "Python", cand="cand_h"))
    await deliver(outcomes, routed("ref_h", cand="cand_h"))
    placed = events.PlacementReportedV1(
        referral_id="ref_h", employer_id="emp1", opening_id="opn1", job_title="Dev", onet_soc_code="15-1252.00",
        wage=events.Wage(amount="30", unit="hour"), hours_per_week=40, employment_type=events.EmploymentType.full_time,
        benefits=events.Benefits(), start_date=date(2027, 1, 4),
    )
    await deliver(outcomes, placed)
    before = await funnel(pool)
    await deliver(outcomes, erased("cand_h", "ref_h"))
    assert await funnel(pool) == before and before["referrals"]["outcomes"]["placed"] == 1
    assert before["people"]["stages"]["placed"] == 1
    assert await pool.fetchval("SELECT status FROM referral_facts WHERE referral_id = 'ref_h'") == "hired"


# --- a partner's erasure of its own referrals (candidate.erased with partner_id) -----------------


def erased_by_partner(cand: str, partner: str, *refs: str) -> events.CandidateErasedV1:
    return events.CandidateErasedV1(
        candidate_id=cand, referral_ids=list(refs), requested_by=events.ErasureRequester.partner, erased_at=T0,
        partner_id=partner,
    )


async def published(pool: asyncpg.Pool, event_type: str) -> list[dict]:
    """The data of the service's outbox rows of this type, once the publisher has published them."""
    await pool.execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
    found = [json.loads(r["value"]) for r in await pool.fetch("SELECT value FROM outbox ORDER BY id")]
    return [e["data"] for e in found if e["type"] == event_type]


async def test_routing_drops_only_the_partners_referrals_and_strips_their_published_events(routing):
    pool = routing.pool
    await deliver(routing, opening("opn1", ["python"], capacity=3))
    await deliver(routing, submitted("ref_b", "Python", "Canary Skill", cand="cand_x"))
    await deliver(routing, submitted("ref_a", "Python", cand="cand_x"))  # another partner's, same person
    assert {d["referral_id"] for d in await published(pool, "referral.routed.v1")} == {"ref_a", "ref_b"}

    await deliver(routing, erased_by_partner("cand_x", "p2", "ref_b"))
    rows = {r["referral_id"]: r for r in await pool.fetch("SELECT * FROM decisions")}
    assert rows["ref_b"]["candidate_id"] is None and rows["ref_b"]["withdrawn_at"] == T0
    assert rows["ref_a"]["candidate_id"] == "cand_x" and rows["ref_a"]["withdrawn_at"] is None
    assert await routed_count(pool, "opn1") == 1
    about = {d["referral_id"]: d for d in await published(pool, "referral.routed.v1")}
    assert about["ref_b"]["candidate_id"] == "erased" and "candidate_skills" not in about["ref_b"]
    assert about["ref_a"]["candidate_id"] == "cand_x" and "candidate_skills" in about["ref_a"]
    assert await count_mentions(pool, "canary") == {}


async def test_the_gateway_drops_only_the_partners_referrals(gateway):
    pool = gateway.pool
    await deliver(gateway, routed("ref_b", cand="cand_x"))
    await deliver(gateway, routed("ref_a", cand="cand_x"))  # another partner's, same person
    await deliver(gateway, erased_by_partner("cand_x", "p2", "ref_b"))
    b, a = await referral_row(pool, "ref_b"), await referral_row(pool, "ref_a")
    assert b["state"] == "withdrawn" and b["candidate_id"] == "erased"
    assert "candidate_skills" not in json.loads(b["routing"])
    assert a["state"] == "routed" and a["candidate_id"] == "cand_x" and "candidate_skills" in json.loads(a["routing"])
