"""No tenant reaches another's data: every route with an id, every foreign id, as a hostile tenant.

The routes come from the services' OpenAPI documents (the committed contracts/openapi/*,
the console's, and what each running service serves at /openapi.json): every route with a path parameter
must be in MATRIX below, with a request body that would be accepted, or the test fails (a new
route cannot slip through). Each parameter is mapped by IDS to the kind of thing it names.

Two tenants of each kind (partners A and B, employers A and B) are built once for the module
with data of every kind: an opening each, a referral each routed to it, acknowledged, with an
interview and an offer; a CSV import each; a program and an enrollment each, and a service request
for that participant (the partner as its own service provider); a webhook endpoint and a delivery each, for the
employers at the gateway, for the partners at outcomes and as providers at support; an API key each. Then, for every
route and both directions (A against B, B against A):

- every caller of a kind the route serves (docs/api-keys.md) gets 404 for every combination
  of its own and the other tenant's ids that is not all its own (another employer's
  referral; its own referral with another employer's interview; ...);
- every caller of a kind the route does not serve gets 403 `forbidden`;
- and afterwards nothing changed: each tenant's own view of its referrals, openings, imports,
  webhooks and keys, outcomes' timelines and funnels, outcomes' ledger rows and every
  service's outbox rows about these referrals and openings are what they were before.

Operators are not tenants: they may read every timeline and revoke any key, so the matrix
does not send them foreign ids, only the routes that are not theirs (403).
"""

from __future__ import annotations

import importlib
import itertools
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from plumbing.service import create_app
from talentloop import samples
from tests.e2e.helpers import OPERATOR, Api, RunningNetwork, opening_body, poll, referral_body, unique
from tests.unit.test_route_scopes import documented

pytestmark = pytest.mark.slow

SERVICES = ("intake", "routing", "employer_gateway", "outcomes", "support")  # their documents are published
ALL_SERVICES = (*SERVICES, "console")  # the console's is served, not published
OPENAPI = Path(__file__).parents[2] / "contracts" / "openapi"
PARTNERS = {"a": "northside-tech-collective", "b": "riverbend-community-college"}  # both have CSV adapters
TENANT_KINDS = ("partner", "employer")
KINDS = ("partner", "employer", "operator")
PARAM = re.compile(r"\{(\w+)\}")

# What each path parameter names at each service: a key of Tenant.ids. A parameter missing
# here fails the test.
IDS: dict[tuple[str, str], str] = {
    ("intake", "referral_id"): "referral",
    ("intake", "import_id"): "import",
    ("intake", "enrollment_id"): "enrollment",
    ("employer_gateway", "opening_id"): "opening",
    ("employer_gateway", "referral_id"): "referral",
    ("employer_gateway", "interview_id"): "interview",
    ("employer_gateway", "offer_id"): "offer",
    ("employer_gateway", "endpoint_id"): "employer_endpoint",
    ("employer_gateway", "delivery_id"): "employer_delivery",
    ("outcomes", "referral_id"): "referral",
    ("outcomes", "endpoint_id"): "partner_endpoint",
    ("outcomes", "delivery_id"): "partner_delivery",
    ("support", "request_id"): "service_request",
    ("support", "endpoint_id"): "provider_endpoint",
    ("support", "delivery_id"): "provider_delivery",
    **{(service, "key_id"): "key" for service in ALL_SERVICES},
}
# Path parameters that do not name a tenant's resource: the value sent, and why.
NOT_TENANT_IDS: dict[tuple[str, str], str] = {
    ("outcomes", "name"): "funnel",  # a report's name; each partner's report holds only its own referrals
    # A person's journey is the operators' alone: every tenant is refused by its kind, whoever it names.
    ("outcomes", "candidate_id"): "cand_anyone",
    # The console's operational ids (operators only): a dead letter, a service's outbox row.
    ("console", "letter_id"): "talentloop.deadletter.intake:0:0",
    ("console", "service"): "intake",
    ("console", "row_id"): "1",
}


TERMS = {
    "job_title": "Analyst",
    "onet_soc_code": "15-1252.00",
    "wage": {"amount": "30.00", "unit": "hour"},
    "hours_per_week": 40,
    "employment_type": "full_time",
    "start_date": (date.today() - timedelta(days=40)).isoformat(),
}
SOON = (datetime.now(UTC) + timedelta(days=3)).isoformat()

