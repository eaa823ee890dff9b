"""My referrals name the people (docs/portals.md, "My referrals"), on real PostgreSQL: intake's
and outcomes' own routes in this process, fed as the services are (intake's use case stores the
referrals, outcomes applies intake's outbox events), called with the key the portal issues the
organisation. Each name is the one intake opens for the partner that referred the person; a
referral intake does not show the organisation has none; pages of the list; in Spanish."""

from __future__ import annotations

import os
import re

import pytest

from contracts import Envelope
from plumbing import apikeys
from plumbing.context import Deps, source_of
from plumbing.settings import Settings
from plumbing.vault import Vault
from services.intake import api as intake_api
from services.intake.app import DEFINITION as INTAKE
from services.outcomes import api as outcomes_api
from services.outcomes.app import DEFINITION as OUTCOMES
from services.portal import pages_partner
from tests.integration.intake_world import deps_of, person, submit
from tests.integration.portal_services import portal_beside, service_app
from tests.integration.test_outcomes_ledger import apply, envelopes
from tests.integration.test_withdraw_update_erase import T0, TEST_VAULT, consumer_for, make_pool  # noqa: F401
from tests.support.portal import Browser, member

pytestmark = pytest.mark.integration
ROW = re.compile(r'<tr data-referral="([^"]+)" data-status="[a-z_]+">\s*<td class="person" translate="no">([^<]*)</td>')


async def test_my_referrals_show_the_names_the_partners_key_may_see(stack, make_pool, monkeypatch) -> None:  # noqa: F811  # type: ignore[no-untyped-def]
    intake_pool = await make_pool(INTAKE.migrations)
    intake = deps_of(Vault(os.urandom(32)))
    people = {"Rosa Parks": "nm-alpha", "Ana Diaz": "nm-alpha", "Bo Li": "nm-beta"}
    referred = {}
    for name, partner in people.items():
        given, family = name.split()
        candidate = {"given_name": given, "family_name": family, "email": f"{given.lower()}@example.org"}
        referred[name] = (await submit(intake_pool, intake, partner, person(candidate=candidate))).referral_id
    outcomes = await consumer_for(make_pool, OUTCOMES)
    for row in await intake_pool.fetch("SELECT value FROM outbox ORDER BY id"):
        env = Envelope.from_bytes(row["value"])
        if env.type.startswith("referral.submitted"):
            await apply(outcomes, env)
    for env in envelopes("ref_not_at_intake", partner="nm-alpha")[:1]:  # the closed loop knows it, intake not
        await apply(outcomes, env)

    async with portal_beside(stack, "intake", "outcomes", "support") as (app, transport):
        keys = apikeys.ApiKeys(app.state.pool, cache_s=0)
        transport.apps["intake"] = service_app(
            "intake", [intake_api.router], keys, pool=intake_pool, deps=intake, settings=Settings()
        )
        transport.apps["outcomes"] = service_app(
            "outcomes",
            [outcomes_api.router],
            keys,
            pool=outcomes.pool,
            vault=TEST_VAULT,
            deps=Deps(source_of("outcomes"), Settings(), lambda: T0, TEST_VAULT),
        )
        staff = await member(app.state.pool, "partner", "nm-alpha", "staff")
        reader = await member(app.state.pool, "partner", "nm-alpha", "read_only")
        async with Browser(app) as browser:
            await browser.sign_in(staff["email"])
            page = await browser.http.get("/referrals")
            assert page.status_code == 200, page.text[:500]
            names = dict(ROW.findall(page.text))
            assert names == {
                referred["Rosa Parks"]: "Rosa Parks",
                referred["Ana Diaz"]: "Ana Diaz",
                "ref_not_at_intake": "—",
            }
            assert "Bo Li" not in page.text and referred["Bo Li"] not in page.text
            assert f'href="/support?referral={referred["Rosa Parks"]}#ask"' in page.text

            monkeypatch.setattr(pages_partner, "PAGE_SIZE", 2)
            first = await browser.http.get("/referrals")
            second = await browser.http.get("/referrals?page=2")
            shown = [dict(ROW.findall(p.text)) for p in (first, second)]
            assert [len(s) for s in shown] == [2, 1] and shown[0].keys().isdisjoint(shown[1].keys())
            assert 'id="page-newer"' not in first.text and 'href="/referrals?page=2"' in first.text
            assert 'href="/referrals?page=1"' in second.text and "Page 2 of 2" in second.text
            assert len(dict(ROW.findall((await browser.http.get("/referrals?page=99")).text))) == 1  # the last

            await browser.post("/language", {"language": "es", "next": "/referrals"}, "/referrals")
            spanish = (await browser.http.get("/referrals")).text
            assert "Persona" in spanish and "Página 1 de 2" in spanish and len(ROW.findall(spanish)) == 2
        monkeypatch.undo()
        async with Browser(app) as reading:
            await reading.sign_in(reader["email"])
            seen = await reading.http.get("/referrals")
            assert "Rosa Parks" in seen.text and "/support?referral=" not in seen.text
