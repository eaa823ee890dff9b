"""A partner's supportive services in the portal on real PostgreSQL, through the support
service's own routes in this process with the key the portal issues the organisation
(docs/portals.md, "Supportive services"): a staff member asks a provider for a person the
organisation referred and follows the request as the provider accepts it, then withdraws it;
CSRF required; another organisation's referral is refused and its request is 404 to read and to
withdraw; read-only users see without forms and are refused; employers get 403; in Spanish."""

from __future__ import annotations

import re

import pytest

from plumbing import db
from services.support.app import DEFINITION as SUPPORT
from tests.integration.portal_services import portal_beside, support_service
from tests.integration.test_support_requests import World, referral
from tests.support.portal import Browser, member

pytestmark = pytest.mark.integration
ASKED = re.compile(r"^/support/(svr_[0-9a-f]+|[\w-]+)\?asked=1$")


async def test_a_partner_asks_for_a_service_follows_it_and_withdraws_it(stack, pool) -> None:  # type: ignore[no-untyped-def]
    await db.migrate(pool, SUPPORT.migrations)
    world = World(pool)
    await world.deliver(referral("ref_sup_a1", "sup-alpha", "cand-a1"))
    await world.deliver(referral("ref_sup_b1", "sup-beta", "cand-b1"))
    async with world.client("rides-coop") as provider:
        entry = {"name": "Eastside Rides Cooperative", "service_types": ["transportation", "childcare"]}
        assert (await provider.post("/v1/service-provider", json=entry)).status_code == 201

        async with portal_beside(stack, "support") as (app, transport):
            transport.apps["support"] = support_service(app, world, pool)
            staff = await member(app.state.pool, "partner", "sup-alpha", "staff")
            reader = await member(app.state.pool, "partner", "sup-alpha", "read_only")
            other = await member(app.state.pool, "partner", "sup-beta", "admin")
            employer = await member(app.state.pool, "employer", "sup-employer", "admin")
            form = {
                "referral_id": "ref_sup_a1",
                "provider_id": "rides-coop",
                "service_type": "transportation",
                "reason": "No bus reaches the training site before 8",
                "amount": "",
                "currency": "USD",
            }
            async with Browser(app) as browser:
                await browser.sign_in(staff["email"])
                page = await browser.http.get("/support?referral=ref_sup_a1")
                assert page.status_code == 200 and 'href="/support" aria-current="page"' in page.text
                assert (
                    'value="ref_sup_a1"' in page.text
                    and "Eastside Rides Cooperative (Transportation, Childcare)" in page.text
                )

                no_token = await browser.http.post("/support", data={**form, "form_id": "f0"})
                assert no_token.status_code == 403 and "did not come from this site" in no_token.text
                incomplete = await browser.post(
                    "/support", {**form, "reason": " ", "amount": "12,5", "form_id": "f1"}, "/support"
                )
                assert incomplete.status_code == 422
                assert 'id="reason-problem"' in incomplete.text and 'id="amount-problem"' in incomplete.text
                theirs = await browser.post(
                    "/support", {**form, "referral_id": "ref_sup_b1", "form_id": "f2"}, "/support"
                )
                assert theirs.status_code == 422 and "does not know this referral as yours" in theirs.text
                unoffered = await browser.post(
                    "/support", {**form, "service_type": "housing", "form_id": "f3"}, "/support"
                )
                assert unoffered.status_code == 422 and 'id="problem"' in unoffered.text  # the service's words
                async with world.client("sup-alpha") as own:
                    assert (await own.get("/v1/service-requests")).json()["items"] == []  # nothing was asked

                asked = await browser.post("/support", {**form, "form_id": "f4"}, "/support")
                assert asked.status_code == 303, asked.text[:500]
                request_id = ASKED.match(asked.headers["location"]).group(1)  # type: ignore[union-attr]
                again = await browser.post("/support", {**form, "form_id": "f4"}, "/support")  # a double click
                assert again.headers["location"] == asked.headers["location"]
                shown = await browser.http.get(asked.headers["location"])
                assert 'data-state="requested"' in shown.text and "Request sent" in shown.text
                assert "No bus reaches the training site before 8" in shown.text
                listed = await browser.http.get("/support")
                assert f'<tr data-request="{request_id}" data-state="requested">' in listed.text
                assert listed.text.count("<tr data-request=") == 1

                assert (await provider.post(f"/v1/service-requests/{request_id}/accept")).status_code == 200
                followed = await browser.http.get(f"/support/{request_id}")
                assert 'data-state="accepted"' in followed.text and "the provider is arranging it" in followed.text

                async with Browser(app) as stranger:
                    await stranger.sign_in(other["email"])
                    assert (await stranger.http.get(f"/support/{request_id}")).status_code == 404
                    gone = await stranger.post(
                        f"/support/{request_id}/cancel", {"reason": "x", "form_id": "s1"}, "/support"
                    )
                    assert gone.status_code == 404
                    assert request_id not in (await stranger.http.get("/support")).text
                async with Browser(app) as reading:
                    await reading.sign_in(reader["email"])
                    seen = await reading.http.get(f"/support/{request_id}")
                    assert seen.status_code == 200 and 'id="cancel"' not in seen.text
                    assert 'id="ask"' not in (await reading.http.get("/support")).text
                    refused = await reading.post("/support", {**form, "form_id": "r1"}, "/support")
                    stopped = await reading.post(
                        f"/support/{request_id}/cancel", {"reason": "x", "form_id": "r2"}, "/support"
                    )
                    assert (refused.status_code, stopped.status_code) == (403, 403)
                async with Browser(app) as employing:
                    await employing.sign_in(employer["email"])
                    assert (await employing.http.get("/support")).status_code == 403

                no_token = await browser.http.post(
                    f"/support/{request_id}/cancel", data={"reason": "x", "form_id": "c0"}
                )
                assert no_token.status_code == 403
                no_reason = await browser.post(
                    f"/support/{request_id}/cancel", {"reason": "", "form_id": "c1"}, "/support"
                )
                assert no_reason.status_code == 422
                assert 'data-state="accepted"' in (await browser.http.get(f"/support/{request_id}")).text
                done = await browser.post(
                    f"/support/{request_id}/cancel", {"reason": "They found a ride", "form_id": "c2"}, "/support"
                )
                assert done.status_code == 303
                ended = await browser.http.get(f"/support/{request_id}")
                assert 'data-state="cancelled"' in ended.text and "They found a ride" in ended.text
                assert 'id="cancel"' not in ended.text
                late = await browser.post(
                    f"/support/{request_id}/cancel", {"reason": "again", "form_id": "c3"}, "/support"
                )
                assert late.status_code == 409 and 'id="problem"' in late.text

                await browser.post("/language", {"language": "es", "next": "/support"}, "/support")
                spanish = (await browser.http.get(f"/support/{request_id}")).text
                assert "Retirada por su organización" in spanish and "Transporte" in spanish

            audit = await app.state.pool.fetch(
                "SELECT action, target, correlation_id FROM audit WHERE user_id = $1::uuid AND action LIKE 'service_%'"
                " ORDER BY audit_id",
                staff["user_id"],
            )
            assert [(a["action"], a["target"]) for a in audit] == [
                ("service_requested", request_id),
                ("service_cancelled", request_id),
            ]
            assert all(a["correlation_id"].startswith(f"portal-user-{staff['user_id']}-") for a in audit)