# Every route with a path parameter and a body it would accept from its owner: a foreign id
# must be what refuses the request, not the body.
MATRIX: dict[tuple[str, str, str], dict[str, Any] | None] = {
    ("intake", "GET", "/v1/referrals/{referral_id}"): None,
    ("intake", "PATCH", "/v1/referrals/{referral_id}"): {"location": "Queens, NY"},
    ("intake", "POST", "/v1/referrals/{referral_id}/withdraw"): {"reason": "submitted_in_error"},
    ("intake", "GET", "/v1/imports/{import_id}"): None,
    ("intake", "GET", "/v1/imports/{import_id}/errors"): None,
    ("intake", "GET", "/v1/enrollments/{enrollment_id}"): None,
    ("employer_gateway", "PATCH", "/v1/openings/{opening_id}"): {"capacity": 7},
    ("employer_gateway", "POST", "/v1/openings/{opening_id}/close"): {"reason": "closed"},
    ("employer_gateway", "GET", "/v1/referrals/{referral_id}"): None,
    ("employer_gateway", "POST", "/v1/referrals/{referral_id}/acknowledge"): None,
    ("employer_gateway", "POST", "/v1/referrals/{referral_id}/decline"): {"reason": "requirements_not_met"},
    ("employer_gateway", "POST", "/v1/referrals/{referral_id}/interviews"): {"scheduled_for": SOON, "mode": "video"},
    ("employer_gateway", "POST", "/v1/referrals/{referral_id}/interviews/{interview_id}/outcome"): {
        "outcome": "advanced"
    },
    ("employer_gateway", "POST", "/v1/referrals/{referral_id}/interviews/{interview_id}/reschedule"): {
        "scheduled_for": SOON
    },
    ("employer_gateway", "POST", "/v1/referrals/{referral_id}/interviews/{interview_id}/cancel"): {
        "cancelled_by": "employer"
    },
    ("employer_gateway", "POST", "/v1/referrals/{referral_id}/offers"): TERMS,
    ("employer_gateway", "POST", "/v1/referrals/{referral_id}/offers/{offer_id}/declined"): {"reason": "compensation"},
    ("employer_gateway", "POST", "/v1/referrals/{referral_id}/placement"): TERMS,
    ("employer_gateway", "POST", "/v1/referrals/{referral_id}/retention"): {
        "milestone_days": 30,
        "still_employed": True,
        "checked_on": date.today().isoformat(),
    },
    ("employer_gateway", "POST", "/v1/referrals/{referral_id}/conversion"): {
        "converted_on": date.today().isoformat(),
        "employment_type": "full_time",
        **{k: TERMS[k] for k in ("job_title", "onet_soc_code", "wage", "hours_per_week")},
    },
    ("employer_gateway", "POST", "/v1/referrals/{referral_id}/separation"): {
        "separated_on": date.today().isoformat(),
        "reason": "resigned",
    },
    ("support", "GET", "/v1/service-requests/{request_id}"): None,
    ("support", "POST", "/v1/service-requests/{request_id}/accept"): None,
    ("support", "POST", "/v1/service-requests/{request_id}/decline"): {"reason_code": "no_capacity"},
    ("support", "POST", "/v1/service-requests/{request_id}/deliver"): {"delivered_on": date.today().isoformat()},
    ("support", "POST", "/v1/service-requests/{request_id}/cancel"): {"reason": "not needed any more"},
    ("outcomes", "GET", "/v1/referrals/{referral_id}/timeline"): None,
    ("outcomes", "GET", "/v1/reports/{name}.csv"): None,
    ("outcomes", "GET", "/v1/people/{candidate_id}/journey"): None,
    **{
        (service, method, f"/v1/webhooks/{path}"): body
        for service in ("employer_gateway", "outcomes", "support")
        for method, path, body in (
            ("PATCH", "endpoints/{endpoint_id}", {"url": "https://hooks.example.com/stolen", "active": False}),
            ("DELETE", "endpoints/{endpoint_id}", None),
            ("POST", "endpoints/{endpoint_id}/rotate-secret", None),
            ("GET", "deliveries/{delivery_id}", None),
            ("POST", "deliveries/{delivery_id}/redeliver", None),
        )
    },
    **{(service, "POST", "/v1/keys/{key_id}/revoke"): None for service in ALL_SERVICES},
    ("console", "POST", "/api/dead-letters/{letter_id}/replay"): None,
    ("console", "POST", "/api/outbox/{service}/{row_id}/retry"): None,
    ("console", "POST", "/api/outbox/{service}/{row_id}/discard"): None,
}


