"""A referral's whole life at the employer through the gateway's HTTP API, on real PostgreSQL:
interviews moved and called off, offers, the hire, retention check-ins and the separation;
the candidate's contact details only where they consented; stale referrals.

The gateway's router runs in-process with its real store, outbox and vault (`gateway_app`);
intake's and routing's events are applied the way its consumer applies them (`deliver`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from contracts import Envelope, events
from plumbing.consumer import EventConsumer
from plumbing.context import Deps, source_of
from services.employer_gateway import stale
from services.employer_gateway.app import DEFINITION as GATEWAY
from tests.integration.test_gateway_openings import gateway_pool  # noqa: F401  (fixture)
from tests.integration.test_withdraw_update_erase import (
    CONSENT,
    TEST_VAULT,
    deliver,
    erased,
    gateway_app,
    routed,
    skill_refs,
)

pytestmark = pytest.mark.integration
TODAY = datetime.now(UTC).date()
START = TODAY - timedelta(days=200)
TERMS = {
    "job_title": "Junior Developer", "onet_soc_code": "15-1252.00", "wage": {"amount": "31.50", "unit": "hour"},
    "hours_per_week": 40, "employment_type": "full_time", "benefits": {"health": True, "paid_leave": True},
    "start_date": START.isoformat(),
}


@pytest.fixture
def consumer(gateway_pool: asyncpg.Pool) -> EventConsumer:  # noqa: F811
    return EventConsumer(GATEWAY.name, gateway_pool, None, handlers=GATEWAY.handlers)  # type: ignore[arg-type]


async def employer_events(pool: asyncpg.Pool) -> list[Envelope]:
    rows = await pool.fetch("SELECT value FROM outbox WHERE topic = 'talentloop.employer-actions' ORDER BY id")
    return [Envelope.from_bytes(r["value"]) for r in rows]


def ref() -> str:
    return f"ref_{uuid.uuid4().hex[:8]}"


async def test_the_whole_life_of_a_referral_at_the_employer(gateway_pool, consumer):  # noqa: F811
    r_id = ref()
    await deliver(consumer, routed(r_id, cand=f"cand_{r_id}"))
    when = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    async with gateway_app(gateway_pool) as http:
        async def act(path: str, body: dict | None = None, status: int = 200) -> dict:
            r = await http.post(f"/v1/referrals/{r_id}/{path}", json=body)
            assert r.status_code == status, r.text
            return r.json()

        await act("acknowledge")
        first = (await act("interviews", {"scheduled_for": when, "mode": "video"}, 201))["interview_id"]
        later = (datetime.now(UTC) + timedelta(days=5)).isoformat()
        assert (await act(f"interviews/{first}/reschedule", {"scheduled_for": later}))["state"] == "interviewing"
        await act(f"interviews/{first}/cancel", {"cancelled_by": "candidate", "detail": "a family matter"})
        latest = (datetime.now(UTC) + timedelta(days=6)).isoformat()
        second = (await act("interviews", {"scheduled_for": latest, "mode": "in_person"}, 201))["interview_id"]
        await act(f"interviews/{second}/outcome", {"outcome": "advanced"})
        offer = await act("offers", {**TERMS, "expires_on": (TODAY + timedelta(days=7)).isoformat()}, 201)
        assert offer["state"] == "offered" and offer["offer_id"].startswith("off_")
        await act("placement", TERMS)
        await act("retention", {"milestone_days": 30, "still_employed": True, "checked_on": (START + timedelta(days=31)).isoformat()})
        await act("retention", {"milestone_days": 90, "still_employed": True,
                                "checked_on": (START + timedelta(days=90)).isoformat(), "wage": {"amount": "33", "unit": "hour"}})
        done = await act("separation", {"separated_on": (START + timedelta(days=150)).isoformat(), "reason": "resigned"})
        assert done["state"] == "separated"

        r = await http.get(f"/v1/referrals/{r_id}")
        assert r.status_code == 200, r.text
        detail = r.json()
    types = [e.type.rsplit(".", 1)[0] for e in await employer_events(gateway_pool)]
    assert types == [
        "referral.acknowledged", "interview.scheduled", "interview.rescheduled", "interview.cancelled",
        "interview.scheduled", "interview.completed", "offer.extended", "placement.reported", "retention.checked",
        "retention.checked", "separation.reported",
    ]
    assert detail["state"] == "separated"
    assert [(i["interview_id"], i["cancelled_by"], i["outcome"]) for i in detail["interviews"]] == [
        (first, "candidate", None), (second, None, "advanced")]
    assert detail["interviews"][0]["scheduled_for"] == datetime.fromisoformat(later).isoformat()
    assert detail["offers"][0]["offer_id"] == offer["offer_id"] and detail["offers"][0]["wage"]["amount"] == "31.50"
    employment = detail["employment"]
    assert {k: employment[k] for k in ("start_date", "retention", "separated_on", "converted_on")} == {
        "start_date": START.isoformat(), "retention": {"30": True, "90": True},
        "separated_on": (START + timedelta(days=150)).isoformat(), "converted_on": None}
    assert employment["terms"]["employment_type"] == "full_time" and employment["terms"]["wage"]["amount"] == "31.50"


async def test_impossible_steps_are_409_naming_the_state_and_unknown_ids_404(gateway_pool, consumer):  # noqa: F811
    r_id = ref()
    await deliver(consumer, routed(r_id, cand=f"cand_{r_id}"))
    async with gateway_app(gateway_pool) as http:
        r = await http.post(f"/v1/referrals/{r_id}/placement", json=TERMS)
        assert r.status_code == 409 and r.json()["current_state"] == "routed", r.text
        assert "cannot report placement" in r.json()["detail"]
        await http.post(f"/v1/referrals/{r_id}/acknowledge")
        r = await http.post(f"/v1/referrals/{r_id}/interviews/int_nope/outcome", json={"outcome": "advanced"})
        assert r.status_code == 404 and r.json()["type"].endswith(":not-found")
        r = await http.post(f"/v1/referrals/{r_id}/offers/off_nope/declined", json={"reason": "compensation"})
        assert r.status_code == 404
        recent = {**TERMS, "start_date": (TODAY - timedelta(days=10)).isoformat()}
        assert (await http.post(f"/v1/referrals/{r_id}/placement", json=recent)).status_code == 200
        r = await http.post(f"/v1/referrals/{r_id}/retention",
                            json={"milestone_days": 30, "still_employed": True, "checked_on": TODAY.isoformat()})
        assert r.status_code == 409 and r.json()["current_state"] == "placed" and "due on" in r.json()["detail"]
        tomorrow = (TODAY + timedelta(days=1)).isoformat()
        r = await http.post(f"/v1/referrals/{r_id}/separation", json={"separated_on": tomorrow, "reason": "laid_off"})
        assert r.status_code == 422 and "in the future" in r.json()["detail"]
        r = await http.post(f"/v1/referrals/{r_id}/retention",
                            json={"milestone_days": 60, "still_employed": True, "checked_on": TODAY.isoformat()})
        assert r.status_code == 422


async def test_an_offer_repeated_with_the_same_idempotency_key_is_one_offer(gateway_pool, consumer):  # noqa: F811
    r_id = ref()
    await deliver(consumer, routed(r_id, cand=f"cand_{r_id}"))
    async with gateway_app(gateway_pool) as http:
        await http.post(f"/v1/referrals/{r_id}/acknowledge")
        answers = [await http.post(f"/v1/referrals/{r_id}/offers", json=TERMS, headers={"Idempotency-Key": "offer-1"})
                   for _ in range(2)]
    assert [a.status_code for a in answers] == [201, 201] and answers[0].json() == answers[1].json()
    offers = [e for e in await employer_events(gateway_pool) if e.type == "offer.extended.v2"]
    assert len(offers) == 1 and offers[0].data["offer_id"] == answers[0].json()["offer_id"]


def submitted(r_id: str, cand: str, sealed: events.Sealed, share: bool) -> events.ReferralSubmittedV2:
    consent = CONSENT.model_copy(update={"share_contact": share})
    return events.ReferralSubmittedV2(
        referral_id=r_id, partner_id="p1", candidate_id=cand, skills=skill_refs("python"), skills_vocabulary="2026.11",
        consent=consent, contact_sealed=sealed,
    )


async def test_contact_details_only_where_the_candidate_consented_and_only_while_in_play(gateway_pool, consumer):  # noqa: F811
    shared, private = ref(), ref()
    async with gateway_pool.acquire() as conn:
        keys = await TEST_VAULT.keys(conn, [f"cand_{shared}", f"cand_{private}"], create=True)
    for r_id, share in ((shared, True), (private, False)):
        cand = f"cand_{r_id}"
        sealed = keys[cand].seal({"given_name": "Ada", "email": f"{r_id}@example.org"}, "contact")
        await deliver(consumer, submitted(r_id, cand, sealed, share))
        await deliver(consumer, routed(r_id, cand=cand))
    async with gateway_app(gateway_pool) as http:
        items = {i["referral_id"]: i for i in (await http.get("/v1/referrals")).json()["items"]}
        assert items[shared]["contact"] == {"given_name": "Ada", "email": f"{shared}@example.org"}
        assert items[private]["contact"] is None
        assert not {"demographics", "race_ethnicity", "gender"} & set(items[shared])
        assert (await http.get(f"/v1/referrals/{shared}")).json()["contact"]["email"] == f"{shared}@example.org"

        # Erased: the key is destroyed and the gateway forgets the sealed copy.
        async with gateway_pool.acquire() as conn:
            await TEST_VAULT.destroy(conn, f"cand_{shared}")
        await deliver(consumer, erased(f"cand_{shared}", shared))
        assert (await http.get(f"/v1/referrals/{shared}")).json()["contact"] is None
        assert await gateway_pool.fetchval("SELECT count(*) FROM contacts WHERE referral_id = $1", shared) == 0

        # Declined: nothing to contact the candidate about any more.
        await http.post(f"/v1/referrals/{private}/decline", json={"reason": "no_capacity"})
        assert (await http.get(f"/v1/referrals/{private}")).json()["contact"] is None


async def test_a_referral_nobody_acknowledged_goes_stale_once_after_two_business_days(gateway_pool, consumer):  # noqa: F811
    waiting, answered = ref(), ref()
    friday = datetime(2026, 11, 20, 15, tzinfo=UTC)
    for r_id in (waiting, answered):
        await deliver(consumer, routed(r_id, cand=f"cand_{r_id}"), time=friday)
    async with gateway_app(gateway_pool) as http:
        await http.post(f"/v1/referrals/{answered}/acknowledge")
    cal = stale.BusinessCalendar(2, ZoneInfo("UTC"))

    def at(*moment: int) -> Deps:  # the sweeper's clock
        return Deps(source_of(GATEWAY.name), clock=lambda: datetime(*moment, tzinfo=UTC))

    assert await stale.sweep_once(gateway_pool, at(2026, 11, 24, 14, 59), cal) == 0  # Tuesday, not yet
    assert await stale.sweep_once(gateway_pool, at(2026, 11, 24, 15, 0), cal) == 1
    assert await stale.sweep_once(gateway_pool, at(2026, 11, 30), cal) == 0  # once
    [event] = [e for e in await employer_events(gateway_pool) if e.type == "referral.stale.v1"]
    assert (event.subject, event.data["business_days"], event.partnerid) == (waiting, 2, "p1")
    assert datetime.fromisoformat(event.data["routed_at"]) == friday
    async with gateway_app(gateway_pool) as http:
        item = (await http.get(f"/v1/referrals/{waiting}")).json()
    assert item["stale_at"] is not None and item["state"] == "routed"  # still open: the employer may act
    assert date.fromisoformat(item["stale_at"][:10]) == date(2026, 11, 24)
