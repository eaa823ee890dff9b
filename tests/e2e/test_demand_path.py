"""The demand board through the running network (issue 16 items 3 and 4): three employers declare
12-month forecasts for an occupation at the employer gateway and one publishes its hiring
standards; the events reach outcomes over talentloop.openings (real Kafka) and a training
provider reads them on GET /v1/demand: the forecast cell counted over the three (no employer
named), the standards under the employer's name. An employer may not read the board."""

from __future__ import annotations

import random
from typing import Any

from talentloop.credentials import EMPLOYERS
from tests.e2e.helpers import Api, assert_problem, poll

PROVIDER = "riverbend-community-college"


async def test_employers_forecasts_and_standards_reach_a_providers_demand_board(api: Api) -> None:
    occupation = f"15-{random.randint(1000, 9999)}.{random.randint(10, 99)}"  # this run's own cell
    for n, employer in enumerate(EMPLOYERS):
        r = await api.http.post(
            api.url("employer_gateway", "/v1/demand/forecasts"),
            json={
                "onet_soc_code": occupation,
                "employment_type": "full_time",
                "horizon_months": 12,
                "slots_expected": n + 2,
                "skills": ["python", f"skill-{employer}"],
            },
            headers={**api.net.auth(f"employer:{employer}"), "Idempotency-Key": f"forecast-{occupation}"},
        )
        assert r.status_code == 201, r.text
    r = await api.http.post(
        api.url("employer_gateway", "/v1/hiring-standards"),
        json={
            "employer_name": "Civic Data Labs",
            "onet_soc_code": occupation,
            "stages": ["screening_call", "panel"],
            "interview_format": "remote",
            "degree_requirement_dropped": True,
            "accepted_equivalents": [{"name": "CompTIA A+"}],
        },
        headers=api.net.auth(f"employer:{EMPLOYERS[0]}"),
    )
    assert r.status_code == 200, r.text

    async def on_the_board() -> dict[str, Any] | None:
        r = await api.http.get(api.url("outcomes", "/v1/demand"), headers=api.net.auth(f"partner:{PROVIDER}"))
        assert r.status_code == 200, r.text
        board = r.json()
        cells = [c for c in board["forecast"] if c["occupation"] == occupation]
        standards = [s for s in board["hiring_standards"] if s["occupation"] == occupation]
        return {"cells": cells, "standards": standards} if cells and standards else None

    found = await poll("the forecast and the standards on the demand board", on_the_board)
    (cell,) = found["cells"]
    assert (cell["horizon_months"], cell["slots"]) == (12, 2 + 3 + 4)
    assert cell["skills"] == [{"skill": "python", "slots": 9, "employers": 3}]  # each employer's own skill withheld
    assert not any(e in str(cell) for e in EMPLOYERS)
    (standards,) = found["standards"]
    assert standards["employer_name"] == "Civic Data Labs" and standards["stages"] == ["screening_call", "panel"]

    r = await api.http.get(api.url("outcomes", "/v1/demand"), headers=api.net.auth(f"employer:{EMPLOYERS[0]}"))
    assert_problem(r, 403)
