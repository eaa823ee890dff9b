"""A conversion through the employer gateway's HTTP API, on real PostgreSQL (issue 15, slice 2):
a placed intern converted to a full-time hire at the same employer goes out as
placement.converted.v1 with the terms after and the kind before; every refusal is an RFC 9457
problem naming why, and publishes nothing.

The gateway's router runs in-process with its real store and outbox (`gateway_app`); routed
referrals enter its inbox the way its consumer applies them (`deliver`).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.test_gateway_openings import gateway_pool  # noqa: F401  (fixture)
from tests.integration.test_gateway_terms import START, TERMS, TODAY, acknowledged, consumer, employer_events  # noqa: F401
from tests.integration.test_withdraw_update_erase import gateway_app

pytestmark = pytest.mark.integration
ON = START + timedelta(days=60)
HIRE = {
    "converted_on": ON.isoformat(), "job_title": "Web Developer", "onet_soc_code": "15-1254.00",
    "employment_type": "full_time", "wage": {"amount": "24.00", "unit": "hour"}, "hours_per_week": 40,
    "benefits": {"health": True, "paid_leave": True}, "schedule": {"predictable": True, "advance_notice_days": 14},
}


async def test_an_intern_converted_to_full_time_once_with_each_refusal_a_problem(gateway_pool, consumer):  # noqa: F811
    async with gateway_app(gateway_pool) as http:
        r_id = await acknowledged(consumer, http)

        async def convert(body: dict, status: int, key: str | None = None) -> dict:
            headers = {"Idempotency-Key": key} if key else None
            r = await http.post(f"/v1/referrals/{r_id}/conversion", json=body, headers=headers)
            assert r.status_code == status, r.text
            if status >= 400:
                assert r.headers["content-type"] == "application/problem+json"
            return r.json()

        problem = await convert(HIRE, 409)  # not placed yet
        assert problem["current_state"] == "acknowledged" and "cannot convert" in problem["detail"]
        assert (await http.post(f"/v1/referrals/{r_id}/placement", json=TERMS)).status_code == 200

        problem = await convert({**HIRE, "converted_on": (TODAY + timedelta(days=1)).isoformat()}, 422)
        assert problem["type"].endswith(":validation") and "converted_on is in the future" in problem["detail"]
        problem = await convert({**HIRE, "converted_on": (START - timedelta(days=1)).isoformat()}, 409)
        assert problem["current_state"] == "placed" and f"before the start date {START.isoformat()}" in problem["detail"]
        problem = await convert({**HIRE, "employment_type": "apprenticeship"}, 422)
        assert problem["type"].endswith(":validation") and [e["field"] for e in problem["errors"]] == ["employment_type"]
        problem = await convert({**HIRE, "pay_basis": "unpaid", "end_date": START.isoformat()}, 422)
        assert problem["type"].endswith(":inconsistent")
        assert [e["field"] for e in problem["errors"]] == ["wage", "end_date"]

        done = [await convert(HIRE, 200, key="convert-1") for _ in range(2)]  # a retry is the same answer
        assert done[0] == done[1] and done[0]["state"] == "placed"
        assert done[0]["event"]["type"] == "placement.converted.v1"
        problem = await convert({**HIRE, "employment_type": "part_time"}, 409)
        assert "converted already" in problem["detail"]
        # Check-ins count from the internship's start, not from the conversion.
        r = await http.post(f"/v1/referrals/{r_id}/retention", json={
            "milestone_days": 90, "still_employed": True, "checked_on": (START + timedelta(days=90)).isoformat(),
            "wage": {"amount": "25", "unit": "hour"}})
        assert r.status_code == 200, r.text
        detail = (await http.get(f"/v1/referrals/{r_id}")).json()

        other = await acknowledged(consumer, http)  # hired full-time from the start: nothing to convert
        assert (await http.post(f"/v1/referrals/{other}/placement",
                                json={**TERMS, "employment_type": "full_time"})).status_code == 200
        r = await http.post(f"/v1/referrals/{other}/conversion", json=HIRE)
        assert r.status_code == 409 and "this placement is full_time" in r.json()["detail"], r.text

    sent = [e for e in await employer_events(gateway_pool) if e.subject == r_id]
    assert [e.type for e in sent] == ["referral.acknowledged.v1", "placement.reported.v2", "placement.converted.v1",
                                      "retention.checked.v1"]
    converted = sent[2]
    assert str(converted.id) == done[0]["event"]["id"] and converted.dataschema.endswith(":placement.converted:1.0")
    assert converted.partnerid and converted.employerid == converted.data["employer_id"]
    data = converted.data
    assert (data["converted_on"], data["from_employment_type"], data["employment_type"]) == (
        ON.isoformat(), "internship", "full_time")
    assert (data["start_date"], data["wage"]["amount"], data["pay_basis"], data["end_date"]) == (
        START.isoformat(), "24.00", "hourly", None)
    employment = detail["employment"]
    assert (employment["start_date"], employment["converted_on"]) == (START.isoformat(), ON.isoformat())
    assert (employment["terms"]["employment_type"], employment["terms"]["job_title"]) == ("full_time", "Web Developer")
    assert employment["retention"] == {"90": True}
