"""A service provider's side of supportive services in the portal on real PostgreSQL, through the
support service's own routes in this process with the key the portal issues the organisation
(docs/portals.md, "A service provider's side"): the provider enters the directory by its form,
sees the requests addressed to it with what the requester said (never the referral), accepts,
records a delivery, declines with a reason, is shown the service's refusals; CSRF required;
another provider gets 404 reading and acting; read-only users see without forms and get 403;
other kinds of organisation 403; Spanish; the audit names the user by id."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from plumbing import db
from services.portal import support_provider
from services.support.app import DEFINITION as SUPPORT
from tests.integration.portal_services import portal_beside, support_service
from tests.integration.test_support_requests import World, referral
from tests.support.portal import Browser, member

pytestmark = pytest.mark.integration
DAY = "2026-11-30"  # the World's clock, a Monday: the day the requests are made and delivered


async def ask(requester: httpx.AsyncClient, ref: str, kind: str, reason: str, amount: str | None = None) -> str:
    body = {"provider_id": "pp-rides", "service_type": kind, "referral_id": ref, "reason": reason}
    if amount:
        body["amount_requested"] = {"amount": amount, "currency": "USD"}
    r = await requester.post("/v1/service-requests", json=body)
    assert r.status_code == 201, r.text
    return r.json()["request_id"]


def state_of(page: httpx.Response) -> str:
    found = re.search(r'id="state" data-state="(\w+)"', page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


async def test_a_provider_enters_the_directory_and_answers_its_requests(stack, pool, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    await db.migrate(pool, SUPPORT.migrations)
    world = World(pool)
    for n in (1, 2, 3, 4):
        await world.deliver(referral(f"ref_pp_{n}", "pp-asker", f"cand-pp{n}"))
    async with portal_beside(stack, "support") as (app, transport), world.client("pp-asker") as requester:
        transport.apps["support"] = support_service(app, world, pool)
        db_ = app.state.pool
        staff = await member(db_, "service_provider", "pp-rides", "staff")
        reader = await member(db_, "service_provider", "pp-rides", "read_only")
        other = await member(db_, "service_provider", "pp-other", "admin")
        asker = await member(db_, "partner", "pp-asker", "admin")
        employer = await member(db_, "employer", "pp-employer", "admin")
        async with Browser(app) as browser:
            await browser.sign_in(staff["email"])
            home = await browser.http.get("/")  # a provider starts at the requests addressed to it
            assert home.status_code == 303 and home.headers["location"] == "/provider/requests"
            first = await browser.http.get("/provider/requests")
            assert first.status_code == 200 and 'id="not-in-directory"' in first.text
            assert 'href="/provider/requests" aria-current="page"' in first.text

            # The directory entry, by its form.
            entry = {"name": "Eastside Rides", "service_types": ["transportation", "childcare"], "form_id": "e1"}
            no_token = await browser.http.post("/provider/entry", data=entry)
            assert no_token.status_code == 403 and "did not come from this site" in no_token.text
            bad = await browser.post("/provider/entry", {"name": " ", "form_id": "e0"}, "/provider/entry")
            assert bad.status_code == 422
            assert 'id="name-problem"' in bad.text and 'id="service_types-problem"' in bad.text
            saved = await browser.post("/provider/entry", entry, "/provider/entry")
            assert saved.status_code == 303 and saved.headers["location"] == "/provider/entry?saved=1"
            shown = await browser.http.get("/provider/entry?saved=1")
            assert 'id="entry"' in shown.text and "Eastside Rides" in shown.text and "Childcare" in shown.text
            listed = (await requester.get("/v1/service-providers")).json()
            assert [(d["provider_id"], d["service_types"]) for d in listed] == [
                ("pp-rides", ["transportation", "childcare"])
            ]

            ride = await ask(requester, "ref_pp_1", "transportation", "No bus before 8 to the training site", "40.00")
            care = await ask(requester, "ref_pp_2", "childcare", "Daycare during the evening class")
            late = await ask(requester, "ref_pp_3", "transportation", "A ride to the job fair")

            page = await browser.http.get("/provider/requests")
            assert 'id="not-in-directory"' not in page.text
            rows = re.findall(r'<tr data-request="([^"]+)" data-state="(\w+)">', page.text)
            assert sorted(rows) == sorted([(ride, "requested"), (care, "requested"), (late, "requested")])
            assert "No bus before 8 to the training site" in page.text and "40.00 USD" in page.text
            assert "Pp Asker" in page.text  # who asked, by the name the portal knows
            assert "ref_pp_" not in page.text  # the service does not tell a provider the referral, nor does the page

            opened = await browser.http.get(f"/provider/requests/{ride}")
            assert state_of(opened) == "requested" and 'id="form-accept"' in opened.text
            assert "ref_pp_1" not in opened.text and 'id="form-deliver"' not in opened.text

            # Accept (a double click answers once), then record the delivery.
            accepted = await browser.post(
                f"/provider/requests/{ride}/accept", {"form_id": "a1"}, f"/provider/requests/{ride}"
            )
            assert accepted.status_code == 303
            assert accepted.headers["location"] == f"/provider/requests/{ride}?done=accept"
            again = await browser.post(
                f"/provider/requests/{ride}/accept", {"form_id": "a1"}, f"/provider/requests/{ride}"
            )
            assert again.status_code == 303
            now_accepted = await browser.http.get(f"/provider/requests/{ride}?done=accept")
            assert state_of(now_accepted) == "accepted" and 'id="notice"' in now_accepted.text
            assert 'id="form-deliver"' in now_accepted.text and 'id="form-accept"' not in now_accepted.text
            deliver = {"delivered_on": DAY, "amount": "40.00", "currency": "USD"}
            typo = await browser.post(
                f"/provider/requests/{ride}/deliver",
                {**deliver, "amount": "40,5", "form_id": "d0"},
                f"/provider/requests/{ride}",
            )
            assert typo.status_code == 422 and 'id="amount-problem"' in typo.text and 'value="40,5"' in typo.text
            early = await browser.post(
                f"/provider/requests/{ride}/deliver",
                {**deliver, "delivered_on": "2026-11-29", "form_id": "d1"},
                f"/provider/requests/{ride}",
            )
            assert early.status_code == 422 and "before the request" in early.text  # the service's words
            delivered = await browser.post(
                f"/provider/requests/{ride}/deliver", {**deliver, "form_id": "d2"}, f"/provider/requests/{ride}"
            )
            assert delivered.status_code == 303
            mine = (await requester.get(f"/v1/service-requests/{ride}")).json()
            assert (mine["state"], mine["delivered_on"], mine["value_delivered"]) == (
                "delivered",
                DAY,
                {"amount": "40.00", "currency": "USD"},
            )

            # Decline: 'another reason' needs its words, then a reason code alone.
            other_reason = await browser.post(
                f"/provider/requests/{care}/decline",
                {"reason_code": "other", "detail": " ", "form_id": "n0"},
                f"/provider/requests/{care}",
            )
            assert other_reason.status_code == 422 and 'id="detail-problem"' in other_reason.text
            declined = await browser.post(
                f"/provider/requests/{care}/decline",
                {"reason_code": "no_capacity", "form_id": "n1"},
                f"/provider/requests/{care}",
            )
            assert declined.status_code == 303
            assert state_of(await browser.http.get(f"/provider/requests/{care}")) == "declined"

            # Withdrawn by the requester meanwhile: the page says so, and accepting it is the service's 409.
            form_page = await browser.http.get(f"/provider/requests/{late}")
            assert 'id="form-accept"' in form_page.text
            r = await requester.post(f"/v1/service-requests/{late}/cancel", json={"reason": "They found a ride"})
            assert r.status_code == 200
            refused = await browser.post(
                f"/provider/requests/{late}/accept", {"form_id": "a2"}, f"/provider/requests/{late}"
            )
            assert refused.status_code == 409 and 'id="problem"' in refused.text
            withdrawn = await browser.http.get(f"/provider/requests/{late}")
            assert state_of(withdrawn) == "cancelled" and "They found a ride" in withdrawn.text
            assert 'id="form-decline"' not in withdrawn.text

            # By state: nothing open; each ended state lists its own.
            assert 'id="empty"' in (await browser.http.get("/provider/requests")).text
            for state, expected in (("delivered", ride), ("declined", care), ("cancelled", late)):
                listed_page = await browser.http.get(f"/provider/requests?state={state}")
                assert re.findall(r'<tr data-request="([^"]+)"', listed_page.text) == [expected], state
            # An ended state a page at a time, the next from the last one's cursor (a page of one here).
            fourth = await ask(requester, "ref_pp_4", "childcare", "Childcare on Saturdays")
            r = await requester.post(f"/v1/service-requests/{fourth}/cancel", json={"reason": "Not needed"})
            assert r.status_code == 200
            monkeypatch.setattr(support_provider, "PAGE", 1)
            seen, path, pages = [], "/provider/requests?state=cancelled", 0
            while path:
                paged, pages = await browser.http.get(path), pages + 1
                seen += re.findall(r'<tr data-request="([^"]+)"', paged.text)
                later = re.search(r'href="([^"]+)" id="later"', paged.text)
                path = later.group(1).replace("&amp;", "&") if later else ""
            assert (seen, pages) == ([late, fourth], 3)

            await browser.post("/language", {"language": "es", "next": "/provider/requests"}, "/provider/requests")
            spanish = (await browser.http.get(f"/provider/requests/{care}")).text
            assert "Rechazada por ustedes" in spanish and "No tenemos capacidad" in spanish

        async with Browser(app) as stranger:  # another provider: 404 reading and acting, absent from its list
            await stranger.sign_in(other["email"])
            assert (await stranger.http.get(f"/provider/requests/{ride}")).status_code == 404
            acted = await stranger.post(f"/provider/requests/{care}/accept", {"form_id": "s1"}, "/provider/requests")
            assert acted.status_code == 404
            for state in ("", "?state=delivered", "?state=declined"):
                assert ride not in (await stranger.http.get(f"/provider/requests{state}")).text
        async with Browser(app) as reading:  # read-only: the pages without forms, 403 posting
            await reading.sign_in(reader["email"])
            seen = await reading.http.get(f"/provider/requests/{ride}")
            assert seen.status_code == 200 and '<form method="post" action="/provider' not in seen.text
            assert 'id="enter"' not in (await reading.http.get("/provider/entry")).text
            for path, data in (
                (f"/provider/requests/{care}/accept", {}),
                (f"/provider/requests/{care}/decline", {"reason_code": "nonsense"}),
                ("/provider/entry", {"name": "Taken over"}),
            ):
                assert (await reading.post(path, data, "/provider/entry")).status_code == 403, path
        for outsider in (asker, employer):  # the requester and an employer: not their pages
            async with Browser(app) as browsing:
                await browsing.sign_in(outsider["email"])
                assert (await browsing.http.get("/provider/requests")).status_code == 403
                assert (await browsing.http.get(f"/provider/requests/{ride}")).status_code == 403
                assert 'href="/provider/requests"' not in (await browsing.http.get("/sign-in")).text

        audit = await db_.fetch(
            "SELECT action, target, correlation_id, detail FROM audit WHERE user_id = $1::uuid"
            " AND action NOT IN ('signed_in', 'signed_out') ORDER BY audit_id",
            staff["user_id"],
        )
    assert [(a["action"], a["target"]) for a in audit] == [
        ("provider_entry_saved", "pp-rides"),
        ("service_accepted", ride),
        ("service_delivered", ride),
        ("service_declined", care),
    ]
    assert all(a["correlation_id"].startswith(f"portal-user-{staff['user_id']}-") for a in audit)
    assert '"no_capacity"' in audit[3]["detail"]


def test_the_decline_reasons_are_the_contracts() -> None:
    from contracts import events

    assert set(support_provider.DECLINE_REASONS) == {r.value for r in events.ServiceDeclineReason}
    assert set(support_provider.STATES) == {"requested", "accepted", "delivered", "declined", "cancelled"}


def test_a_demo_user_added_since_is_added_to_an_existing_sign_ins_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from services.portal import seed

    path = tmp_path / "portal-users.json"
    before = [u for u in seed.demo_users() if u["tenant_id"] != "eastside-community-services"]
    path.write_text(json.dumps(before))
    path.chmod(0o600)
    users = seed.users_file(path)
    assert users[: len(before)] == before  # the passwords people were given are kept
    assert [u["email"] for u in users[len(before) :]] == ["admin@eastside-community-services.example.org"]
    assert json.loads(path.read_text()) == users and path.stat().st_mode & 0o777 == 0o600
    assert seed.users_file(path) == users  # once
