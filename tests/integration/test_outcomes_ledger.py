"""The outcomes ledger on real PostgreSQL: events of one referral delivered out of order
across topics, and more than once, give one projection; every status change reaches the
referring partner once; partners see only their own referrals (and the coalition's totals).
"""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from contracts import Envelope, build, events
from contracts.registry import dataschema
from plumbing import problems
from plumbing.auth import Principal, principal
from services.outcomes import api as outcomes_api
from services.outcomes.app import DEFINITION as OUTCOMES
from tests.integration.test_outcomes_store import lifecycle
from tests.integration.test_withdraw_update_erase import T0, TEST_VAULT, consumer_for, make_pool  # noqa: F401

pytestmark = pytest.mark.integration


def envelopes(ref: str, partner: str = "p1") -> list[Envelope]:
    """One referral's lifecycle, each event an hour after the previous, as the services send them."""
    return [
        build(p, source="/test", correlation_id="c", partner_id=partner, time=T0 + timedelta(hours=i))
        for i, p in enumerate(lifecycle(ref))
    ]


async def apply(consumer, env: Envelope) -> None:  # type: ignore[no-untyped-def]
    """As the consumer applies it: by its newest type's handler (a v1 offer or placement has none of its own)."""
    from contracts import latest_type, payload_of

    async with consumer.pool.acquire() as conn, conn.transaction():
        await consumer.handlers[latest_type(env.type)](consumer.deps.bind(conn), env, payload_of(env))


async def projection(pool: asyncpg.Pool, ref: str) -> dict:
    row = await pool.fetchrow(
        "SELECT partner_id, employer_id, facts, stages, status, anomalies, exit, record::text AS record"
        " FROM referral_facts WHERE referral_id = $1", ref)
    return dict(row)


async def status_changes(pool: asyncpg.Pool, ref: str) -> list[tuple[str | None, str]]:
    rows = await pool.fetch("SELECT value FROM outbox WHERE topic = 'talentloop.partner-status' ORDER BY id")
    found = [Envelope.from_bytes(r["value"]) for r in rows]
    return [(e.data["previous_status"], e.data["status"]) for e in found if e.subject == ref]


async def test_any_arrival_order_and_any_repeats_give_the_same_projection(make_pool):  # noqa: F811
    consumer = await consumer_for(make_pool, OUTCOMES)
    in_order = envelopes("ref_order")
    for env in in_order:
        await apply(consumer, env)
    expected = await projection(consumer.pool, "ref_order")
    assert expected["status"] == "hired" and expected["stages"][-1] == "placed"

    rng = random.Random(7)
    orders = list(itertools.permutations(range(len(in_order))))
    for n, order in enumerate(rng.sample(orders, 6)):
        ref = f"ref_shuffled_{n}"
        shuffled = envelopes(ref)
        picked = [shuffled[i] for i in order]
        picked += rng.sample(picked, 3)  # some delivered twice (same event ids)
        for env in picked:
            await apply(consumer, env)
        got = await projection(consumer.pool, ref)
        assert {**got, "record": None} == {**expected, "record": None}, order
        assert got["record"].replace(ref, "REF") == expected["record"].replace("ref_order", "REF")
        count = await consumer.pool.fetchval("SELECT count(*) FROM ledger WHERE referral_id = $1", ref)
        assert count == len(in_order)


async def test_every_status_change_reaches_the_partner_once(make_pool):  # noqa: F811
    consumer = await consumer_for(make_pool, OUTCOMES)
    for env in envelopes("ref_loop"):
        await apply(consumer, env)
        await apply(consumer, env)  # a redelivery says nothing new
    assert await status_changes(consumer.pool, "ref_loop") == [
        (None, "submitted"), ("submitted", "in_review"), ("in_review", "interviewing"), ("interviewing", "hired")
    ]
    rows = await consumer.pool.fetch("SELECT value FROM outbox WHERE topic = 'talentloop.partner-status' ORDER BY id")
    hired = Envelope.from_bytes(rows[-1]["value"])
    assert hired.data["detail"]["job_title"] == "Dev" and hired.data["detail"]["wage_band"] == "$30-40/hour"
    assert hired.partnerid == "p1" and hired.dataschema == dataschema(events.ReferralStatusChangedV1)


def outcomes_app(pool: asyncpg.Pool, who: Principal) -> httpx.AsyncClient:
    app = FastAPI()
    problems.install(app)
    app.include_router(outcomes_api.router)
    app.state.pool = pool
    app.state.vault = TEST_VAULT
    app.dependency_overrides[principal] = lambda: who
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://outcomes")


