"""A job's terms through the employer gateway's HTTP API, on real PostgreSQL (issue 15, slice 1):
offers and placements of every kind go out as offer.extended / placement.reported v2, check-ins
and openings say what the job is, and every inconsistent combination is a 422 problem naming
the field to change, with nothing published.

The gateway's router runs in-process with its real store and outbox (`gateway_app`); routed
referrals enter its inbox the way its consumer applies them (`deliver`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from plumbing.consumer import EventConsumer
from tests.integration.test_gateway_lifecycle import consumer, employer_events  # noqa: F401  (a fixture)
from tests.integration.test_gateway_openings import POSTING, gateway_pool, listed, opening_events  # noqa: F401
from tests.integration.test_withdraw_update_erase import deliver, gateway_app, routed

pytestmark = pytest.mark.integration
TODAY = datetime.now(UTC).date()
START = TODAY - timedelta(days=100)
TERMS = {
    "job_title": "Web Development Intern", "onet_soc_code": "15-1254.00", "employment_type": "internship",
    "wage": {"amount": "18.00", "unit": "hour"}, "hours_per_week": 20, "start_date": START.isoformat(),
}


async def acknowledged(consumer: EventConsumer, http) -> str:  # type: ignore[no-untyped-def]  # noqa: F811
    r_id = f"ref_{uuid.uuid4().hex[:8]}"
    await deliver(consumer, routed(r_id, cand=f"cand_{r_id}"))
    assert (await http.post(f"/v1/referrals/{r_id}/acknowledge")).status_code == 200
    return r_id


async def test_an_unpaid_micro_internship_and_a_registered_apprenticeship_go_out_as_v2(gateway_pool, consumer):  # noqa: F811
    micro = {**TERMS, "employment_type": "micro_internship", "pay_basis": "unpaid", "wage": {"amount": "0", "unit": "hour"},
             "hours_per_week": None, "engagement_hours": 40, "end_date": (START + timedelta(days=20)).isoformat(),
             "schedule": {"predictable": False, "variable_hours": True, "max_hours_per_week": 15}}
    apprentice = {**TERMS, "employment_type": "apprenticeship", "apprenticeship_registered": True,
                  "benefits": {"health": True, "tuition": True, "other": ["transit pass"]},
                  "schedule": {"predictable": True, "advance_notice_days": 14}}
    async with gateway_app(gateway_pool) as http:
        first = await acknowledged(consumer, http)
        offer = await http.post(f"/v1/referrals/{first}/offers", json=micro)
        assert offer.status_code == 201, offer.text
        assert (await http.post(f"/v1/referrals/{first}/placement", json=micro)).status_code == 200
        second = await acknowledged(consumer, http)
        assert (await http.post(f"/v1/referrals/{second}/placement", json=apprentice)).status_code == 200
        r = await http.post(f"/v1/referrals/{second}/retention", json={
            "milestone_days": 90, "still_employed": True, "checked_on": (START + timedelta(days=90)).isoformat(),
            "wage": {"amount": "21", "unit": "hour"}, "pay_basis": "hourly", "job_title": "Support Technician",
            "promoted": True, "benefits": {"health": True, "dental": True}, "schedule": {"predictable": True},
        })
        assert r.status_code == 200, r.text
        detail = (await http.get(f"/v1/referrals/{first}")).json()
    sent = [e for e in await employer_events(gateway_pool) if e.type != "referral.acknowledged.v1"]
    assert [e.type for e in sent] == ["offer.extended.v2", "placement.reported.v2", "placement.reported.v2",
                                      "retention.checked.v1"]
    assert sent[-1].dataschema.endswith(":retention.checked:1.2")
    offered, placed_micro, placed_apprentice, checked = (e.data for e in sent)
    for data in (offered, placed_micro):  # a wage of 0 with unpaid is no wage at all
        assert (data["pay_basis"], data["wage"], data["hours_per_week"], data["engagement_hours"]) == (
            "unpaid", None, None, 40)
        assert data["end_date"] == micro["end_date"] and data["schedule"]["variable_hours"] is True
    assert offered["offer_id"] == offer.json()["offer_id"]
    assert (placed_apprentice["pay_basis"], placed_apprentice["apprenticeship_registered"]) == ("hourly", True)
    assert placed_apprentice["benefits"]["other"] == ["transit pass"] and placed_apprentice["benefits"]["tuition"]
    assert (checked["job_title"], checked["promoted"], checked["benefits"]["dental"]) == ("Support Technician", True, True)
    (shown,) = detail["offers"]
    assert (shown["employment_type"], shown["pay_basis"], shown["wage"], shown["engagement_hours"]) == (
        "micro_internship", "unpaid", None, 40)


async def test_terms_sent_as_before_go_out_as_v2_with_the_pay_basis_their_wage_implies(gateway_pool, consumer):  # noqa: F811
    async with gateway_app(gateway_pool) as http:
        r_id = await acknowledged(consumer, http)
        yearly = {**TERMS, "employment_type": "full_time", "wage": {"amount": "58000", "unit": "year"}}
        assert (await http.post(f"/v1/referrals/{r_id}/placement", json=yearly)).status_code == 200
    (placed,) = [e for e in await employer_events(gateway_pool) if e.type.startswith("placement.")]
    assert placed.type == "placement.reported.v2" and placed.data["pay_basis"] == "salary"
    assert placed.data["hours_per_week"] == 20 and placed.data["benefits"]["health"] is False


@pytest.mark.parametrize("change, fields", [
    ({"pay_basis": "unpaid"}, ["wage"]),  # unpaid with a wage above 0
    ({"pay_basis": "stipend", "wage": None}, ["wage"]),
    ({"wage": None}, ["wage"]),  # no wage and no pay basis
    ({"pay_basis": "salary"}, ["wage.unit"]),  # a salary by the hour
    ({"pay_basis": "hourly", "wage": {"amount": "600", "unit": "week"}}, ["wage.unit"]),
    ({"engagement_hours": 30}, ["engagement_hours"]),  # on an internship
    ({"apprenticeship_registered": True}, ["apprenticeship_registered"]),
    ({"end_date": (START - timedelta(days=1)).isoformat()}, ["end_date"]),
    ({"schedule": {"predictable": True, "min_hours_per_week": 30, "max_hours_per_week": 20}},
     ["schedule.max_hours_per_week"]),
    ({"pay_basis": "unpaid", "engagement_hours": 5, "end_date": "2000-01-01"}, ["engagement_hours", "wage", "end_date"]),
])
async def test_inconsistent_terms_are_422_naming_each_field_and_nothing_is_published(gateway_pool, consumer, change,  # noqa: F811
                                                                                     fields):
    async with gateway_app(gateway_pool) as http:
        r_id = await acknowledged(consumer, http)
        for action in ("offers", "placement"):
            r = await http.post(f"/v1/referrals/{r_id}/{action}", json={**TERMS, **change})
            assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
            problem = r.json()
            # Each field is valid on its own, so it is a problem of its own type, not `validation`
            # (a request its document allows: tests/e2e/test_schemathesis.py tells them apart).
            assert problem["type"].endswith(":inconsistent") and problem["title"] == "Fields contradict each other"
            assert [e["field"] for e in problem["errors"]] == fields, r.text
            assert {e["type"] for e in problem["errors"]} == {"inconsistent"}
            assert all(f.endswith(e["message"].split()[0]) for e, f in zip(problem["errors"], fields, strict=True))
        # One value out of range is a plain validation problem, as before.
        for change, field in (({"employment_type": "seasonal"}, "employment_type"),
                              ({"engagement_hours": 2001, "employment_type": "micro_internship"}, "engagement_hours")):
            r = await http.post(f"/v1/referrals/{r_id}/placement", json={**TERMS, **change})
            assert r.status_code == 422 and r.json()["type"].endswith(":validation"), r.text
            assert [e["field"] for e in r.json()["errors"]] == [field]
        state = (await http.get(f"/v1/referrals/{r_id}")).json()["state"]
    assert state == "acknowledged"
    assert [e.type for e in await employer_events(gateway_pool)] == ["referral.acknowledged.v1"]


async def test_a_check_in_with_a_wage_its_pay_basis_contradicts_is_422(gateway_pool, consumer):  # noqa: F811
    async with gateway_app(gateway_pool) as http:
        r_id = await acknowledged(consumer, http)
        assert (await http.post(f"/v1/referrals/{r_id}/placement", json=TERMS)).status_code == 200
        check = {"milestone_days": 30, "still_employed": True, "checked_on": (START + timedelta(days=30)).isoformat()}
        for change, field in (({"pay_basis": "unpaid", "wage": {"amount": "5", "unit": "hour"}}, "wage"),
                              ({"pay_basis": "salary", "wage": {"amount": "18", "unit": "hour"}}, "wage.unit")):
            r = await http.post(f"/v1/referrals/{r_id}/retention", json={**check, **change})
            assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == [field], r.text
        r = await http.post(f"/v1/referrals/{r_id}/retention",
                            json={**check, "pay_basis": "unpaid", "wage": {"amount": "0", "unit": "hour"}})
        assert r.status_code == 200, r.text
    checked = (await employer_events(gateway_pool))[-1]
    assert checked.type == "retention.checked.v1" and (checked.data["pay_basis"], checked.data["wage"]) == ("unpaid", None)


async def test_an_opening_says_its_kind_and_its_inconsistent_postings_and_updates_are_422(gateway_pool):  # noqa: F811
    async with gateway_app(gateway_pool) as http:
        for change, field in (({"engagement_hours": 10}, "engagement_hours"),
                              ({"employment_type": "full_time", "apprenticeship_registered": False},
                               "apprenticeship_registered"),
                              ({"paid": False}, "paid")):
            r = await http.post("/v1/openings", json={**POSTING, **change})
            assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == [field], r.text
        micro = {"employment_type": "micro_internship", "engagement_hours": 30, "schedule": {"predictable": True},
                 "benefits": {"other": ["laptop"]}}
        r = await http.post("/v1/openings", json={**POSTING, **micro})
        assert r.status_code == 201, r.text
        oid = r.json()["opening_id"]
        # The kind changed without the hours that belong to the old one: the posting would contradict itself.
        r = await http.patch(f"/v1/openings/{oid}", json={"employment_type": "internship"})
        assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["engagement_hours"], r.text
        r = await http.patch(f"/v1/openings/{oid}", json={"paid": False})
        assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["paid"], r.text
        assert r.json()["type"].endswith(":inconsistent")
        r = await http.patch(f"/v1/openings/{oid}", json={"paid": None})
        assert r.status_code == 422, r.text
        r = await http.patch(f"/v1/openings/{oid}", json={"employment_type": "internship", "engagement_hours": None,
                                                          "paid": False, "wage": {"amount": "0", "unit": "hour"}})
        assert r.status_code == 200, r.text
        item = (await listed(http))[oid]
    assert (item["employment_type"], item["engagement_hours"], item["paid"]) == ("internship", None, False)
    assert item["benefits"]["other"] == ["laptop"] and item["schedule"]["predictable"] is True
    posted, updated = await opening_events(gateway_pool)
    assert posted.dataschema.endswith(":opening.posted:1.3") and updated.dataschema.endswith(":opening.updated:1.2")
    assert (posted.data["employment_type"], posted.data["engagement_hours"]) == ("micro_internship", 30)
    assert (updated.data["paid"], updated.data["wage"]["amount"]) == (False, "0")
