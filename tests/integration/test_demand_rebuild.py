"""`talentloop outcomes rebuild` with the demand board's inputs (issue 16 items 3 and 4): openings'
postings, employers' forecasts (a newer one replacing an older, one delivered twice) and hiring
standards replayed from the topics give the same ledger and tables, hash for hash, as the live
path, and the repeat is counted once. (No erasure applies to them: they hold no personal data.)"""

from __future__ import annotations

import uuid

import pytest

from contracts import events
from services.outcomes import rebuild
from tests.integration.test_outcomes_rebuild import env, history, live_hash, publish, schemas, topics  # noqa: F401
from tests.integration.test_withdraw_update_erase import opening

pytestmark = pytest.mark.integration


def forecast(employer: str, slots: int) -> events.DemandForecastV1:
    return events.DemandForecastV1(
        forecast_id=f"fct_{employer}_{slots}",
        employer_id=employer,
        onet_soc_code="15-1252.00",
        employment_type="full_time",
        horizon_months=12,
        slots_expected=slots,
        skills=["python"],
    )


async def test_the_rebuild_of_forecasts_standards_and_postings_equals_the_live_path(stack, topics, schemas):  # noqa: F811
    standards = events.HiringStandardsPublishedV1(
        employer_id="emp1",
        employer_name="Acme",
        onet_soc_code="15-1252.00",
        stages=["screening_call"],
        interview_format="remote",
        portfolio_expected=False,
        assessment_expected=False,
        degree_requirement_dropped=True,
    )
    demand = [
        env(forecast("emp1", 4), 1),
        env(forecast("emp1", 9), 2),
        env(forecast("emp2", 3), 2),
        env(standards, 3),
        env(opening("opn_d", ["sql"], capacity=2), 4),
    ]
    found = history("d") + demand
    placed = [(topics[0], e) for e in found] + [(topics[0], demand[1])]  # one forecast delivered twice
    await publish(stack.bootstrap, placed)
    schemas += ["rb_live_" + uuid.uuid4().hex[:6], "rb_built_" + uuid.uuid4().hex[:6]]
    live = await live_hash(stack, schemas[0], placed)

    result = rebuild.Result(schemas[1])
    pool = await rebuild.fresh_schema(stack.database_url, schemas[1])
    try:
        await rebuild.replay(stack.bootstrap, pool, result, batch=5, topics=topics)
        built = await rebuild.content_hash(pool)
        slots = await pool.fetchval(
            "SELECT forecast ->> 'slots_expected' FROM demand_forecasts WHERE employer_id = 'emp1'"
        )
        posting = await pool.fetchval("SELECT posting ->> 'capacity' FROM openings WHERE opening_id = 'opn_d'")
        kept = await pool.fetchval("SELECT count(*) FROM ledger")
    finally:
        await pool.close()
    assert {"demand_forecasts", "hiring_standards", "openings"} <= set(built)
    assert built == live
    assert slots == "9" and posting == "2"
    assert kept == len(found)  # the repeated forecast is in the ledger once
    # and counted once: a repeat of an event applied after the load is a repeat, not an event
    assert result.events == len(found) and result.skipped[rebuild.REPEATED] == 1
