"""A hire across the running network (issue 14): the employer reports a placement through
the gateway, the partner then withdraws the referral through intake, and routing, which learns
of each on its own topic, keeps the placed referral's slot, so the next candidate who fits is
not sent to the full opening; outcomes shows the partner the hire's wage band, not its wage. The
hire is a paid internship (placement.reported.v2, issue 15): a slot is a slot, whatever the kind."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg

from tests.e2e.helpers import Api, opening_body, poll, referral_body, unique
from tests.e2e.test_routing_path import decision_of

EMPLOYER = "civic-data-labs"
PARTNER = "northside-tech-collective"
TERMS = {
    "job_title": "Junior Developer", "onet_soc_code": "15-1252.00", "wage": {"amount": "31.75", "unit": "hour"},
    "hours_per_week": 40, "employment_type": "internship", "pay_basis": "hourly",
    "start_date": (date.today() + timedelta(days=14)).isoformat(),
    "end_date": (date.today() + timedelta(days=98)).isoformat(),
}


async def test_a_hire_keeps_its_slot_when_the_partner_withdraws_the_referral(api: Api) -> None:
    skill = unique("hired")
    opening_id = await api.open_opening(EMPLOYER, opening_body([skill], capacity=1))
    hired = await api.refer(PARTNER, referral_body([skill]))
    await api.wait_in_inbox(EMPLOYER, hired, opening_id)
    for action, body in (("acknowledge", None), ("placement", TERMS)):
        r = await api.act(EMPLOYER, hired, action, body)
        assert r.status_code == 200, r.text
    r = await api.http.post(api.url("intake", f"/v1/referrals/{hired}/withdraw"), json={"reason": "found_employment"},
                            headers=api.net.auth(f"partner:{PARTNER}"))
    assert r.status_code == 200, r.text

    conn = await asyncpg.connect(api.net.network.database_url)
    try:
        async def both_seen() -> bool | None:
            row = await conn.fetchrow("SELECT outcome, withdrawn_at FROM routing.decisions WHERE referral_id = $1", hired)
            return True if row and row["withdrawn_at"] is not None and row["outcome"] == "placed" else None

        await poll(f"routing to see {hired}'s placement and withdrawal", both_seen)
    finally:
        await conn.close()
    listed = await api.wait_in_catalogue(opening_id)
    assert (listed["routed_count"], listed["capacity"]) == (1, 1)
    r = await api.http.get(api.url("employer_gateway", "/v1/referrals"), params={"opening_id": opening_id},
                           headers=api.net.auth(f"employer:{EMPLOYER}"))
    assert [(i["referral_id"], i["state"]) for i in r.json()["items"]] == [(hired, "placed")]

    nxt = await decision_of(api, await api.refer(PARTNER, referral_body([skill])))
    assert nxt.type == "referral.unmatched.v1" and nxt.data["reason"] == "openings that fit are full", nxt.data

    # Outcomes' timeline of the hire: the partner gets the closed loop's wage band, the employer its figure.
    await api.wait_timeline(hired, lambda t: any(e["type"] == "placement.reported.v2" for e in t["events"]),
                            "the placement recorded")
    seen = {}
    for ref in (f"partner:{PARTNER}", f"employer:{EMPLOYER}"):
        r = await api.timeline(hired, ref)
        assert r.status_code == 200, r.text
        seen[ref.split(":")[0]] = next(e["data"] for e in r.json()["events"] if e["type"] == "placement.reported.v2")
    assert seen["partner"]["wage_band"] == "$30-40/hour" and "wage" not in seen["partner"], seen
    assert (seen["partner"]["employment_type"], seen["partner"]["end_date"]) == ("internship", TERMS["end_date"]), seen
    assert seen["employer"]["wage"]["amount"] == "31.75" and "wage_band" not in seen["employer"], seen
