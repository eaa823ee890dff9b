"""A service provider hears of the requests addressed to it by signed webhook, on real PostgreSQL
and a real receiver on loopback: a request made, one its requester cancelled, one flagged stale;
queued in the transaction that recorded each (the delivery's id is the event's), to the
provider's endpoints only, ids and states only, signed as docs/webhooks.md says."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import timedelta

import pytest

from plumbing import webhooks
from services.support import stale
from tests.integration.test_support_requests import ASK, BOX, MON, RIDES, RULE, World, ok, world  # noqa: F401
from tests.integration.test_webhooks import POLICY, Receiver, receiver, until  # noqa: F401
from tests.support import training_events as t

pytestmark = pytest.mark.integration


def documented_verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The check docs/webhooks.md gives receivers (without its clock tolerance: the test's
    receiver checks right away)."""
    header = {k.lower(): v for k, v in headers.items()}.get("talentloop-signature", "")
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamp = next((v for k, v in parts if k == "t"), "")
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return stamp.isdigit() and any(k == "v1" and hmac.compare_digest(v, expected) for k, v in parts)


async def deliveries(w: World) -> list[dict]:
    rows = await w.pool.fetch(
        "SELECT owner, event_id, event_type, body FROM webhook_deliveries ORDER BY created_at"
    )
    return [{**dict(r), "body": json.loads(r["body"])} for r in rows]


async def test_the_provider_alone_is_told_of_requests_cancellations_and_stale_ones_signed(
    world: World,  # noqa: F811
    receiver: Receiver,  # noqa: F811
) -> None:
    await world.deliver(t.enrolled("enr_1", "cand_1", partner="trainer"))
    async with world.client("rides") as rides, world.client("trainer") as trainer, world.client("other") as other:
        await ok(await rides.post("/v1/service-provider", json=RIDES), 201)
        secrets = {}
        for name, client in (("rides", rides), ("trainer", trainer), ("other", other)):
            made = await ok(await client.post("/v1/webhooks/endpoints", json={"url": f"{receiver.base}/{name}"}), 201)
            secrets[name] = made["secret"]
        refused = await rides.post(
            "/v1/webhooks/endpoints", json={"url": f"{receiver.base}/x", "event_types": ["service.accepted"]}
        )
        assert refused.status_code == 422 and "service.requested" in refused.text  # names the types sent

        first = (await ok(await trainer.post("/v1/service-requests", json=ASK), 201))["request_id"]
        await ok(await rides.post(f"/v1/service-requests/{first}/accept"))  # its own answer: nothing to tell it
        await ok(await trainer.post(f"/v1/service-requests/{first}/cancel", json={"reason": "Her sister drives her"}))
        second = (await ok(await trainer.post("/v1/service-requests", json=ASK), 201))["request_id"]
        world.now = MON + timedelta(days=2)  # two business days unanswered
        assert await stale.sweep_once(world.pool, world.deps, RULE) == 1

    sent = {e.id: e for e in await world.emitted()}
    queued = await deliveries(world)
    assert {d["owner"] for d in queued} == {"partner:rides"}  # not the requester, not anyone else
    assert [(d["event_type"], d["body"]["subject"]) for d in queued] == [
        ("service.requested", first),
        ("service.cancelled", first),
        ("service.requested", second),
        ("service.stale", second),
    ]
    # From the transaction that recorded each: the notification's id is the event's own.
    assert [sent[d["event_id"]].type for d in queued] == [
        "service.requested.v1",
        "service.cancelled.v1",
        "service.requested.v1",
        "service.stale.v1",
    ]
    assert queued[0]["body"]["data"] == {
        "request_id": first,
        "requester_id": "trainer",
        "service_type": "transportation",
        "state": "requested",
    }
    assert queued[3]["body"]["data"] == {
        "request_id": second,
        "requester_id": "trainer",
        "state": "requested",
        "waiting_since": MON.isoformat(),
        "business_days": 2,
    }
    text = json.dumps([d["body"] for d in queued])
    for private in ("Bus pass", "Her sister", "cand_1", "enr_1", "40.00"):
        assert private not in text  # ids and states: the words, the person and the amount are behind the API

    dispatching = asyncio.create_task(webhooks.Dispatcher(world.pool, BOX, POLICY).run())
    try:
        await until("the four deliveries answered", lambda: _all_delivered(world))
    finally:
        dispatching.cancel()
    got = receiver.got("/rides")
    assert len(got) == 4 and not receiver.got("/trainer") and not receiver.got("/other")
    for _, headers, body in got:
        assert documented_verify(secrets["rides"], headers, body)
        assert not documented_verify(secrets["other"], headers, body)
        webhooks.verify(secrets["rides"], headers, body)
    assert sorted(json.loads(body)["type"] for _, _, body in got) == sorted(d["event_type"] for d in queued)


async def _all_delivered(w: World) -> bool | None:
    left = await w.pool.fetchval("SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'")
    return True if left == 0 else None