async def test_a_partner_sees_its_own_referrals_and_only_the_coalitions_totals(make_pool):  # noqa: F811
    consumer = await consumer_for(make_pool, OUTCOMES)
    for env in envelopes("ref_mine", partner="p1") + envelopes("ref_theirs", partner="p2"):
        await apply(consumer, env)
    async with outcomes_app(consumer.pool, Principal("partner", "p1")) as mine:
        listed = (await mine.get("/v1/partner/referrals")).json()["items"]
        assert [i["referral_id"] for i in listed] == ["ref_mine"] and listed[0]["status"] == "hired"
        assert (await mine.get("/v1/referrals/ref_mine/timeline")).status_code == 200
        other = await mine.get("/v1/referrals/ref_theirs/timeline")
        assert other.status_code == 404 and "ref_theirs" not in other.json().get("detail", "")
        funnel = (await mine.get("/v1/funnel")).json()
        assert funnel["definitions"] == "docs/pipeline.md"
        assert funnel["total"]["referrals"]["stages"]["referred"] == 1
        assert funnel["coalition"]["referrals"]["stages"]["referred"] == 2
        assert funnel["total"]["people"]["outcomes"]["placed"] == 1
        assert list(funnel["by_partner"]) == ["p1"]
    async with outcomes_app(consumer.pool, Principal("employer", "emp1")) as employer:
        assert (await employer.get("/v1/partner/referrals")).status_code == 403


async def test_the_reports_come_as_json_csv_and_html_for_operators_and_each_partner(make_pool):  # noqa: F811
    from plumbing.context import Deps, source_of
    from plumbing.settings import Settings
    from services.outcomes import reports_api

    consumer = await consumer_for(make_pool, OUTCOMES)
    for env in envelopes("ref_r1", partner="p1") + envelopes("ref_r2", partner="p2"):
        await apply(consumer, env)

    # The reports take the settings, the vault and the time from the service's dependencies.
    frozen = T0 + timedelta(days=400)
    deps = Deps(source_of("outcomes"), Settings(TALENTLOOP_GOOD_JOB_WAGE="20.00"), lambda: frozen, TEST_VAULT)

    def app_for(who: Principal) -> httpx.AsyncClient:
        client = outcomes_app(consumer.pool, who)
        app = client._transport.app  # type: ignore[attr-defined]
        app.include_router(reports_api.router)
        app.state.deps = deps
        return client

    async with app_for(Principal("operator", "ops")) as ops:
        doc = (await ops.get("/v1/reports")).json()
        assert doc["scope"] == "all partners" and set(doc) >= {"funnel", "good_jobs", "wioa", "skills_gap", "transparency"}
        assert doc["generated_at"] == frozen.isoformat()
        csv_text = (await ops.get("/v1/reports/funnel.csv")).text
        assert csv_text.splitlines()[0].startswith("dimension,group,stage,count")
        assert (await ops.get("/v1/reports/nope.csv")).status_code == 404
        # A date as the document says it, not seconds since 1970.
        assert (await ops.get("/v1/reports?as_of=0")).status_code == 422
        assert (await ops.get("/v1/reports?as_of=2026-06-30")).status_code == 200
        page = await ops.get("/v1/reports/report.html")
        assert page.headers["content-type"].startswith("text/html") and "<svg" in page.text
        assert frozen.date().isoformat() in page.text
    async with app_for(Principal("partner", "p1")) as mine:
        doc = (await mine.get("/v1/reports")).json()
        assert doc["scope"] == "partner p1" and "p2" not in str(doc["funnel"])
    async with app_for(Principal("employer", "emp1")) as employer:
        assert (await employer.get("/v1/reports")).status_code == 403


async def test_batches_give_what_event_by_event_gives(make_pool):  # noqa: F811
    """The live consumer takes records in batches (`ingest.py`); the projections are those of
    applying each event on its own."""
    from plumbing.consumer import EventConsumer, Record
    from services.outcomes.handlers import batch_handler

    one_by_one = await consumer_for(make_pool, OUTCOMES)
    batched_pool = await make_pool(OUTCOMES.migrations)
    batched = EventConsumer("outcomes", batched_pool, None, handlers=OUTCOMES.handlers,  # type: ignore[arg-type]
                            batch_handler=batch_handler(live=True))
    rng = random.Random(11)
    stream = [env for n in range(6) for env in envelopes(f"ref_b{n}", partner=f"p{n % 2}")]
    for env in stream:
        await apply(one_by_one, env)
    shuffled = rng.sample(stream, len(stream)) + rng.sample(stream, 5)  # out of order, and some twice
    for start in range(0, len(shuffled), 7):
        records = [Record(e.subject, 0, i, e.subject.encode(), e.to_bytes()) for i, e in enumerate(shuffled[start:start + 7])]
        outcomes = await batched.process_batch(records)
        assert set(outcomes) <= {"applied", "duplicate"}
    assert batched.counts["applied"] == len(stream) and batched.counts["duplicate"] == 5
    for n in range(6):
        ref = f"ref_b{n}"
        assert await projection(batched_pool, ref) == await projection(one_by_one.pool, ref)
        # Several steps of one referral in one batch are one change: from what the partner was
        # last told to where the referral now is (never a status it did not reach).
        told = await status_changes(batched_pool, ref)
        assert told[-1][1] == "hired" and all(prev == nxt for (_, nxt), (prev, _) in zip(told, told[1:], strict=False))


