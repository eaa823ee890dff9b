"""The gateway's store on real PostgreSQL: a referral and everything hanging off it is read in
one statement and written in one, and still read current when the lock had to wait for
another transaction's change; unchanged rows are not rewritten; the detail and the inbox
read one consistent snapshot each."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from contracts import events
from plumbing.consumer import EventConsumer
from services.employer_gateway import store
from services.employer_gateway.app import DEFINITION as GATEWAY
from services.employer_gateway.domain import State, Terms
from tests.integration.test_gateway_openings import gateway_pool  # noqa: F401  (fixture)
from tests.integration.test_withdraw_update_erase import deliver, routed

pytestmark = pytest.mark.integration
EMPLOYER = "emp1"
TERMS = Terms(
    job_title="Junior Developer",
    onet_soc_code="15-1252.00",
    wage=events.Wage(amount="31.50", unit="hour"),
    hours_per_week=40,
    employment_type=events.EmploymentKind.full_time,
    benefits=events.Benefits(health=True),
    start_date=date(2026, 1, 5),
    pay_basis=events.PayBasis.hourly,
)
# Every field an offer may carry since offer.extended 2.0.
MICRO = Terms(
    job_title="Data Cleanup Project",
    onet_soc_code="15-1254.00",
    wage=None,
    hours_per_week=None,
    employment_type=events.EmploymentKind.micro_internship,
    benefits=events.Benefits(other=["laptop"], childcare=True),
    start_date=date(2026, 1, 5),
    pay_basis=events.PayBasis.unpaid,
    engagement_hours=40,
    end_date=date(2026, 1, 30),
    schedule=events.Schedule(predictable=False, variable_hours=True, max_hours_per_week=15),
)


@pytest.fixture
def consumer(gateway_pool: asyncpg.Pool) -> EventConsumer:  # noqa: F811
    return EventConsumer(GATEWAY.name, gateway_pool, None, handlers=GATEWAY.handlers)  # type: ignore[arg-type]


async def a_referral(consumer: EventConsumer) -> str:
    referral_id = f"ref_{uuid.uuid4().hex[:8]}"
    await deliver(consumer, routed(referral_id, cand=f"cand_{referral_id}", employer=EMPLOYER))
    return referral_id


async def test_everything_saved_is_loaded_back(gateway_pool, consumer) -> None:  # noqa: F811
    referral_id = await a_referral(consumer)
    when = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
    async with gateway_pool.acquire() as conn, conn.transaction():
        referral, partner = await store.load(conn, referral_id, EMPLOYER)
        referral.acknowledge()
        referral.schedule_interview("int_a", when, events.InterviewMode.video)
        referral.cancel_interview("int_a", events.CancelledBy.candidate, None)
        referral.schedule_interview("int_b", when + timedelta(days=1), events.InterviewMode.in_person)
        referral.record_interview_outcome("int_b", events.InterviewOutcome.advanced)
        referral.extend_offer("off_a", MICRO, date(2026, 3, 20))
        referral.state = State.interviewing  # a second offer, on other terms
        referral.extend_offer("off_b", TERMS, None)
        referral.report_placement(TERMS)
        await store.save(conn, referral)
    async with gateway_pool.acquire() as conn, conn.transaction():
        again, partner_again = await store.load(conn, referral_id, EMPLOYER)
    assert partner_again == partner == "p1"
    assert again == referral  # state, interviews, offers and employment, field by field
    assert again.offers["off_a"].terms == MICRO and again.offers["off_b"].terms == TERMS
    assert again.state is State.placed and again.employment.start_date == TERMS.start_date
    assert await store.load(gateway_pool, referral_id, "someone-else") is None  # type: ignore[arg-type]


async def test_a_row_that_did_not_change_is_not_written_again(gateway_pool, consumer) -> None:  # noqa: F811
    referral_id = await a_referral(consumer)
    async with gateway_pool.acquire() as conn, conn.transaction():
        referral, _ = await store.load(conn, referral_id, EMPLOYER)
        referral.acknowledge()
        referral.schedule_interview("int_" + referral_id, datetime.now(UTC), events.InterviewMode.video)
        await store.save(conn, referral)
    version = "SELECT xmin::text FROM interviews WHERE referral_id = $1"
    before = await gateway_pool.fetchval(version, referral_id)
    async with gateway_pool.acquire() as conn, conn.transaction():
        referral, _ = await store.load(conn, referral_id, EMPLOYER)
        referral.extend_offer("off_" + referral_id, TERMS, None)
        await store.save(conn, referral)
    assert await gateway_pool.fetchval(version, referral_id) == before
    assert await gateway_pool.fetchval("SELECT count(*) FROM offers WHERE referral_id = $1", referral_id) == 1


async def test_a_load_that_waited_for_the_lock_sees_what_the_other_transaction_saved(gateway_pool, consumer) -> None:  # noqa: F811
    referral_id = await a_referral(consumer)
    async with gateway_pool.acquire() as first, gateway_pool.acquire() as second:
        tx = first.transaction()
        await tx.start()
        referral, _ = await store.load(first, referral_id, EMPLOYER)
        referral.acknowledge()
        referral.schedule_interview("int_raced", datetime.now(UTC), events.InterviewMode.video)
        await store.save(first, referral)

        async def load_when_free():  # type: ignore[no-untyped-def]
            async with second.transaction():
                return await store.load(second, referral_id, EMPLOYER)

        waiting = asyncio.create_task(load_when_free())
        # It waits for the lock: the row is held by the first transaction.
        while not await gateway_pool.fetchval(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'"
        ):
            assert not waiting.done()
            await asyncio.sleep(0.02)
        await tx.commit()
        seen, _ = await asyncio.wait_for(waiting, 10)
    # The referral's row and its interviews from the same (committed) moment.
    assert seen.state is State.interviewing
    assert list(seen.interviews) == ["int_raced"]


async def test_the_detail_and_the_inbox_show_the_contact_only_where_it_is_shared(gateway_pool, consumer) -> None:  # noqa: F811
    referral_id = await a_referral(consumer)
    sealed = '{"kid": "k", "candidate_id": "cand_x", "nonce": "bm9uY2U=", "ciphertext": "Y2lwaGVy"}'
    await gateway_pool.execute(
        "INSERT INTO contacts (referral_id, share_contact, contact_sealed, updated_at) VALUES ($1, true, $2, now())",
        referral_id,
        sealed,
    )
    async with gateway_pool.acquire() as conn:
        detail, contact = await store.referral_detail(conn, referral_id, EMPLOYER)
        page = await store.inbox_page(conn, EMPLOYER, state=None, opening_id=None, after=None, limit=500)
        assert await store.referral_detail(conn, referral_id, "someone-else") is None
    assert detail["referral_id"] == referral_id and detail["interviews"] == [] and detail["employment"] is None
    assert contact is not None and json.loads(contact) == json.loads(sealed)
    (mine,) = [(item, c) for item, c in page if item["referral_id"] == referral_id]
    assert mine[1] == contact and "contact_sealed" not in mine[0]
    await gateway_pool.execute("UPDATE contacts SET share_contact = false WHERE referral_id = $1", referral_id)
    async with gateway_pool.acquire() as conn:
        _, hidden = await store.referral_detail(conn, referral_id, EMPLOYER)
    assert hidden is None


async def test_an_offer_stored_before_offer_extended_2_0_still_loads_and_shows(gateway_pool, consumer) -> None:  # noqa: F811
    referral_id = await a_referral(consumer)
    async with gateway_pool.acquire() as conn, conn.transaction():
        referral, _ = await store.load(conn, referral_id, EMPLOYER)
        referral.acknowledge()
        referral.extend_offer("off_old", TERMS, None)
        await store.save(conn, referral)
        # The terms as the gateway stored them before 2.0: no pay basis nor any field 2.0 added.
        old = {"job_title": "Analyst", "onet_soc_code": "15-2051.00", "wage": {"amount": "58760.00", "unit": "year",
               "currency": "USD"}, "hours_per_week": 37.5, "employment_type": "part_time",
               "benefits": {"health": True, "retirement": False, "paid_leave": True}, "start_date": "2026-01-05"}
        await conn.execute("UPDATE offers SET terms = $1::jsonb WHERE offer_id = 'off_old'", json.dumps(old))
    async with gateway_pool.acquire() as conn, conn.transaction():
        loaded, _ = await store.load(conn, referral_id, EMPLOYER)
        terms = loaded.offers["off_old"].terms
        assert (terms.pay_basis, terms.hours_per_week, terms.employment_type) == ("salary", 37.5, "part_time")
        assert terms.benefits == events.Benefits(health=True, paid_leave=True)
        assert (terms.apprenticeship_registered, terms.engagement_hours, terms.end_date, terms.schedule) == (None,) * 4
        loaded.report_placement(terms)  # and it can still be placed on, as v2
        await store.save(conn, loaded)
    detail, _ = await store.referral_detail(gateway_pool, referral_id, EMPLOYER)
    (offer,) = detail["offers"]
    assert offer["pay_basis"] == "salary" and offer["wage"]["amount"] == "58760.00" and offer["schedule"] is None
    assert offer["benefits"]["dental"] is False and offer["employment_type"] == "part_time"
