"""Tenancy: an employer asking for another employer's opening, referral, interview, offer,
webhook endpoint or delivery gets 404 (not 403: it cannot even tell the id exists), on every route that takes an id.

The route list comes from the gateway's own routers, so a new route with an id fails this
test until it is covered here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.routing import APIRoute

from plumbing.consumer import EventConsumer
from services.employer_gateway.app import DEFINITION as GATEWAY
from tests.integration.test_gateway_lifecycle import TERMS
from tests.integration.test_gateway_openings import POSTING, gateway_pool  # noqa: F401  (fixture)
from tests.integration.test_withdraw_update_erase import deliver, gateway_app, routed

pytestmark = pytest.mark.integration
WHEN = (datetime.now(UTC) + timedelta(days=2)).isoformat()
TODAY = datetime.now(UTC).date().isoformat()

# A valid body for each route that takes one (so what answers is the tenancy check, not validation).
BODIES = {
    ("PATCH", "/v1/openings/{opening_id}"): {"title": "Another title"},
    ("POST", "/v1/openings/{opening_id}/close"): {"reason": "closed"},
    ("POST", "/v1/referrals/{referral_id}/decline"): {"reason": "no_capacity"},
    ("POST", "/v1/referrals/{referral_id}/interviews"): {"scheduled_for": WHEN},
    ("POST", "/v1/referrals/{referral_id}/interviews/{interview_id}/reschedule"): {"scheduled_for": WHEN},
    ("POST", "/v1/referrals/{referral_id}/interviews/{interview_id}/cancel"): {"cancelled_by": "employer"},
    ("POST", "/v1/referrals/{referral_id}/interviews/{interview_id}/outcome"): {"outcome": "advanced"},
    ("POST", "/v1/referrals/{referral_id}/offers"): TERMS,
    ("POST", "/v1/referrals/{referral_id}/offers/{offer_id}/declined"): {"reason": "compensation"},
    ("POST", "/v1/referrals/{referral_id}/placement"): TERMS,
    ("POST", "/v1/referrals/{referral_id}/retention"): {"milestone_days": 30, "still_employed": True, "checked_on": TODAY},
    ("POST", "/v1/referrals/{referral_id}/conversion"): {
        "converted_on": TODAY, "employment_type": "full_time",
        **{k: TERMS[k] for k in ("job_title", "onet_soc_code", "wage", "hours_per_week")},
    },
    ("POST", "/v1/referrals/{referral_id}/separation"): {"separated_on": TODAY, "reason": "resigned"},
}
BODIES[("PATCH", "/v1/webhooks/endpoints/{endpoint_id}")] = {"active": False}
NO_BODY = {
    ("DELETE", "/v1/webhooks/endpoints/{endpoint_id}"),
    ("POST", "/v1/webhooks/endpoints/{endpoint_id}/rotate-secret"),
    ("GET", "/v1/webhooks/deliveries/{delivery_id}"),
    ("POST", "/v1/webhooks/deliveries/{delivery_id}/redeliver"),
    ("GET", "/v1/referrals/{referral_id}"),
    ("POST", "/v1/referrals/{referral_id}/acknowledge"),
}


def routes_with_ids() -> set[tuple[str, str]]:
    found = set()
    for router in GATEWAY.routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and "{" in route.path:
                found |= {(m, route.path) for m in route.methods if m != "HEAD"}
    return found


def test_every_route_with_an_id_is_covered():
    assert routes_with_ids() == set(BODIES) | NO_BODY


async def test_another_employers_ids_are_404_on_every_route(gateway_pool, monkeypatch):  # noqa: F811
    # The endpoint below is a loopback URL: allowed only by the development setting.
    monkeypatch.setenv("TALENTLOOP_WEBHOOKS_ALLOW_LOOPBACK_HTTP", "true")
    consumer = EventConsumer(GATEWAY.name, gateway_pool, None, handlers=GATEWAY.handlers)  # type: ignore[arg-type]
    async with gateway_app(gateway_pool, "emp1") as owner, gateway_app(gateway_pool, "emp2") as other:
        opening_id = (await owner.post("/v1/openings", json=POSTING)).json()["opening_id"]
        await deliver(consumer, routed("ref_owned", cand="cand_owned"))
        await owner.post("/v1/referrals/ref_owned/acknowledge")
        interview_id = (await owner.post("/v1/referrals/ref_owned/interviews", json={"scheduled_for": WHEN})).json()[
            "interview_id"
        ]
        offer_id = (await owner.post("/v1/referrals/ref_owned/offers", json=TERMS)).json()["offer_id"]
        endpoint_id = (await owner.post("/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/hooks"})).json()[
            "endpoint_id"
        ]
        await deliver(consumer, routed("ref_hooked", cand="cand_hooked"))  # queues a delivery to that endpoint
        delivery_id = (await owner.get("/v1/webhooks/deliveries")).json()["items"][0]["delivery_id"]
        ids = {"opening_id": opening_id, "referral_id": "ref_owned", "interview_id": interview_id, "offer_id": offer_id,
               "endpoint_id": endpoint_id, "delivery_id": delivery_id}

        published = await gateway_pool.fetchval("SELECT count(*) FROM outbox")
        # DELETE last: the owner's delete removes the endpoint the other routes use.
        calls = [(m, p.format(**ids), BODIES.get((m, p))) for m, p in sorted(routes_with_ids(), key=lambda r: r[0] == "DELETE")]
        for method, url, body in calls:
            r = await other.request(method, url, json=body)
            assert r.status_code == 404, f"{method} {url}: {r.status_code} {r.text}"
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "emp1" not in r.text
        # Nothing the other employer tried changed anything or published anything.
        assert await gateway_pool.fetchval("SELECT count(*) FROM outbox") == published
        assert (await owner.get("/v1/referrals/ref_owned")).json()["state"] == "offered"
        # The owner's calls with the same ids find them (whatever the state then allows).
        for method, url, body in calls:
            mine = await owner.request(method, url, json=body)
            assert mine.status_code != 404, f"{method} {url} as the owner: {mine.text}"


async def test_a_cursor_past_the_database_integer_is_a_422_not_a_500(gateway_pool):  # noqa: F811
    async with gateway_app(gateway_pool, "emp1") as employer:
        r = await employer.get("/v1/referrals", params={"after": "83116309671291032163927146306207744"})
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
        assert (await employer.get("/v1/referrals", params={"after": str(2**63 - 1)})).status_code == 200
