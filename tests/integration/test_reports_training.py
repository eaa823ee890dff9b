"""The reports over a seeded ledger on real PostgreSQL (issue 15): WIOA's indicators over
training enrollments and the conversions at another employer, as GET /v1/reports answers them,
equal the pure computations over what the store reads; a provider's report is suppressed."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from contracts import build, events
from plumbing.auth import Principal
from plumbing.context import Deps, source_of
from plumbing.settings import Settings
from services.outcomes import pipeline, reports_api, store
from services.outcomes.app import DEFINITION as OUTCOMES
from services.outcomes.reports import inputs
from services.outcomes.reports.wioa_training import training_indicators
from tests.integration.test_outcomes_ledger import apply, outcomes_app
from tests.integration.test_outcomes_pipeline_funnel import training
from tests.integration.test_withdraw_update_erase import (  # noqa: F401
    T0,
    TEST_VAULT,
    consumer_for,
    make_pool,
    routed,
    submitted,
)
from tests.support import training_events as t

pytestmark = pytest.mark.integration

INTERN = {"job_title": "Data Intern", "onet_soc_code": "15-2051.00", "employment_type": "internship",
          "pay_basis": "hourly", "wage": events.Wage(amount="18.00", unit="hour"), "hours_per_week": 20,
          "benefits": events.Benefits(), "start_date": date(2027, 1, 4)}
HIRED = {**INTERN, "job_title": "Data Analyst", "employment_type": "full_time", "hours_per_week": 40,
         "wage": events.Wage(amount="30.00", unit="hour"), "benefits": events.Benefits(health=True, paid_leave=True),
         "start_date": date(2027, 7, 1)}


def placed(ref: str, cand: str, employer: str, terms: dict) -> list[events.Payload]:
    ids = {"referral_id": ref, "employer_id": employer, "opening_id": "opn1"}
    return [submitted(ref, "python", cand=cand), routed(ref, cand=cand, employer=employer),
            events.ReferralAcknowledgedV1(**ids), events.PlacementReportedV2(**ids, **terms)]


def reports_client(pool, who: Principal):  # type: ignore[no-untyped-def]
    client = outcomes_app(pool, who)
    app = client._transport.app  # type: ignore[attr-defined]
    app.include_router(reports_api.router)
    app.state.deps = Deps(source_of("outcomes"), Settings(TALENTLOOP_GOOD_JOB_WAGE="20.00"), lambda: T0, TEST_VAULT)
    return client


async def test_wioa_over_training_and_conversions_elsewhere_as_the_store_reads_them(make_pool):  # noqa: F811
    consumer = await consumer_for(make_pool, OUTCOMES)
    story = [
        training(t.program(), 0),
        training(t.enrolled("enr_1", "cand_a"), 1),
        training(t.progressed("enr_1", "cand_a"), 2),  # module_completed: a training milestone
        training(t.completed("enr_1", "cand_a"), 3),
        training(t.earned("enr_1", "cand_a"), 4),  # 19 days after completion
        training(t.program("prog_2", partner="trainer2"), 0),
        training(t.enrolled("enr_2", "cand_b", "prog_2", "trainer2"), 1),
        training(t.exited("enr_2", "cand_b", pid="prog_2", partner="trainer2"), 2),
        training(t.enrolled("enr_3", "cand_c"), 1),  # still in training
    ]
    hires = placed("ref_i", "cand_a", "emp1", INTERN) + placed("ref_f", "cand_a", "emp2", HIRED)
    for env in story + [build(p, source="/test", correlation_id="c", partner_id="p1", time=T0 + timedelta(hours=10 + i))
                        for i, p in enumerate(hires)]:
        await apply(consumer, env)

    async with consumer.pool.acquire() as conn:
        enrollments = await inputs.training_participations(conn)
        assert [(p.person_key, p.record) for p in enrollments] == await store.enrollment_people(conn)
    records = await store.report_records(consumer.pool, TEST_VAULT)
    expected = training_indicators(enrollments)
    attainment = next(i for i in expected["total"]["indicators"] if i["indicator"] == "credential_attainment")
    assert (attainment["numerator"], attainment["denominator"]) == (1, 2)  # enr_3 has not exited
    assert [p.gains_on for p in enrollments] == [(date(2026, 10, 1),), (), ()]  # enr_1's module completed
    assert pipeline.hires_elsewhere(records).keys() == {"ref_i"}

    async with reports_client(consumer.pool, Principal("operator", "ops")) as ops:
        response = await ops.get("/v1/reports")
        assert response.status_code == 200, response.text
        report = response.json()
        csv_text = (await ops.get("/v1/reports/wioa_training.csv")).text
    assert report["wioa_training"] == json.loads(json.dumps(expected))
    conversions = report["funnel"]["total"]["conversions"]
    assert (conversions["converted_elsewhere"], conversions["elsewhere_to_full_time"]) == (1, 1)
    assert report["good_jobs"]["total"]["converted_elsewhere_good_jobs"] == 1
    assert "credential_attainment" in csv_text

    # A provider's report: its own enrollments (two people), suppressed whole.
    async with reports_client(consumer.pool, Principal("partner", "trainer")) as trainer:
        mine = (await trainer.get("/v1/reports")).json()["wioa_training"]
    assert mine["total"]["suppressed"] and mine["suppression_threshold"] == 10
    async with consumer.pool.acquire() as conn:
        assert {p.record.provider for p in await inputs.training_participations(conn, "trainer")} == {"trainer"}
