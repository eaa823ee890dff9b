"""Routing on real PostgreSQL: the openings catalogue's lifecycle, mandatory requirements in
the events, and capacity and fair share under concurrent decisions."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from contracts import Envelope, events
from plumbing.consumer import EventConsumer
from plumbing.context import Deps, source_of
from services.routing.app import DEFINITION as ROUTING
from tests.integration import test_withdraw_update_erase as shared
from tests.integration.test_withdraw_update_erase import CONSENT, T0, deliver, opening, routed_count, skill_refs

pytestmark = pytest.mark.integration
make_pool = shared.make_pool  # the fixture: one fresh schema per service


@pytest.fixture
async def routing(make_pool) -> EventConsumer:  # type: ignore[no-untyped-def]
    return await shared.consumer_for(make_pool, ROUTING)


def referral(ref: str, *skills: str, partner: str = "p1", credentials=(), degree=None) -> events.ReferralSubmittedV2:  # type: ignore[no-untyped-def]
    return events.ReferralSubmittedV2(
        referral_id=ref, partner_id=partner, candidate_id=f"cand_{ref}", skills=skill_refs(*skills),
        skills_vocabulary="2026.11", credentials=[events.Credential(name=c) for c in credentials],
        consent=CONSENT, highest_degree=degree,
    )


def updated_opening(oid: str, required: list[str], capacity: int, **more) -> events.OpeningUpdatedV1:  # type: ignore[no-untyped-def]
    posted = opening(oid, required, capacity)
    return events.OpeningUpdatedV1(**{**posted.model_dump(), "required_skills": required, "capacity": capacity, **more})


async def decisions(routing, kind: str = "referral.routed.v1") -> list[Envelope]:  # type: ignore[no-untyped-def]
    rows = await routing.pool.fetch("SELECT value FROM outbox ORDER BY id")
    return [e for e in (Envelope.from_bytes(r["value"]) for r in rows) if e.type == kind]


async def test_the_catalogue_follows_posted_updated_and_closed(routing):
    await deliver(routing, opening("opn1", ["python"], capacity=1), time=T0)
    await deliver(routing, referral("r1", "python"))
    await deliver(routing, updated_opening("opn1", ["python", "sql"], 3), time=T0 + timedelta(hours=1))
    await deliver(routing, opening("opn1", ["python"], capacity=1), time=T0)  # a late copy of the posting: ignored
    await deliver(routing, referral("r2", "python"))  # now lacks sql
    await deliver(routing, referral("r3", "python", "sql"))
    close = events.OpeningClosedV1(opening_id="opn1", employer_id="emp1", reason=events.OpeningCloseReason.filled,
                                   closed_at=T0 + timedelta(hours=2))
    await deliver(routing, close)
    await deliver(routing, referral("r4", "python", "sql"))
    routed = {e.data["referral_id"]: e.data for e in await decisions(routing)}
    unmatched = {e.data["referral_id"]: e.data for e in await decisions(routing, "referral.unmatched.v1")}
    assert set(routed) == {"r1", "r3"} and set(unmatched) == {"r2", "r4"}
    assert unmatched["r2"]["nearest"][0]["missing_skills"] == ["sql"]
    assert unmatched["r4"]["reason"] == "no open opening asks for any of the candidate's skills"
    assert routed["r3"]["attempt"] == 1 and routed["r3"]["details"]["required_matched"] == ["python", "sql"]
    assert await routed_count(routing.pool, "opn1") == 2


async def test_mandatory_credentials_and_degree_are_in_the_decision(routing):
    req = [events.CredentialRequirement(name="CompTIA Security+")]
    posting = opening("sec1", ["linux"], capacity=5).model_copy(
        update={"required_credentials": req, "degree_required": events.DegreeLevel.associate})
    await deliver(routing, posting, time=T0)
    await deliver(routing, referral("ok", "linux", credentials=["CompTIA Security+"], degree=events.DegreeLevel.bachelor))
    await deliver(routing, referral("no", "linux", credentials=["CompTIA A+"]))
    [routed] = await decisions(routing)
    [unmatched] = await decisions(routing, "referral.unmatched.v1")
    assert routed.data["referral_id"] == "ok"
    assert "holds the required CompTIA Security+" in routed.data["explanation"]
    assert unmatched.data["nearest"][0]["missing_requirements"] == [
        "credential: CompTIA Security+", "degree: associate or higher"]


async def test_concurrent_decisions_respect_capacity_and_fair_share(routing):
    # A young opening (posted now): no partner may take more than half of its 4 slots.
    await deliver(routing, opening("hot", ["python"], capacity=4), time=T0)
    refs = [referral(f"{p}-{i}", "python", partner=p) for p in ("big", "small") for i in range(6)]

    async def one(r: events.ReferralSubmittedV2) -> None:
        await deliver(routing, r, time=T0 + timedelta(minutes=5))

    await asyncio.gather(*(one(r) for r in refs))
    routed = [e.data for e in await decisions(routing)]
    assert await routed_count(routing.pool, "hot") == len(routed) == 4
    by_partner = {p: sum(1 for d in routed if d["partner_id"] == p) for p in ("big", "small")}
    assert by_partner == {"big": 2, "small": 2}
    unmatched = await decisions(routing, "referral.unmatched.v1")
    assert len(unmatched) == 8
    assert {u.data["reason"] for u in unmatched} <= {
        "openings that fit are full",
        "the openings that fit are held for other partners' candidates for now (fair share)",
    }


async def test_a_new_opening_reroutes_waiting_referrals_oldest_first_within_the_attempt_limit(routing):
    await deliver(routing, referral("w1", "rust"), time=T0)
    await deliver(routing, referral("w2", "rust"), time=T0 + timedelta(minutes=1))
    await deliver(routing, referral("w3", "rust", "python"), time=T0 + timedelta(minutes=2))
    await routing.pool.execute("UPDATE decisions SET attempt = 3 WHERE referral_id = 'w3'")  # used up its attempts
    await deliver(routing, referral("gone", "rust"), time=T0)
    await routing.pool.execute("UPDATE decisions SET withdrawn_at = now() WHERE referral_id = 'gone'")
    assert await decisions(routing) == []

    await deliver(routing, opening("rust1", ["rust"], capacity=1), time=T0 + timedelta(days=5))
    [first] = await decisions(routing)
    assert (first.data["referral_id"], first.data["attempt"], first.data["opening_id"]) == ("w1", 2, "rust1")
    assert first.data["candidate_id"] == "cand_w1" and first.causationid is not None
    # More capacity: the next in line; w3 has no attempts left, the withdrawn one never comes back.
    await deliver(routing, updated_opening("rust1", ["rust"], 5), time=T0 + timedelta(days=6))
    routed = [e.data["referral_id"] for e in await decisions(routing)]
    assert routed == ["w1", "w2"]
    assert await routed_count(routing.pool, "rust1") == 2


async def test_a_decision_publishes_one_skills_gap_observation_keyed_by_referral(routing):
    await deliver(routing, opening("da1", ["python", "statistics"], capacity=2, soc="15-2051.00"), time=T0)
    await deliver(routing, opening("da2", ["python", "beekeeping"], capacity=2, soc="15-2051.00"), time=T0)
    await deliver(routing, referral("g1", "python"))
    [gap] = await decisions(routing, "skills.gap_observed.v2")
    assert gap.subject == "g1" and gap.data["outcome"] == "unmatched" and gap.data["referral_id"] == "g1"
    assert [(c["opening_id"], c["onet_soc_code"], c["missing_required"]) for c in gap.data["comparisons"]] == [
        ("da1", "15-2051.00", ["statistics"]), ("da2", "15-2051.00", ["beekeeping"])]


async def test_when_the_fair_share_hold_ends_the_sweeper_routes_the_partners_waiting_candidates(routing):
    from services.routing import sweeper

    def at(moment: datetime) -> Deps:  # the sweeper's clock
        return Deps(source_of(ROUTING.name), clock=lambda: moment)

    await deliver(routing, opening("young", ["python"], capacity=2), time=T0)
    for i in range(3):  # one partner only: its share of the young opening is 1 slot
        await deliver(routing, referral(f"solo-{i}", "python"), time=T0 + timedelta(minutes=i))
    assert [e.data["referral_id"] for e in await decisions(routing)] == ["solo-0"]
    assert await sweeper.sweep_once(routing.pool, at(T0 + timedelta(days=1))) == 0  # still young

    assert await sweeper.sweep_once(routing.pool, at(T0 + timedelta(days=3, minutes=1))) == 1
    swept = await decisions(routing)
    routed = [(e.data["referral_id"], e.data["attempt"]) for e in swept]
    assert routed == [("solo-0", 1), ("solo-1", 2)]  # oldest waiting first; the slot count holds
    assert swept[1].time == T0 + timedelta(days=3, minutes=1)  # dated by the sweeper's clock, not the system's
    assert await routed_count(routing.pool, "young") == 2
    assert await sweeper.sweep_once(routing.pool, at(T0 + timedelta(days=4))) == 0  # each opening once


def declined(ref: str, opening_id: str, employer: str, reason=events.DeclineReason.requirements_not_met):  # type: ignore[no-untyped-def]
    return events.ReferralDeclinedV1(referral_id=ref, employer_id=employer, opening_id=opening_id, reason=reason)


def other_employer(posting: events.OpeningPostedV1, employer: str) -> events.OpeningPostedV1:
    return posting.model_copy(update={"employer_id": employer})


async def test_a_declined_referral_is_routed_again_to_another_employer_as_a_new_attempt(routing):
    await deliver(routing, opening("a1", ["python"], capacity=2), time=T0 - timedelta(days=5))
    await deliver(routing, other_employer(opening("a2", ["python"], capacity=1), "emp1"), time=T0 - timedelta(days=5))
    await deliver(routing, other_employer(opening("b1", ["python"], capacity=1), "emp2"), time=T0 - timedelta(days=5))
    await deliver(routing, referral("d1", "python"), time=T0)
    [first] = await decisions(routing)
    assert (first.data["opening_id"], first.data["attempt"]) == ("a1", 1)  # the bigger of emp1's openings

    await deliver(routing, declined("d1", "a1", "emp1"), time=T0 + timedelta(hours=1))
    second = (await decisions(routing))[-1]
    # Not emp1's other opening: a referral never goes back to an employer that had it.
    assert (second.data["opening_id"], second.data["employer_id"], second.data["attempt"]) == ("b1", "emp2", 2)
    assert second.data["candidate_id"] == "cand_d1" and second.causationid is not None
    assert await routed_count(routing.pool, "a1") == 0 and await routed_count(routing.pool, "b1") == 1

    await deliver(routing, declined("d1", "a1", "emp1"), time=T0 + timedelta(hours=2))  # a repeat: nothing
    await deliver(routing, declined("d1", "b1", "emp2"), time=T0 + timedelta(hours=3))
    [waiting] = await decisions(routing, "referral.unmatched.v1")
    assert (waiting.data["referral_id"], waiting.data["attempt"]) == ("d1", 3)
    assert len(await decisions(routing)) == 2 and await routed_count(routing.pool, "b1") == 0

    # A new opening of an employer that declined it does not bring it back; another's does not
    # either: its three attempts are used.
    await deliver(routing, other_employer(opening("b2", ["python"], capacity=1), "emp2"), time=T0 + timedelta(days=1))
    await deliver(routing, other_employer(opening("c1", ["python"], capacity=1), "emp3"), time=T0 + timedelta(days=1))
    assert len(await decisions(routing)) == 2


async def test_with_no_attempts_left_a_declined_referral_stays_declined(routing):
    await deliver(routing, opening("x1", ["go"], capacity=1), time=T0 - timedelta(days=5))
    await deliver(routing, other_employer(opening("y1", ["go"], capacity=1), "emp2"), time=T0 - timedelta(days=5))
    await deliver(routing, referral("last", "go"), time=T0)
    await routing.pool.execute("UPDATE decisions SET attempt = 3 WHERE referral_id = 'last'")
    await deliver(routing, declined("last", "x1", "emp1"), time=T0 + timedelta(hours=1))
    assert len(await decisions(routing)) == 1 and await decisions(routing, "referral.unmatched.v1") == []
    row = await routing.pool.fetchrow("SELECT outcome, declined_by FROM decisions WHERE referral_id = 'last'")
    assert (row["outcome"], row["declined_by"]) == ("declined", ["emp1"])
    assert await routed_count(routing.pool, "x1") == 0