async def test_the_funnels_sql_counts_what_the_definitions_count(make_pool):  # noqa: F811
    """store.funnel_counts (one statement) against pipeline.summarize, on random histories of
    people with several referrals at several partners and employers, in total and per group."""
    from services.outcomes import domain, pipeline, store
    from services.outcomes import projection as projections
    from services.outcomes.domain import Fact
    from services.outcomes.records import ReferralRecord

    pool = await make_pool(OUTCOMES.migrations)
    names = sorted({*domain.FACT_OF_FAMILY.values(), domain.RETAINED_90} - {"retention_checked"})
    rng = random.Random(15)
    projected, entries = {}, []
    for i in range(120):
        facts = [Fact(rng.choice(names), rng.choice(["emp1", "emp2", "emp3"]), rng.randint(1, 3))
                 for _ in range(rng.randint(0, 7))]
        facts = [domain.scoped(f.name, f.employer_id, f.attempt) for f in facts]
        d = domain.derive(facts)
        details = tuple(x for x in pipeline.PLACED_DETAILS if rng.random() < 0.4)
        flags = pipeline.flags(d.outcome, d.employer_id, d.declined_by, details)
        partner, candidate = rng.choice(["p1", "p2"]), f"cand{rng.randint(0, 40)}"
        record = ReferralRecord(referral_id=f"r{i:03}", partner_id=partner, referred_at=T0, employer_id=d.employer_id,
                                status=d.status, outcome=d.outcome, declined_by=d.declined_by, flags=flags)
        projected[record.referral_id] = projections.Projection(
            d, facts, record, projections.PartnerStatus(d.status, {}), candidate, None)
        reached = frozenset(s for s in d.stages if s in pipeline.STAGES)
        entries.append(((partner, d.employer_id), pipeline.Entry(candidate, reached, d.outcome,
                                                                 d.employer_id or pipeline.NO_EMPLOYER,
                                                                 d.declined_by, flags)))
    async with pool.acquire() as conn:
        await store.save_projections(conn, projected)
    assert (await store.funnel_counts(pool, None, None, None))["all"] == pipeline.summarize(e for _, e in entries)
    by_partner = await store.funnel_counts(pool, "partner", None, None)
    for p in ("p1", "p2"):
        assert by_partner[p] == pipeline.summarize(e for (q, _), e in entries if q == p), p
    mine = await store.funnel_counts(pool, "employer", None, "emp2")
    assert mine["emp2"] == pipeline.summarize(e for (_, m), e in entries if m == "emp2")


async def test_rows_projected_under_an_older_version_are_projected_again_as_fresh(make_pool):  # noqa: F811
    """What the service does on start (application.reproject_outdated): rows stored before the
    funnel's columns existed get the same row a fresh projection gives."""
    from services.outcomes import application

    consumer = await consumer_for(make_pool, OUTCOMES)
    for env in envelopes("ref_old_1") + envelopes("ref_old_2", partner="p2"):
        await apply(consumer, env)
    pool = consumer.pool
    query = "SELECT * FROM referral_facts ORDER BY referral_id"
    fresh = [{k: v for k, v in r.items() if k not in ("updated_at", "inputs_version", "inputs_complete")}
             for r in await pool.fetch(query)]
    assert {r["projected_with"] for r in fresh} == {2} and fresh[0]["outcome"] == "placed"
    await pool.execute("UPDATE referral_facts SET projected_with = 0, outcome = NULL, flags = '{}',"
                       " person_key = NULL, record = record - 'outcome'")
    assert await application.reproject_outdated(pool, batch=1) == 2
    again = [{k: v for k, v in r.items() if k not in ("updated_at", "inputs_version", "inputs_complete")}
             for r in await pool.fetch(query)]
    assert again == fresh
    assert await application.reproject_outdated(pool) == 0
