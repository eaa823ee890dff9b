"""Routing's slots after a placement or an offer turned down, on real PostgreSQL (issue 14:
routing freed a placed referral's slot when the partner withdrew it, so an opening could get
more referrals than the employer's capacity). The whole path through Kafka and the services:
tests/e2e/test_routing_capacity.py."""

from __future__ import annotations

from datetime import date

import pytest

from contracts import events
from plumbing.consumer import EventConsumer
from services.routing.app import DEFINITION as ROUTING
from tests.integration import test_withdraw_update_erase as shared
from tests.integration.test_routing_matching import decisions, referral
from tests.integration.test_withdraw_update_erase import deliver, opening, routed_count, withdrawn

pytestmark = pytest.mark.integration
make_pool = shared.make_pool  # the fixture: one fresh schema per service

HELD = "the openings that fit are held for other partners' candidates for now (fair share)"
FULL = "openings that fit are full"


@pytest.fixture
async def routing(make_pool) -> EventConsumer:  # type: ignore[no-untyped-def]
    return await shared.consumer_for(make_pool, ROUTING)


def placement(ref: str, oid: str = "opn1") -> events.PlacementReportedV2:
    """An unpaid micro-internship, as the gateway reports placements since issue 15."""
    return events.PlacementReportedV2(
        referral_id=ref, employer_id="emp1", opening_id=oid, job_title="Dev", onet_soc_code="15-1252.00",
        employment_type=events.EmploymentKind.micro_internship, pay_basis=events.PayBasis.unpaid, wage=None,
        engagement_hours=40, benefits=events.Benefits(), start_date=date(2027, 1, 4),
    )


def placement_v1(ref: str, oid: str = "opn1") -> events.PlacementReportedV1:
    """As the gateway reported placements before issue 15: still read, through the upcaster."""
    return events.PlacementReportedV1(
        referral_id=ref, employer_id="emp1", opening_id=oid, job_title="Dev", onet_soc_code="15-1252.00",
        wage=events.Wage(amount="30", unit="hour"), hours_per_week=40, employment_type=events.EmploymentType.full_time,
        benefits=events.BasicBenefits(), start_date=date(2027, 1, 4),
    )


def declined(ref: str, oid: str = "opn1") -> events.ReferralDeclinedV1:
    return events.ReferralDeclinedV1(referral_id=ref, employer_id="emp1", opening_id=oid,
                                     reason=events.DeclineReason.not_selected_after_interview)


def offer_turned_down(ref: str, oid: str = "opn1") -> events.OfferDeclinedV1:
    return events.OfferDeclinedV1(referral_id=ref, employer_id="emp1", opening_id=oid, offer_id="off1",
                                  reason=events.OfferDeclineReason.accepted_other_offer)


async def reasons(routing) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {e.data["referral_id"]: e.data["reason"] for e in await decisions(routing, "referral.unmatched.v1")}


async def test_a_placed_referral_keeps_its_slot_and_its_fair_share_when_withdrawn(routing):
    # Young opening of 2: each partner may hold one slot (fair share).
    await deliver(routing, opening("opn1", ["python"], capacity=2))
    await deliver(routing, referral("placed", "python", partner="p1"))
    await deliver(routing, placement_v1("placed"))  # an old placement record, read as v2
    await deliver(routing, withdrawn("placed"))  # the gateway keeps the placement; so does routing
    assert await routed_count(routing.pool, "opn1") == 1

    await deliver(routing, referral("same-partner", "python", partner="p1"))
    await deliver(routing, referral("other-partner", "python", partner="p2"))
    await deliver(routing, referral("late", "python", partner="p3"))
    routed = [e.data["referral_id"] for e in await decisions(routing)]
    assert routed == ["placed", "other-partner"]
    assert await reasons(routing) == {"same-partner": HELD, "late": FULL}
    assert await routed_count(routing.pool, "opn1") == 2


async def test_a_placement_seen_after_the_withdrawal_takes_the_slot_back_even_beyond_capacity(routing):
    # The withdrawal (talentloop.referrals) reaches routing before the placement
    # (talentloop.employer-actions), although the gateway placed the referral first.
    await deliver(routing, opening("opn1", ["python"], capacity=1))
    await deliver(routing, referral("placed", "python"))
    await deliver(routing, withdrawn("placed"))
    await deliver(routing, referral("took-the-slot", "python"))
    assert await routed_count(routing.pool, "opn1") == 1

    await deliver(routing, placement("placed"))
    assert await routed_count(routing.pool, "opn1") == 2  # the person holds the job
    await deliver(routing, placement("placed"))  # a repeat changes nothing
    await deliver(routing, declined("took-the-slot"))
    assert await routed_count(routing.pool, "opn1") == 1
    await deliver(routing, referral("next", "python"))
    assert [e.data["referral_id"] for e in await decisions(routing)] == ["placed", "took-the-slot"]
    assert (await reasons(routing))["next"] == FULL


async def test_an_offer_turned_down_frees_the_slot_once_and_the_referral_is_not_routed_again(routing):
    await deliver(routing, opening("opn1", ["python"], capacity=1))
    await deliver(routing, referral("turned-down", "python"))
    await deliver(routing, offer_turned_down("turned-down"))
    assert await routed_count(routing.pool, "opn1") == 0
    await deliver(routing, withdrawn("turned-down"))  # the slot was given back already
    await deliver(routing, declined("turned-down"))  # the referral is no longer the employer's to decline
    assert await routed_count(routing.pool, "opn1") == 0

    await deliver(routing, referral("next", "python"))
    routed = [(e.data["referral_id"], e.data["attempt"]) for e in await decisions(routing)]
    assert routed == [("turned-down", 1), ("next", 1)]
    assert await routed_count(routing.pool, "opn1") == 1
