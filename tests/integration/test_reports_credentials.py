"""Credential and program outcomes and peer benchmarks on real PostgreSQL (issue 16 items 1-2):
GET /v1/reports/benchmarks and /v1/reports/credentials.jsonld equal the pure computations over
what reports/inputs.credential_inputs reads, for an operator and for a provider."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest

from contracts import build
from plumbing.auth import Principal
from services.outcomes.app import DEFINITION as OUTCOMES
from services.outcomes.reports import ReportSettings, inputs, program_reports
from services.outcomes.reports.ctdl import to_jsonld
from services.outcomes.reports_api import good_job_policy
from tests.integration.test_outcomes_ledger import apply
from tests.integration.test_outcomes_pipeline_funnel import training
from tests.integration.test_reports_training import HIRED, placed, reports_client
from tests.integration.test_withdraw_update_erase import T0, consumer_for, make_pool  # noqa: F401
from tests.support import training_events as t

pytestmark = pytest.mark.integration


async def test_the_routes_equal_the_pure_computation_over_the_store_for_operators_and_providers(make_pool):  # noqa: F811
    consumer = await consumer_for(make_pool, OUTCOMES)
    story = [
        training(t.program(), 0),
        training(t.enrolled("enr_1", "cand_a"), 1),  # did not share their outcomes with the trainer
        training(t.completed("enr_1", "cand_a"), 2),
        training(t.earned("enr_1", "cand_a"), 3),
        training(t.program("prog_2", partner="trainer2", name="Data Bootcamp"), 0),
        training(t.enrolled("enr_2", "cand_b", "prog_2", "trainer2"), 1),
        training(t.exited("enr_2", "cand_b", pid="prog_2", partner="trainer2"), 2),
    ]
    hires = placed("ref_a", "cand_a", "emp1", HIRED)  # by partner p1, not the trainer
    for env in story + [build(p, source="/test", correlation_id="c", partner_id="p1", time=T0 + timedelta(hours=10 + i))
                        for i, p in enumerate(hires)]:
        await apply(consumer, env)

    async with consumer.pool.acquire() as conn:
        read = await inputs.credential_inputs(conn)
    assert [(p.program_id, p.provider, p.credential_name, p.cost) for p in read.programs] == [
        ("prog_1", "trainer", "Canary A+", Decimal("0")), ("prog_2", "trainer2", "Canary A+", Decimal("0"))]
    assert [r.person_key for r in read.referrals] == ["cand_a"]

    async with reports_client(consumer.pool, Principal("operator", "ops")) as ops:
        settings = ReportSettings(good_job_policy(ops._transport.app.state.deps.settings))  # type: ignore[attr-defined]
        bench = (await ops.get("/v1/reports/benchmarks")).json()
        ld = await ops.get("/v1/reports/credentials.jsonld")
        report = (await ops.get("/v1/reports")).json()
        csv_text = (await ops.get("/v1/reports/program_outcomes.csv")).text
    expected = json.loads(json.dumps(program_reports(read, settings)))
    assert {k: bench[k] for k in expected["benchmarks"]} == expected["benchmarks"]
    assert report["credentials"] == expected["credentials"] and report["benchmarks"] == expected["benchmarks"]
    assert ld.headers["content-type"].startswith("application/ld+json")
    assert ld.json() == json.loads(json.dumps(to_jsonld(expected["credentials"], T0.date().isoformat())))
    prog_1 = next(r for r in expected["credentials"]["programs"] if r["program"] == "prog_1")
    assert (prog_1["participants"], prog_1["placed"], prog_1["credential_earned"]) == (1, 1, 1)  # p1's referral
    assert "prog_2,Data Bootcamp,trainer2" in csv_text

    # A provider: its own program only, the other partner's referral not counted, suppressed.
    partner_settings = ReportSettings(settings.good_jobs, growth_min_wages=11, suppress_funnel=True)
    async with reports_client(consumer.pool, Principal("partner", "trainer")) as trainer:
        bench = (await trainer.get("/v1/reports/benchmarks")).json()
        ld = (await trainer.get("/v1/reports/credentials.jsonld")).json()
    mine = json.loads(json.dumps(program_reports(read, partner_settings, "trainer")))
    assert {k: bench[k] for k in mine["benchmarks"]} == mine["benchmarks"]
    assert [r["program"] for r in bench["programs"]] == ["prog_1"] and bench["programs"][0]["suppressed"]
    assert ld == json.loads(json.dumps(to_jsonld(mine["credentials"], T0.date().isoformat())))
    assert "trainer2" not in json.dumps(bench) + json.dumps(ld) and "Data Bootcamp" not in json.dumps(ld)
    assert all("ceterms:aggregateData" not in node for node in ld["@graph"])
    unsuppressed = program_reports(read, ReportSettings(settings.good_jobs), "trainer")
    assert unsuppressed["credentials"]["programs"][0]["placed"] == 0  # cand_a did not share
