"""A referring organisation's demand board and funnel pages on real PostgreSQL, reading outcomes'
own API (in this process, over a fresh outcomes schema fed the events as the consumer applies
them) with the key the portal issues the organisation, as the running portal does
(docs/portals.md, "A referring partner's screens"): the board's cells from enough employers, no
employer id, the withheld count, the forecast and the public hiring standards, in English and
Spanish; the organisation's funnel beside the coalition's; employers reach neither page."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI

from plumbing import apikeys, problems
from plumbing.context import Deps, source_of
from plumbing.settings import Settings
from services.outcomes import api as outcomes_api
from services.outcomes.app import DEFINITION as OUTCOMES
from tests.integration.test_demand_board_store import STANDARDS, at, forecast, posted
from tests.integration.test_outcomes_ledger import apply, envelopes
from tests.integration.test_withdraw_update_erase import T0, TEST_VAULT, consumer_for, make_pool  # noqa: F401
from tests.support.portal import Browser, ToService, fresh_schema, member, running_portal

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def portal_and_outcomes(stack: Any, outcomes_pool: Any) -> AsyncIterator[FastAPI]:
    to_outcomes = ToService("outcomes")
    async with (
        fresh_schema(stack.database_url) as schema,
        running_portal(
            stack.database_url,
            schema,
            transport=to_outcomes,
            KAFKA_BOOTSTRAP_SERVERS=stack.bootstrap,
            TALENTLOOP_SERVICE_URLS=json.dumps({"outcomes": "http://outcomes"}),
        ) as portal,
    ):
        outcomes = FastAPI()
        problems.install(outcomes)
        outcomes.include_router(outcomes_api.router)
        outcomes.state.pool = outcomes_pool
        outcomes.state.vault = TEST_VAULT
        outcomes.state.deps = Deps(source_of("outcomes"), Settings(), lambda: T0, TEST_VAULT)
        outcomes.state.keys = apikeys.ApiKeys(portal.state.pool, cache_s=0)
        to_outcomes.app = outcomes
        yield portal


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_the_demand_board_and_our_funnel_beside_the_coalitions(stack, make_pool) -> None:  # noqa: F811
    consumer = await consumer_for(make_pool, OUTCOMES)
    story = [
        at(posted("o1", "emp1", amount="20"), 0),
        at(posted("o2", "emp2", amount="30"), 1),
        at(posted("o3", "emp3", amount="25"), 2),
        at(posted("o4", "emp1", kind="part_time"), 3),  # part-time: emp1 alone, withheld
        at(forecast("emp1", 9), 4),
        at(forecast("emp2", 3), 5),
        at(forecast("emp3", 2), 6),
        at(STANDARDS, 7),
    ]
    for env in story + envelopes("ref_mine", partner="p1") + envelopes("ref_theirs", partner="p2"):
        await apply(consumer, env)

    async with portal_and_outcomes(stack, consumer.pool) as app:
        partner = await member(app.state.pool, "partner", "p1", "read_only")
        employer = await member(app.state.pool, "employer", "emp1", "admin")
        async with Browser(app) as browser:
            await browser.sign_in(partner["email"])
            page = await browser.http.get("/demand")
            assert page.status_code == 200, page.text[:500]
            assert 'href="/demand" aria-current="page"' in page.text and 'href="/funnel"' in page.text
            shown = text(page.text)
            (today,) = re.findall(r'<tr data-occupation="15-1252.00" data-kind="([a-z_]+)">', page.text)
            assert today == "full_time"  # the part-time cell of one employer is not there
            assert "Full time 3 6" in shown and "python : required by 3, preferred by 0" in shown
            assert "CompTIA A+ : 3 openings" in shown and "20.00 to 30.00 USD an hour, median 25.00" in shown
            assert 'data-horizon="12"' in page.text and "python : 14 slots" in shown  # 9 + 3 + 2
            assert "1 groups or lines of open openings" in shown  # what outcomes withheld, counted
            assert "Acme" in shown and "Panel interview" in shown and "No degree required" in shown
            assert not re.search(r"emp[123]", page.text)  # no employer's id

            funnel = await browser.http.get("/funnel")
            assert funnel.status_code == 200, funnel.text[:500]
            row = re.search(r'<tr data-stage="referred">.*?</tr>', funnel.text, re.S)
            assert row and [int(n) for n in re.findall(r">(\d+)<", row.group(0))] == [1, 1, 2, 2]
            placed = re.search(r'<tr data-outcome="placed">.*?</tr>', funnel.text, re.S)
            assert placed and [int(n) for n in re.findall(r">(\d+)<", placed.group(0))] == [1, 1, 2, 2]

            await browser.post("/language", {"language": "es", "next": "/demand"}, "/demand")
            spanish = text((await browser.http.get("/demand")).text)
            assert "Tablero de demanda" in spanish and "de 20.00 a 30.00 USD por hora, mediana 25.00" in spanish
            assert "Nuestro embudo y el de la coalición" in (await browser.http.get("/funnel")).text

        async with Browser(app) as browser:
            await browser.sign_in(employer["email"])
            for path in ("/demand", "/funnel"):
                refused = await browser.http.get(path)
                assert refused.status_code == 403 and 'href="/demand"' not in refused.text  # nor in its menu