def routes_with_ids(documents: dict[str, dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (service, method.upper(), path)
        for service, doc in documents.items()
        for path, operations in doc["paths"].items()
        if PARAM.search(path) and not path.startswith("/public/")  # the public release: no tenant's data, no key
        for method in operations
    }


def committed_documents() -> dict[str, dict[str, Any]]:
    """The published documents, and the console's as its app makes it."""
    docs = {s: json.loads((OPENAPI / f"{s}.json").read_text()) for s in SERVICES}
    return {**docs, "console": create_app(importlib.import_module("services.console.app").DEFINITION).openapi()}


def test_every_route_with_an_id_is_in_the_matrix() -> None:
    routes = routes_with_ids(committed_documents())
    assert routes, "no route with a path parameter found in contracts/openapi"
    assert routes == set(MATRIX), {"not in the matrix": routes - set(MATRIX), "gone": set(MATRIX) - routes}
    for service, _, path in routes:
        for param in PARAM.findall(path):
            assert (service, param) in IDS or (service, param) in NOT_TENANT_IDS, (service, path, param)


@dataclass
class Tenant:
    """One side: a partner and an employer, and the ids of everything they own."""

    partner: str
    employer: str
    headers: dict[str, dict[str, str]]  # kind -> Authorization header
    ids: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    a: Tenant
    b: Tenant


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def issue_key(api: Api, kind: str, principal_id: str) -> dict[str, Any]:
    r = await api.http.post(
        api.url("intake", "/v1/keys"),
        json={"principal": {"kind": kind, "id": principal_id}, "scopes": ["read", "write", "webhooks"],
              "label": "cross-tenant matrix"},
        headers=api.net.auth(OPERATOR),
    )
    assert r.status_code == 201, r.text
    return r.json()


async def build(api: Api, side: str, conn: asyncpg.Connection) -> Tenant:
    """A partner and an employer with an opening, a referral routed there (acknowledged, an
    interview and an offer), an import, webhook endpoints with a delivery, an API key."""
    run = uuid.uuid4().hex[:8]
    partner, employer = PARTNERS[side], f"xt-employer-{side}-{run}"
    keys = {kind: await issue_key(api, kind, pid) for kind, pid in (("partner", partner), ("employer", employer))}
    t = Tenant(partner, employer, {kind: bearer(k["key"]) for kind, k in keys.items()})
    t.headers["operator"] = api.net.auth(OPERATOR)
    t.ids["key"] = keys["employer"]["key_id"]
    skill = unique(f"xt{side}")

    r = await api.http.post(api.url("employer_gateway", "/v1/openings"), json=opening_body([skill]),
                            headers=t.headers["employer"])
    assert r.status_code == 201, r.text
    t.ids["opening"] = r.json()["opening_id"]
    await api.wait_in_catalogue(t.ids["opening"])

    r = await api.http.post(api.url("intake", "/v1/referrals"), json=referral_body([skill]),
                            headers=t.headers["partner"])
    assert r.status_code == 201, r.text
    t.ids["referral"] = r.json()["referral_id"]

    async def routed() -> bool | None:
        r = await act(api, t, "GET", "employer_gateway", f"/v1/referrals/{t.ids['referral']}")
        return True if r.status_code == 200 else None

    await poll(f"{t.ids['referral']} routed to {employer}", routed)
    for path, body, key in (
        ("acknowledge", None, None),
        ("interviews", {"scheduled_for": SOON, "mode": "video"}, "interview"),
        ("offers", TERMS, "offer"),
    ):
        r = await act(api, t, "POST", "employer_gateway", f"/v1/referrals/{t.ids['referral']}/{path}", body)
        assert r.status_code in (200, 201), r.text
        if key:
            t.ids[key] = r.json()[f"{key}_id"]

    person = samples.person(uuid.uuid4().int % 10_000, run=run)
    row = (samples.northside_row if side == "a" else samples.riverbend_row)(person, run)
    row["Skills" if side == "a" else "COMPETENCIES"] = unique(f"xt-import-{side}")  # routed nowhere
    columns = samples.NORTHSIDE_COLUMNS if side == "a" else samples.RIVERBEND_COLUMNS
    files = {"file": ("export.csv", samples.csv_text(columns, [row]).encode(), "text/csv")}
    r = await api.http.post(api.url("intake", "/v1/imports"), files=files, headers=t.headers["partner"], timeout=60.0)
    assert r.status_code == 201 and r.json()["accepted"] == 1, r.text
    t.ids["import"] = r.json()["import_id"]

    # The partner as a training provider: a program and one participant's enrollment.
    program_id = f"xt-program-{side}-{run}"
    r = await api.http.post(api.url("intake", "/v1/programs"), headers=t.headers["partner"], json={
        "program_id": program_id, "name": "IT Support", "modality": "online", "length_weeks": 12,
        "cost_to_participant": {"amount": "0"}})
    assert r.status_code == 201, r.text
    r = await api.http.post(api.url("intake", "/v1/enrollments"), headers=t.headers["partner"], json={
        "external_id": f"xt-enr-{side}-{run}", "program_id": program_id, "enrolled_on": date.today().isoformat(),
        "candidate": {"given_name": "Ana", "family_name": "Diaz", "email": f"xt-{side}-{run}@example.org"},
        "consent": {"aggregate_reports": True, "given_at": datetime.now(UTC).isoformat()}})
    assert r.status_code == 201, r.text
    t.ids["enrollment"] = r.json()["enrollment_id"]

    # The partner as a service provider too, asked by itself for a ride for that participant
    # (once the support service has consumed the enrollment: 404 until then).
    r = await act(api, t, "POST", "support", "/v1/service-provider",
                  {"name": f"Rides {side}", "service_types": ["transportation"]}, kind="partner")
    assert r.status_code in (200, 201), r.text
    ask = {"provider_id": partner, "service_type": "transportation", "enrollment_id": t.ids["enrollment"],
           "reason": "Bus pass"}

    async def asked() -> str | None:
        r = await act(api, t, "POST", "support", "/v1/service-requests", ask, kind="partner")
        assert r.status_code in (201, 404), r.text
        return r.json()["request_id"] if r.status_code == 201 else None

    t.ids["service_request"] = await poll("support to know the enrollment", asked)

    # Endpoints go straight into the database: the API only takes public https URLs (their
    # names resolved), which this machine cannot offer. Switched off, so that no event of the
    # seeded partners' (other tests') queues a delivery to them; the delivery is marked
    # delivered so the dispatcher leaves it alone: only a redelivery would change it.
    for name, owner_kind, schema in WEBHOOK_OWNERS:
        owner = f"{owner_kind}:{employer if owner_kind == 'employer' else partner}"
        endpoint_id, delivery_id = f"whe_{uuid.uuid4().hex}", f"whd_{uuid.uuid4().hex}"
        await conn.execute(
            f"INSERT INTO {schema}.webhook_endpoints (endpoint_id, owner, url, secret_sealed, active)"
            " VALUES ($1, $2, $3, $4, false)",
            endpoint_id, owner, f"https://hooks.example.com/{side}", b"\x00" * 40,
        )
        await conn.execute(
            f"INSERT INTO {schema}.webhook_deliveries (delivery_id, endpoint_id, owner, event_id, event_type, body,"
            " status, attempts, last_status, delivered_at) VALUES ($1, $2, $3, $4, 'referral.routed', '{}', 'delivered',"
            " 1, 204, now())",
            delivery_id, endpoint_id, owner, uuid.uuid4(),
        )
        t.ids[f"{name}_endpoint"], t.ids[f"{name}_delivery"] = endpoint_id, delivery_id
    return t


# Whose webhook endpoints each service keeps: (the ids' name in Tenant.ids, owner kind, schema).
WEBHOOK_OWNERS = (
    ("employer", "employer", "employer_gateway"),
    ("partner", "partner", "outcomes"),
    ("provider", "partner", "support"),  # the partner as a service provider
)


async def act(api: Api, t: Tenant, method: str, service: str, path: str, body: Any = None,
              kind: str = "employer") -> httpx.Response:
    return await api.http.request(method, api.url(service, path), json=body, headers=t.headers[kind])


@pytest.fixture(scope="module")
async def world(running_network: RunningNetwork, http: httpx.AsyncClient) -> AsyncIterator[World]:
    api = Api(running_network, http)
    conn = await asyncpg.connect(running_network.network.database_url)
    try:
        w = World(await build(api, "a", conn), await build(api, "b", conn))
        yield w
        for name, _, schema in WEBHOOK_OWNERS:
            endpoints = [t.ids[f"{name}_endpoint"] for t in (w.a, w.b)]
            await conn.execute(f"DELETE FROM {schema}.webhook_endpoints WHERE endpoint_id = ANY($1)", endpoints)
    finally:
        await conn.close()


async def snapshot(api: Api, w: World) -> dict[str, Any]:
    """What each tenant sees of its own things, and what the services recorded about them."""
    views: dict[str, Any] = {}
    for name, t in (("a", w.a), ("b", w.b)):
        reads = {
            "intake referral": ("intake", f"/v1/referrals/{t.ids['referral']}", "partner"),
            "intake import": ("intake", f"/v1/imports/{t.ids['import']}", "partner"),
            "intake enrollment": ("intake", f"/v1/enrollments/{t.ids['enrollment']}", "partner"),
            "service request": ("support", f"/v1/service-requests/{t.ids['service_request']}", "partner"),
            "provider's requests": ("support", "/v1/service-provider/requests", "partner"),
            "gateway referral": ("employer_gateway", f"/v1/referrals/{t.ids['referral']}", "employer"),
            "gateway openings": ("employer_gateway", "/v1/openings", "employer"),
            "gateway inbox": ("employer_gateway", "/v1/referrals", "employer"),
            "employer endpoints": ("employer_gateway", "/v1/webhooks/endpoints", "employer"),
            "employer deliveries": ("employer_gateway", "/v1/webhooks/deliveries", "employer"),
            "partner endpoints": ("outcomes", "/v1/webhooks/endpoints", "partner"),
            "partner deliveries": ("outcomes", "/v1/webhooks/deliveries", "partner"),
            "provider endpoints": ("support", "/v1/webhooks/endpoints", "partner"),
            "provider deliveries": ("support", "/v1/webhooks/deliveries", "partner"),
            "timeline": ("outcomes", f"/v1/referrals/{t.ids['referral']}/timeline", "operator"),
            "partner's timeline": ("outcomes", f"/v1/referrals/{t.ids['referral']}/timeline", "partner"),
            "employer's funnel": ("outcomes", "/v1/funnel", "employer"),
            "employer's keys": ("intake", f"/v1/keys?kind=employer&id={t.employer}", "operator"),
        }
        for what, (service, path, kind) in reads.items():
            r = await api.http.get(api.url(service, path), headers=t.headers[kind])
            assert r.status_code == 200, (what, r.text)
            views[f"{what} {name}"] = r.json()
        for key in views[f"employer's keys {name}"]:
            key.pop("last_used_at")  # the key's use is recorded, at most once a minute
    ids = [t.ids[k] for t in (w.a, w.b) for k in ("referral", "opening", "service_request")]
    conn = await asyncpg.connect(api.net.network.database_url)
    try:
        views["ledger"] = [
            dict(r) for r in await conn.fetch(
                "SELECT referral_id, event_type, event_id FROM outcomes.ledger WHERE referral_id = ANY($1)"
                " ORDER BY referral_id, event_id", ids)
        ]
        for service in SERVICES:
            views[f"{service} outbox"] = await conn.fetchval(
                f"SELECT count(*) FROM {service}.outbox WHERE key = ANY($1)", ids
            )
    finally:
        await conn.close()
    return views


async def settled(api: Api, w: World) -> dict[str, Any]:
    """The snapshot once the module's own events have all been applied (the offers are in the
    timelines and nothing moves between two looks)."""
    last: list[dict[str, Any]] = []

    async def still() -> dict[str, Any] | None:
        now = await snapshot(api, w)
        offers = all("offer" in json.dumps(now[f"timeline {s}"]) for s in ("a", "b"))
        done = offers and last and last[-1] == now
        last.append(now)
        return now if done else None

    return await poll("the module's data settled", still, every=0.5)


def fill(path: str, service: str, choice: tuple[Tenant, ...]) -> str:
    for param, t in zip(PARAM.findall(path), choice, strict=True):
        value = t.ids[IDS[(service, param)]] if (service, param) in IDS else NOT_TENANT_IDS[(service, param)]
        path = path.replace(f"{{{param}}}", value)
    return path


def foreign(path: str, service: str, own: Tenant, other: Tenant) -> list[str]:
    """Every filling of the path's ids from the caller's own and the other tenant's that is
    not all its own (none when no parameter names a tenant's resource)."""
    params = PARAM.findall(path)
    if not any((service, p) in IDS for p in params):
        return []
    choices = itertools.product((own, other), repeat=len(params))
    return [fill(path, service, c) for c in choices if any(t is other for t in c)]


def side(w: World, t: Tenant) -> str:
    return "a" if t is w.a else "b"


async def test_no_tenant_reaches_another_tenants_data(
    running_network: RunningNetwork, http: httpx.AsyncClient, world: World
) -> None:
    api = Api(running_network, http)
    served_documents = {s: (await http.get(api.url(s, "/openapi.json"))).json() for s in ALL_SERVICES}
    missing = routes_with_ids(served_documents) - set(MATRIX)
    assert not missing, f"routes the running services serve that the matrix does not cover: {missing}"
    before = await settled(api, world)
    callers = documented()
    wrong: list[str] = []
    sent = 0
    for (service, method, path), body in sorted(MATRIX.items()):
        served = set(re.findall(r"[a-z]+", callers[(service, method, path)][0].split("(")[0]))
        for own, other in ((world.a, world.b), (world.b, world.a)):
            for kind in KINDS:
                if kind in served:
                    # Operators are not tenants (every timeline, any key): no foreign id for them.
                    paths, expected, slug = ([] if kind == "operator" else foreign(path, service, own, other)), 404, "not-found"
                else:
                    expected, slug = 403, "forbidden"  # the console's /api as every service's routes
                    paths = [fill(path, service, (other,) * len(PARAM.findall(path)))]
                for filled in paths:
                    sent += 1
                    r = await api.http.request(method, api.url(service, filled), json=body, headers=own.headers[kind])
                    problem = r.json() if r.headers.get("content-type", "").startswith("application/problem+json") else {}
                    if r.status_code != expected or not problem.get("type", "").endswith(f":{slug}"):
                        wrong.append(f"{kind} {side(world, own)}: {method} {service} {filled} -> {r.status_code}"
                                     f" {r.text[:300]} (expected {expected} {slug})")
    sent += await ids_in_bodies_and_queries(api, world, wrong)
    after = await snapshot(api, world)
    changed = {k: {"before": before[k], "after": after[k]} for k in before if before[k] != after[k]}
    assert sent > 200, sent
    assert not wrong and not changed, (
        f"{len(wrong)} of {sent} requests answered wrongly:\n" + "\n".join(wrong) + f"\nchanged: {changed}"
    )


async def ids_in_bodies_and_queries(api: Api, w: World, wrong: list[str]) -> int:
    """The ids a request names outside its path: an erasure's referral, the inbox's opening
    filter, whose keys to list."""
    sent = 0
    for own, other in ((w.a, w.b), (w.b, w.a)):
        checks = (
            ("POST", "intake", "/v1/erasures", {"referral_id": other.ids["referral"]}, "partner", 404),
            *(
                ("POST", "support", "/v1/service-requests", {"provider_id": own.partner, "service_type": "transportation",
                                                              "reason": "x", **ref}, "partner", 404)
                for ref in ({"enrollment_id": other.ids["enrollment"]}, {"referral_id": other.ids["referral"]})
            ),
            ("GET", "employer_gateway", f"/v1/referrals?opening_id={other.ids['opening']}", None, "employer", 200),
            ("GET", "intake", f"/v1/keys?kind=employer&id={other.employer}", None, "employer", 403),
            ("GET", "outcomes", f"/v1/keys?kind=partner&id={other.partner}", None, "partner", 403),
        )
        for method, service, path, body, kind, expected in checks:
            sent += 1
            r = await api.http.request(method, api.url(service, path), json=body, headers=own.headers[kind])
            if r.status_code != expected or (expected == 200 and r.json()["items"]):
                wrong.append(f"{kind} {side(w, own)}: {method} {service} {path} {body} -> {r.status_code}"
                             f" {r.text[:300]} (expected {expected}{', no items' if expected == 200 else ''})")
    return sent
