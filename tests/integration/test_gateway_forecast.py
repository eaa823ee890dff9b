"""Demand forecasts and hiring standards through the employer gateway's HTTP API, on real
PostgreSQL (issue 16 items 3 and 4): each POST stores the employer's current declaration and puts
its event in the outbox of the same transaction; a newer one replaces the older; an
Idempotency-Key replays the answer without a second event; bad input is an RFC 9457 problem; an
employer lists only its own."""

from __future__ import annotations

import pytest

from contracts import Envelope, events, registry
from tests.integration.test_gateway_openings import gateway_pool  # noqa: F401
from tests.integration.test_withdraw_update_erase import gateway_app

pytestmark = pytest.mark.integration

FORECAST = {
    "onet_soc_code": "15-1232.00",
    "employment_type": "apprenticeship",
    "horizon_months": 12,
    "slots_expected": 8,
    "skills": ["networking"],
    "credentials": [{"name": "CompTIA A+", "ctdl_id": "ce-x"}],
}
STANDARDS = {
    "employer_name": "Acme",
    "onet_soc_code": "15-1232.00",
    "stages": ["screening_call", "take_home"],
    "interview_format": "hybrid",
    "assessment_expected": True,
    "degree_requirement_dropped": True,
    "accepted_equivalents": [{"name": "CompTIA A+"}],
}


async def demand_events(pool) -> list[Envelope]:  # type: ignore[no-untyped-def]
    rows = await pool.fetch("SELECT value FROM outbox WHERE topic = 'talentloop.openings' ORDER BY id")
    return [Envelope.from_bytes(r["value"]) for r in rows]


async def test_a_forecast_is_stored_and_published_and_a_newer_one_replaces_it(gateway_pool):  # noqa: F811
    async with gateway_app(gateway_pool, "emp1") as http:
        first = await http.post("/v1/demand/forecasts", json=FORECAST, headers={"Idempotency-Key": "f-1"})
        again = await http.post("/v1/demand/forecasts", json=FORECAST, headers={"Idempotency-Key": "f-1"})
        newer = await http.post("/v1/demand/forecasts", json={**FORECAST, "slots_expected": 3})
        other_horizon = await http.post("/v1/demand/forecasts", json={**FORECAST, "horizon_months": 6})
        mine = (await http.get("/v1/demand/forecasts")).json()
    assert first.status_code == 201 and first.json()["replaced"] is False
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert newer.status_code == 201 and newer.json()["replaced"] is True
    assert other_horizon.json()["replaced"] is False
    assert [(f["horizon_months"], f["slots_expected"]) for f in mine] == [(6, 8), (12, 3)]

    published = await demand_events(gateway_pool)
    assert [e.type for e in published] == ["demand.forecast.v1"] * 3  # the replay published nothing
    assert published[0].subject == "emp1" and published[0].employerid == "emp1"
    assert published[0].dataschema == registry.dataschema(events.DemandForecastV1)
    assert published[0].data == {"forecast_id": first.json()["forecast_id"], "employer_id": "emp1", **FORECAST}

    async with gateway_app(gateway_pool, "emp2") as other:
        assert (await other.get("/v1/demand/forecasts")).json() == []


@pytest.mark.parametrize(
    "change, field",
    [
        ({"horizon_months": 9}, "horizon_months"),
        ({"slots_expected": -1}, "slots_expected"),
        ({"onet_soc_code": "developer"}, "onet_soc_code"),
        ({"employer_id": "emp2"}, "employer_id"),  # the caller is the employer: not a field
    ],
)
async def test_bad_forecasts_are_problems_naming_the_field(gateway_pool, change, field):  # noqa: F811
    async with gateway_app(gateway_pool) as http:
        r = await http.post("/v1/demand/forecasts", json={**FORECAST, **change})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert field in r.text
    assert await demand_events(gateway_pool) == []


async def test_hiring_standards_are_published_under_the_employers_name_and_replaced(gateway_pool):  # noqa: F811
    async with gateway_app(gateway_pool, "emp1") as http:
        first = await http.post("/v1/hiring-standards", json=STANDARDS)
        second = await http.post("/v1/hiring-standards", json={**STANDARDS, "interview_format": "remote"})
        empty = await http.post("/v1/hiring-standards", json={**STANDARDS, "stages": []})
        mine = (await http.get("/v1/hiring-standards")).json()
    assert first.status_code == 200 and first.json()["replaced"] is False and second.json()["replaced"] is True
    assert empty.status_code == 422 and "stages" in empty.text
    assert [(s["employer_name"], s["interview_format"]) for s in mine] == [("Acme", "remote")]
    (one, two) = await demand_events(gateway_pool)
    assert one.type == two.type == "hiring_standards.published.v1" and one.subject == "emp1"
    assert one.data["accepted_equivalents"] == [{"name": "CompTIA A+", "ctdl_id": None}]
    assert one.data["portfolio_expected"] is False and one.data["degree_requirement_dropped"] is True


async def test_an_openings_own_standards_take_its_occupation_and_replace_only_its_own(gateway_pool):  # noqa: F811
    from tests.integration.test_gateway_openings import POSTING

    async with gateway_app(gateway_pool, "emp1") as http:
        opening_id = (await http.post("/v1/openings", json=POSTING)).json()["opening_id"]
        occupation = await http.post("/v1/hiring-standards", json={**STANDARDS, "onet_soc_code": "15-1252.00"})
        own = {k: v for k, v in STANDARDS.items() if k != "onet_soc_code"} | {"opening_id": opening_id}
        first = await http.post("/v1/hiring-standards", json={**own, "stages": ["work_sample"]})
        second = await http.post("/v1/hiring-standards", json={**own, "interview_format": "remote"})
        wrong = await http.post("/v1/hiring-standards", json={**own, "onet_soc_code": "15-1232.00"})
        neither = await http.post("/v1/hiring-standards", json={k: v for k, v in own.items() if k != "opening_id"})
        mine = (await http.get("/v1/hiring-standards")).json()
    async with gateway_app(gateway_pool, "emp2") as other:
        not_theirs = await other.post("/v1/hiring-standards", json=own)
    assert occupation.json()["replaced"] is False and occupation.json()["opening_id"] is None
    assert first.status_code == 200 and first.json() == {**first.json(), "onet_soc_code": "15-1252.00",
                                                          "opening_id": opening_id, "replaced": False}
    assert second.json()["replaced"] is True  # the opening's own, not the occupation's
    assert wrong.status_code == 422 and "the opening's occupation is 15-1252.00" in wrong.text
    assert neither.status_code == 422 and "onet_soc_code" in neither.text
    assert not_theirs.status_code == 404 and not_theirs.headers["content-type"].startswith("application/problem+json")
    assert [(s["onet_soc_code"], s["opening_id"], s["interview_format"]) for s in mine] == [
        ("15-1252.00", None, "hybrid"),
        ("15-1252.00", opening_id, "remote"),
    ]
    published = [e for e in await demand_events(gateway_pool) if e.type.startswith("hiring_standards")]
    assert [e.data.get("opening_id") for e in published] == [None, opening_id, opening_id]
    assert published[1].dataschema == registry.dataschema(events.HiringStandardsPublishedV1)
    assert events.HiringStandardsPublishedV1.model_validate(published[2].data).opening_id == opening_id
