"""The reports' coalition funnel on real PostgreSQL (issue 15 item 5): store.pipeline_report_inputs
(which GET /v1/funnel's store.pipeline_inputs also reads) gives each provider its own enrollments
and other partners' referrals only under the consent rule, and /v1/reports/pipeline.csv groups
them by provider, program and credential for operators."""

from __future__ import annotations

import csv
import io

import pytest

from plumbing.auth import Principal
from plumbing.context import Deps, source_of
from plumbing.settings import Settings
from services.outcomes import pipeline, reports_api, store
from services.outcomes.app import DEFINITION as OUTCOMES
from tests.integration.test_outcomes_ledger import apply, envelopes, outcomes_app
from tests.integration.test_outcomes_pipeline_funnel import training
from tests.integration.test_withdraw_update_erase import T0, TEST_VAULT, consumer_for, make_pool  # noqa: F401
from tests.support import training_events as t

pytestmark = pytest.mark.integration


async def test_report_inputs_follow_the_funnels_consent_rule_and_csv_groups(make_pool):  # noqa: F811
    consumer = await consumer_for(make_pool, OUTCOMES)
    placed_person = "cand_ref_p"
    story = [
        training(t.program(), 0),
        training(t.enrolled("enr_1", placed_person, share_outcomes=True), 1),
        training(t.completed("enr_1", placed_person), 2),
        training(t.earned("enr_1", placed_person), 3),
        training(t.program("prog_2", partner="trainer2"), 0),
        training(t.enrolled("enr_2", "cand_other", "prog_2", "trainer2"), 1),
        # trainer3 may not hear what came of the placed person (no share_outcomes).
        training(t.program("prog_3", partner="trainer3"), 0),
        training(t.enrolled("enr_3", placed_person, "prog_3", "trainer3"), 1),
    ]
    for env in story + envelopes("ref_p") + envelopes("ref_untrained"):
        await apply(consumer, env)

    async with consumer.pool.acquire() as conn:
        for partner in ("trainer", "trainer2", "trainer3"):
            enrolled, _ = await store.pipeline_report_inputs(conn, partner)
            assert {e.provider for e in enrolled} == {partner}
        everyone, all_hires = await store.pipeline_report_inputs(conn, None)
        # ref_untrained's person never enrolled: their referral is in no coalition funnel.
        assert len(everyone) == 3 and {h.person_key for h in all_hires} == {placed_person}
        shared, shared_hires = await store.pipeline_report_inputs(conn, "trainer")  # with share_outcomes
        assert [h.person_key for h in shared_hires] == [placed_person]
        third, third_hires = await store.pipeline_report_inputs(conn, "trainer3")
    assert [e.provider for e in third] == ["trainer3"] and third_hires == []
    assert pipeline.pipeline_funnel([e.trainee for e in third], third_hires)["people"]["jobs"]["referred"] == 0

    client = outcomes_app(consumer.pool, Principal("operator", "ops"))
    app = client._transport.app  # type: ignore[attr-defined]
    app.include_router(reports_api.router)
    app.state.deps = Deps(source_of("outcomes"), Settings(TALENTLOOP_GOOD_JOB_WAGE="20.00"), lambda: T0, TEST_VAULT)
    async with client as ops:
        response = await ops.get("/v1/reports/pipeline.csv")
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    enrolled_by = {(r["dimension"], r["group"]): int(r["people"]) for r in rows if r["line"] == "enrolled"}
    assert enrolled_by[("total", "all")] == 2
    assert {g for d, g in enrolled_by if d == "provider"} == {"trainer", "trainer2", "trainer3"}
    assert sum(n for (d, _), n in enrolled_by.items() if d == "program") == 3  # the placed person in two
    placed = {(r["dimension"], r["group"]): r["people"] for r in rows if (r["section"], r["line"]) == ("jobs", "placed")}
    assert placed[("provider", "trainer3")] == "1" and placed[("provider", "trainer2")] == "0"
