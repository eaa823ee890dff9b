"""The demand board on real PostgreSQL (issue 16 items 3 and 4): outcomes keeps openings' postings,
forecasts and hiring standards from talentloop.openings (a late older forecast changes nothing),
GET /v1/demand equals the pure board over what reports/inputs.demand_inputs reads, a partner never
sees a cell of fewer than N employers (nor the skills gap's demand from fewer), employers are refused,
and the report carries the board."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from contracts import build, events
from plumbing.auth import Principal
from services.outcomes.app import DEFINITION as OUTCOMES
from services.outcomes.reports import inputs
from services.outcomes.reports.demand import board
from tests.integration.test_outcomes_ledger import apply
from tests.integration.test_reports_training import reports_client
from tests.integration.test_withdraw_update_erase import T0, consumer_for, make_pool  # noqa: F401

pytestmark = pytest.mark.integration

DEV = "15-1252.00"


def posted(oid: str, employer: str, kind: str | None = "full_time", amount: str = "25") -> events.OpeningPostedV1:
    return events.OpeningPostedV1(
        opening_id=oid,
        employer_id=employer,
        title="Developer",
        onet_soc_code=DEV,
        required_skills=["python"],
        capacity=2,
        wage=events.Wage(amount=amount, unit="hour"),
        location="Bronx, NY",
        employment_type=kind,
        required_credentials=[events.CredentialRequirement(name="CompTIA A+", ctdl_id="ce-x")],
    )


def forecast(employer: str, slots: int) -> events.DemandForecastV1:
    return events.DemandForecastV1(
        forecast_id=f"fct_{employer}_{slots}",
        employer_id=employer,
        onet_soc_code=DEV,
        employment_type="full_time",
        horizon_months=12,
        slots_expected=slots,
        skills=["python"],
    )


STANDARDS = events.HiringStandardsPublishedV1(
    employer_id="emp1",
    employer_name="Acme",
    onet_soc_code=DEV,
    stages=["screening_call", "panel"],
    interview_format="remote",
    portfolio_expected=True,
    assessment_expected=False,
    degree_requirement_dropped=True,
)


def at(payload: events.Payload, hours: int):  # type: ignore[no-untyped-def]
    return build(
        payload,
        source="/test",
        correlation_id="c",
        employer_id=payload.employer_id,  # type: ignore[attr-defined]
        time=T0 + timedelta(hours=hours),
    )


async def test_the_board_route_equals_the_pure_board_and_withholds_small_cells(make_pool):  # noqa: F811
    consumer = await consumer_for(make_pool, OUTCOMES)
    story = [
        at(posted("o1", "emp1", amount="20"), 0),
        at(posted("o2", "emp2", amount="30"), 1),
        at(posted("o3", "emp3", amount="25"), 2),
        at(posted("o4", "emp1", kind="part_time"), 3),  # part-time: emp1 alone
        at(posted("o5", "emp4"), 4),
        at(
            events.OpeningClosedV1(opening_id="o5", employer_id="emp4", reason="filled", closed_at=T0), 5
        ),  # closed: not counted
        at(forecast("emp1", 9), 10),
        at(forecast("emp2", 3), 6),
        at(forecast("emp3", 2), 6),
        at(forecast("emp1", 4), 7),  # older than emp1's forecast of hour 10, arriving after it: changes nothing
        at(STANDARDS, 8),
        at(STANDARDS.model_validate(STANDARDS.model_dump() | {"opening_id": "o1", "stages": ["work_sample"]}), 9),  # o1's own (1.1)
        at(STANDARDS.model_copy(update={"opening_id": "o5", "employer_id": "emp4"}), 9),  # o5 is filled
    ]
    for env in story:
        await apply(consumer, env)
    pool = consumer.pool
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM ledger WHERE event_type LIKE 'demand.%' OR event_type LIKE 'hiring_standards.%'"
        )
        == 7
    )
    assert (
        await pool.fetchval("SELECT forecast ->> 'slots_expected' FROM demand_forecasts WHERE employer_id = 'emp1'")
        == "9"
    )

    async with pool.acquire() as conn:
        read = await inputs.demand_inputs(conn)
    assert sorted(o.opening_id for o in read.openings) == ["o1", "o2", "o3", "o4"]
    expected = json.loads(json.dumps(board(read.openings, read.forecasts, read.standards)))

    async with reports_client(pool, Principal("partner", "p1")) as partner:
        shown = (await partner.get("/v1/demand")).json()
        report = (await partner.get("/v1/reports")).json()
        page = (await partner.get("/v1/reports/report.html")).text
    assert {k: shown[k] for k in expected} == expected
    (cell,) = shown["today"]
    assert (cell["employment_type"], cell["openings"], cell["open_slots"]) == ("full_time", 3, 6)
    assert cell["wages"] == [
        {"currency": "USD", "unit": "hour", "openings": 3, "min": "20.00", "median": "25.00", "max": "30.00"}
    ]
    assert shown["withheld"]["today"] == 1  # emp1's part-time cell
    (ahead,) = shown["forecast"]
    assert ahead["slots"] == 14  # 9 + 3 + 2
    assert "emp1" not in json.dumps({"today": shown["today"], "forecast": shown["forecast"]})
    assert [(h["employer_name"], h["opening_id"], h["opening_title"], h["stages"]) for h in shown["hiring_standards"]] == [
        ("Acme", None, None, ["screening_call", "panel"]),
        ("Acme", "o1", "Developer", ["work_sample"]),  # o5's left the board with o5
    ]
    assert report["demand"] == expected
    (gap,) = report["skills_gap"]["occupations"]
    assert gap["openings"] == 5 and gap["forecast_slots"] == {"6_months": None, "12_months": 14}
    assert 'id="demand"' in page and 'id="hiring-standards"' in page and "Acme" in page

    async with reports_client(pool, Principal("operator", "ops")) as ops:
        assert (await ops.get("/v1/demand")).json()["today"] == expected["today"]
    async with reports_client(pool, Principal("employer", "emp1")) as employer:
        refused = await employer.get("/v1/demand")
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")


async def test_a_partner_never_sees_a_cell_of_fewer_employers_than_the_setting(make_pool, monkeypatch):  # noqa: F811
    consumer = await consumer_for(make_pool, OUTCOMES)
    for i, env in enumerate([posted("o1", "emp1"), posted("o2", "emp2"), forecast("emp1", 3), forecast("emp2", 4)]):
        await apply(consumer, at(env, i))
    async with reports_client(consumer.pool, Principal("operator", "ops")) as ops:
        exact = (await ops.get("/v1/reports")).json()["skills_gap"]
    async with reports_client(consumer.pool, Principal("partner", "p1")) as partner:
        hidden = (await partner.get("/v1/demand")).json()
        hidden_gap = (await partner.get("/v1/reports")).json()["skills_gap"]
        monkeypatch.setenv("TALENTLOOP_DEMAND_MIN_EMPLOYERS", "2")
        shown = (await partner.get("/v1/demand")).json()
        shown_gap = (await partner.get("/v1/reports")).json()["skills_gap"]
    assert hidden["today"] == [] and hidden["forecast"] == [] and hidden["withheld"] == {"today": 1, "forecast": 1}
    assert shown["min_employers"] == 2 and shown["today"][0]["openings"] == 2 and shown["forecast"][0]["slots"] == 7
    # The skills gap under the same rule: two employers' demand is not in a partner's report at 3
    # (the occupation is not even named), counted; an operator's is exact.
    assert hidden_gap["occupations"] == [] and hidden_gap["withheld"] == {"occupations": 1, "skills": 0}
    assert "python" not in json.dumps(hidden_gap)
    (dev,) = exact["occupations"]
    assert exact["min_employers"] is None and dev["openings"] == 2 and dev["demanded"][0]["skill"] == "python"
    assert shown_gap["min_employers"] == 2 and shown_gap["occupations"][0]["demanded"] == dev["demanded"]
    assert shown_gap["occupations"][0]["forecast_slots"] == {"6_months": None, "12_months": 7}
