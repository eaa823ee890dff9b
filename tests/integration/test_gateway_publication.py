"""An employer's publication choice through the employer gateway's HTTP API, on real PostgreSQL
(issue 16 item 5): each POST stores the employer's current choice for the year and puts
hiring_publication.chosen.v1 in the outbox of the same transaction; a newer choice for the year
replaces the older; an Idempotency-Key replays the answer without a second event; bad input is an
RFC 9457 problem naming the field; an employer lists only its own choices."""

from __future__ import annotations

import pytest

from contracts import events, registry
from tests.integration.test_gateway_forecast import demand_events
from tests.integration.test_gateway_openings import gateway_pool  # noqa: F401
from tests.integration.test_withdraw_update_erase import gateway_app

pytestmark = pytest.mark.integration

CHOICE = {"year": 2026, "opted_in": True, "employer_name": "Acme"}


async def test_a_choice_is_stored_and_published_and_a_newer_one_for_the_year_replaces_it(gateway_pool):  # noqa: F811
    async with gateway_app(gateway_pool, "emp1") as http:
        first = await http.post("/v1/hiring-publication", json=CHOICE, headers={"Idempotency-Key": "p-1"})
        again = await http.post("/v1/hiring-publication", json=CHOICE, headers={"Idempotency-Key": "p-1"})
        out = await http.post("/v1/hiring-publication", json={**CHOICE, "opted_in": False})
        other_year = await http.post("/v1/hiring-publication", json={**CHOICE, "year": 2027})
        mine = (await http.get("/v1/hiring-publication")).json()
    assert first.status_code == 200 and first.json()["replaced"] is False and first.json()["opted_in"] is True
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert out.json()["replaced"] is True and out.json()["opted_in"] is False
    assert other_year.json()["replaced"] is False
    assert [(c["year"], c["opted_in"]) for c in mine] == [(2026, False), (2027, True)]

    published = await demand_events(gateway_pool)
    assert [e.type for e in published] == ["hiring_publication.chosen.v1"] * 3  # the replay published nothing
    assert published[0].subject == "emp1" and published[0].employerid == "emp1"
    assert published[0].dataschema == registry.dataschema(events.HiringPublicationChosenV1)
    assert published[0].data == {"employer_id": "emp1", **CHOICE}
    assert published[1].data["opted_in"] is False

    async with gateway_app(gateway_pool, "emp2") as other:
        assert (await other.get("/v1/hiring-publication")).json() == []


@pytest.mark.parametrize(
    "change, field",
    [
        ({"year": 1999}, "year"),
        ({"opted_in": "maybe"}, "opted_in"),
        ({"employer_name": ""}, "employer_name"),
        ({"employer_id": "emp2"}, "employer_id"),  # the caller is the employer: not a field
    ],
)
async def test_bad_choices_are_problems_naming_the_field(gateway_pool, change, field):  # noqa: F811
    async with gateway_app(gateway_pool) as http:
        r = await http.post("/v1/hiring-publication", json={**CHOICE, **change})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert field in r.text
    assert await demand_events(gateway_pool) == []
