"""Supportive services across the running network: a training provider enrolls a participant at
intake, the support service learns the enrollment from talentloop.training (real Kafka), the
provider asks a transportation provider for a ride, the provider accepts and delivers it with
a value, and every step reaches talentloop.services; the provider's webhook endpoint is queued
the request, nothing more. Another partner can neither see nor act on it. A request nobody
answers is flagged stale by the sweeper (its clock injected).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from contracts import Envelope, topics
from plumbing import webhooks
from plumbing.context import Deps
from plumbing.settings import Settings
from plumbing.vault import parse_master_key
from services.support import stale
from services.support.domain import StaleRule, State
from talentloop import launcher
from tests.e2e.helpers import OPERATOR, Api, assert_problem, business_today, poll
from tests.kafka_helpers import read_topic

TRAINER = "partner:riverbend-community-college"
OTHER = "partner:northside-tech-collective"


async def enroll(api: Api, run: str) -> str:
    headers = api.net.auth(TRAINER)
    program_id = f"e2e-support-{run}"
    r = await api.http.post(
        api.url("intake", "/v1/programs"),
        headers=headers,
        json={
            "program_id": program_id,
            "name": "IT Support",
            "modality": "online",
            "length_weeks": 12,
            "cost_to_participant": {"amount": "0"},
        },
    )
    assert r.status_code == 201, r.text
    r = await api.http.post(
        api.url("intake", "/v1/enrollments"),
        headers=headers,
        json={
            "external_id": f"e2e-support-{run}",
            "program_id": program_id,
            "enrolled_on": date.today().isoformat(),
            "candidate": {"given_name": "Ana", "family_name": "Diaz", "email": f"support-{run}@example.org"},
            "consent": {"aggregate_reports": True, "given_at": datetime.now(UTC).isoformat()},
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["enrollment_id"]


async def provider_key(api: Api, provider: str) -> dict[str, str]:
    r = await api.http.post(
        api.url("intake", "/v1/keys"),
        headers=api.net.auth(OPERATOR),
        json={"principal": {"kind": "partner", "id": provider}, "scopes": ["read", "write"], "label": "e2e provider"},
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['key']}"}


async def ask(api: Api, body: dict[str, Any]) -> str:
    """POST the request once the support service has consumed the enrollment (404 until then)."""
    url, headers = (
        api.url("support", "/v1/service-requests"),
        {**api.net.auth(TRAINER), "Idempotency-Key": uuid.uuid4().hex},
    )

    async def accepted() -> str | None:
        r = await api.http.post(url, json=body, headers=headers)
        if r.status_code == 404:
            return None
        assert r.status_code == 201, r.text
        return r.json()["request_id"]

    return await poll("support to know the enrollment", accepted)


async def on_topic(api: Api, request_id: str, count: int) -> list[Envelope]:
    async def arrived() -> list[Envelope] | None:
        records = await read_topic(api.net.bootstrap, topics.SERVICES.name, timeout=3.0)
        found = [Envelope.from_bytes(r.value) for r in records if r.key == request_id.encode()]
        return found if len(found) >= count else None

    return await poll(f"{count} events of {request_id} on {topics.SERVICES.name}", arrived)


async def support_db(api: Api) -> asyncpg.Connection:
    return await asyncpg.connect(api.net.network.database_url, server_settings={"search_path": "support"})


async def test_a_ride_for_a_participant_requested_accepted_delivered_and_private(api: Api, network_config) -> None:  # type: ignore[no-untyped-def]
    run = uuid.uuid4().hex[:8]
    enrollment_id = await enroll(api, run)
    provider = f"e2e-rides-{run}"
    rides = await provider_key(api, provider)
    support = lambda path: api.url("support", path)  # noqa: E731
    r = await api.http.post(
        support("/v1/service-provider"),
        headers=rides,
        json={"name": "Eastside Rides", "service_types": ["transportation"]},
    )
    assert r.status_code == 201, r.text
    # The provider's webhook endpoint, sealed with the network's master key as the API would seal
    # it; straight into the database, since the API takes only public https URLs (their names
    # resolved), which this machine cannot offer. Deliveries to it fail and are retried, harmlessly.
    box = webhooks.SecretBox(parse_master_key(launcher.master_key(network_config.home)))
    conn = await support_db(api)
    try:
        endpoint, _ = await webhooks.create_endpoint(
            conn, box, f"partner:{provider}", "https://hooks.example.com/x", []
        )
    finally:
        await conn.close()
    body = {
        "provider_id": provider,
        "service_type": "transportation",
        "enrollment_id": enrollment_id,
        "reason": "Bus pass for evening classes",
        "amount_requested": {"amount": "40.00"},
    }
    request_id = await ask(api, body)

    other = api.net.auth(OTHER)
    assert_problem(await api.http.post(support("/v1/service-requests"), headers=other, json=body), 404, "not-found")
    assert_problem(await api.http.get(support(f"/v1/service-requests/{request_id}"), headers=other), 404, "not-found")
    assert_problem(
        await api.http.post(support(f"/v1/service-requests/{request_id}/accept"), headers=other), 404, "not-found"
    )
    theirs = (await api.http.get(support("/v1/service-requests"), headers=other)).json()["items"]
    assert request_id not in {i["request_id"] for i in theirs}

    r = await api.http.post(support(f"/v1/service-requests/{request_id}/accept"), headers=rides)
    assert r.status_code == 200 and r.json()["state"] == "accepted", r.text
    r = await api.http.post(
        support(f"/v1/service-requests/{request_id}/deliver"),
        headers=rides,
        json={"delivered_on": business_today().isoformat(), "value": {"amount": "40.00"}},
    )
    assert r.status_code == 200 and r.json()["state"] == "delivered", r.text
    mine = (await api.http.get(support(f"/v1/service-requests/{request_id}"), headers=api.net.auth(TRAINER))).json()
    assert (mine["state"], mine["enrollment_id"], mine["value_delivered"]["amount"]) == (
        "delivered",
        enrollment_id,
        "40.00",
    )

    sent = await on_topic(api, request_id, 3)
    assert [e.type for e in sent] == ["service.requested.v1", "service.accepted.v1", "service.delivered.v1"]
    assert {e.partnerid for e in sent} == {TRAINER.split(":")[1]}
    assert sent[0].data["enrollment_id"] == enrollment_id and sent[0].data["candidate_id"].startswith("cand_")

    # The running service queued the request's webhook to the provider, and only that: its own
    # answers are not told back, nobody else is told.
    conn = await support_db(api)
    try:
        queued = await conn.fetch(
            "SELECT owner, event_id, event_type, body FROM webhook_deliveries WHERE body->>'subject' = $1", request_id
        )
        await conn.execute("DELETE FROM webhook_endpoints WHERE endpoint_id = $1", endpoint["endpoint_id"])
    finally:
        await conn.close()
    assert [(d["owner"], d["event_type"], d["event_id"]) for d in queued] == [
        (f"partner:{provider}", "service.requested", sent[0].id)
    ]
    assert "Bus pass" not in queued[0]["body"] and enrollment_id not in queued[0]["body"]


async def test_a_request_nobody_answers_is_flagged_stale(api: Api) -> None:
    run = uuid.uuid4().hex[:8]
    enrollment_id = await enroll(api, run)
    provider = f"e2e-silent-{run}"
    r = await api.http.post(
        api.url("support", "/v1/service-provider"),
        headers=await provider_key(api, provider),
        json={"name": "Silent Childcare", "service_types": ["childcare"]},
    )
    assert r.status_code == 201, r.text
    request_id = await ask(
        api,
        {
            "provider_id": provider,
            "service_type": "childcare",
            "enrollment_id": enrollment_id,
            "reason": "Childcare during class hours",
        },
    )
    # The sweeper of the running service sweeps on the system clock; this one at the moment the
    # request is due by the services' own rule (limit, time zone and holidays from the settings they
    # inherit): a fixed 5 days on fell short of the limit with holidays or a longer limit configured.
    rule = StaleRule.from_settings(Settings())
    later = rule.due_at(State.requested, datetime.now(UTC))  # the request's own due time is no later
    pool = await asyncpg.create_pool(
        api.net.network.database_url, min_size=1, max_size=1, server_settings={"search_path": "support"}
    )
    try:
        assert await stale.sweep_once(pool, Deps("/talentloop/support", clock=lambda: later), rule) >= 1
    finally:
        await pool.close()
    seen = (
        await api.http.get(api.url("support", f"/v1/service-requests/{request_id}"), headers=api.net.auth(TRAINER))
    ).json()
    assert seen["state"] == "requested" and seen["flagged_stale_at"] == later.isoformat()
    (_, flag) = await on_topic(api, request_id, 2)  # the running service's relay published it
    assert flag.type == "service.stale.v1" and flag.data["waiting_in"] == "requested"
