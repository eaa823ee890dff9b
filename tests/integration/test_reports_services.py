"""The supportive-service reports on real PostgreSQL (issue 15 item 3): reports/inputs reads
`service_requests` (migration 012) for operators, a requester and a service provider as
`supportive.visible` says, and GET /v1/reports' services equal the pure computation over what
the store reads, the outcome comparison joining the people of the seeded ledger."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from contracts import build
from plumbing.auth import Principal
from services.outcomes import store
from services.outcomes.app import DEFINITION as OUTCOMES
from services.outcomes.reports import inputs
from services.outcomes.reports.supportive import Request, participants, services_report, visible
from tests.integration.test_outcomes_ledger import apply
from tests.integration.test_outcomes_pipeline_funnel import training
from tests.integration.test_reports_training import INTERN, placed, reports_client
from tests.integration.test_withdraw_update_erase import T0, TEST_VAULT, consumer_for, make_pool  # noqa: F401
from tests.support import training_events as t

pytestmark = pytest.mark.integration

AT = datetime(2027, 1, 5, 15, tzinfo=T0.tzinfo)
REQUESTS = [
    Request("req_1", "p1", "cbo1", "cand_a", "transportation", "delivered", "delivered", AT, date(2027, 1, 8),
            Decimal("45.00"), Decimal("50.00"), "USD", "EUR"),
    Request("req_2", "p1", "cbo2", "cand_b", "childcare", "declined", "declined", AT),
    Request("req_3", "trainer", "cbo1", "cand_c", "technology", "accepted", "stale", AT),
    Request("req_4", "trainer", "cbo2", "cand_c", "food", "requested", "requested", AT),
]


async def seed_requests(pool) -> None:  # type: ignore[no-untyped-def]
    await pool.executemany(
        "INSERT INTO service_requests (request_id, requester_id, provider_id, person_key, service_type, status,"
        " partner_status, requested_at, delivered_on, value_delivered, amount_requested, currency, detail, changed_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $8)",
        [(r.request_id, r.requester_id, r.provider_id, r.person_key, r.service_type, r.status, r.partner_status,
          r.requested_at, r.delivered_on, r.value_delivered, r.amount_requested, r.currency,
          json.dumps({"value": {"amount": str(r.value_delivered), "currency": r.value_currency}}
                     if r.value_delivered is not None else {}))
         for r in REQUESTS],
    )


async def test_services_read_for_each_caller_and_reported_as_computed(make_pool):  # noqa: F811
    consumer = await consumer_for(make_pool, OUTCOMES)
    story = [training(t.program(), 0), training(t.enrolled("enr_c", "cand_c"), 1),
             training(t.completed("enr_c", "cand_c"), 2)]
    referrals = placed("ref_a", "cand_a", "emp1", INTERN)
    for env in story + [build(p, source="/test", correlation_id="c", partner_id="p1", time=T0 + timedelta(hours=5 + i))
                        for i, p in enumerate(referrals)]:
        await apply(consumer, env)
    await seed_requests(consumer.pool)

    async with consumer.pool.acquire() as conn:
        for caller in (None, "p1", "trainer", "cbo1", "nobody"):
            assert await inputs.service_requests(conn, caller) == [r for r in REQUESTS if visible(r, caller)]
        training_inputs = await store.pipeline_report_inputs(conn, None)
    records = await store.report_records(consumer.pool, TEST_VAULT)
    expected = services_report(REQUESTS, participants(records, *training_inputs))
    assert expected["outcomes"]["received"]["placed"] == 1  # cand_a: served and placed

    async with reports_client(consumer.pool, Principal("operator", "ops")) as ops:
        report = (await ops.get("/v1/reports")).json()
        csv_text = (await ops.get("/v1/reports/services.csv")).text
    assert report["services"] == json.loads(json.dumps(expected))
    assert report["services"]["total"]["fulfilment_rate"] == round(1 / 3, 4)  # delivered / (2 ended + 1 stale)
    assert "transportation" in csv_text and "45.00 EUR" in csv_text  # the delivery's currency

    # A service provider: the requests addressed to it. Its comparison is over the people of its own
    # referrals and enrollments: none here.
    async with reports_client(consumer.pool, Principal("partner", "cbo1")) as cbo:
        theirs = (await cbo.get("/v1/reports")).json()["services"]
    assert theirs["total"]["requests"] == 2 and {g["group"] for g in theirs["by"]["requester"]} == {"p1", "trainer"}
    assert not theirs["outcomes"]["suppressed"] and theirs["outcomes"]["received"]["people"] == 0
