"""Old and new event versions side by side, and redelivered events, on the running services."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from contracts import Envelope, build, events, topics
from plumbing.kafka import CONTENT_TYPE_HEADER, new_producer
from tests.e2e.helpers import Api, opening_body, poll, referral_body, unique
from tests.kafka_helpers import read_topic

pytestmark = pytest.mark.e2e
PARTNER, EMPLOYER = "riverbend-community-college", "bluewave-fintech"


async def publish_raw(bootstrap: str, items: list[tuple[str, bytes, bytes]]) -> None:
    producer = new_producer(bootstrap, "e2e-test")
    await producer.start()
    try:
        for topic, key, value in items:
            await producer.send_and_wait(topic, value, key=key, headers=[CONTENT_TYPE_HEADER])
    finally:
        await producer.stop()


def v1_referral(referral_id: str, skills: list[str]) -> Envelope:
    """What a v1 producer (an older intake, or a partner writing to Kafka) still sends."""
    payload = events.ReferralSubmittedV1(
        referral_id=referral_id, partner_id=PARTNER, candidate_id=f"cand_{uuid.uuid4().hex}", skills=skills,
        consent={"share_with_employers": True, "given_at": datetime.now(UTC)},
    )
    return build(payload, source="/partner/riverbend/legacy-producer", correlation_id=str(uuid.uuid4()))


async def consumer_counts(http: httpx.AsyncClient, api: Api) -> dict[str, dict[str, int]]:
    out = {}
    for name in ("routing", "employer_gateway", "outcomes"):
        r = await http.get(api.url(name, "/health"))
        out[name] = r.json()["consumer"]
    return out


async def test_v1_and_v2_referrals_flow_through_every_service(api: Api) -> None:
    required = [unique("req"), unique("req")]
    opening_id = await api.open_opening(EMPLOYER, opening_body(required, capacity=5))

    v2_id = await api.refer(PARTNER, referral_body(required))  # intake writes v2
    v1 = v1_referral(f"ref_{uuid.uuid4().hex}", required)
    await publish_raw(api.net.bootstrap, [(topics.REFERRALS.name, v1.subject.encode(), v1.to_bytes())])

    for referral_id in (v2_id, v1.subject):
        item = await api.wait_in_inbox(EMPLOYER, referral_id, opening_id)  # routing and the gateway handled it
        assert sorted(item["matched_skills"]) == sorted(required)
        r = await api.act(EMPLOYER, referral_id, "acknowledge")
        assert r.status_code == 200, r.text

    for referral_id, submitted_type in ((v2_id, "referral.submitted.v2"), (v1.subject, "referral.submitted.v1")):
        doc = await api.wait_timeline(referral_id, lambda d: len(d["events"]) == 3, "submitted, routed, acknowledged")
        # The ledger keeps each fact as it was sent; both count the same in the funnel.
        assert [e["type"] for e in doc["events"]] == [submitted_type, "referral.routed.v1", "referral.acknowledged.v1"]
        assert doc["stages"] == ["referred", "routed", "acknowledged"] and doc["status"] == "in_review"


async def test_redelivered_events_change_nothing(api: Api, http: httpx.AsyncClient) -> None:
    required = [unique("req")]
    opening_id = await api.open_opening(EMPLOYER, opening_body(required, capacity=5))
    referral_id = await api.refer(PARTNER, referral_body(required))
    await api.wait_in_inbox(EMPLOYER, referral_id, opening_id)
    assert (await api.act(EMPLOYER, referral_id, "acknowledge")).status_code == 200
    before = await api.wait_timeline(referral_id, lambda d: len(d["events"]) == 3, "three events")
    funnel_before = (await api.funnel())["total"]
    catalogue_before = await api.wait_in_catalogue(opening_id)
    counts_before = await consumer_counts(http, api)

    # Every event of this referral, byte for byte, onto its topic again (same event ids).
    again = []
    for topic in (topics.REFERRALS, topics.ROUTING, topics.EMPLOYER_ACTIONS):
        for record in await read_topic(api.net.bootstrap, topic.name):
            if record.key == referral_id.encode():
                again.append((topic.name, record.key, record.value))
    assert len(again) == 3
    await publish_raw(api.net.bootstrap, again)

    # Each consumer sees its share again and reports it as a duplicate...
    # (routing: the submission, the acknowledgement has no handler there; the gateway: the
    # submission, for the contact consent, and the decision; outcomes: all three.)
    want = {"routing": 1, "employer_gateway": 2, "outcomes": 3}

    async def all_seen() -> dict | None:
        now = await consumer_counts(http, api)
        seen = {n: now[n].get("duplicate", 0) - counts_before[n].get("duplicate", 0) for n in want}
        return now if seen == want else None

    counts_after = await poll("every consumer to see the redelivered events", all_seen)
    assert {n: counts_after[n].get("applied") for n in want} == {n: counts_before[n].get("applied") for n in want}
    # ...and nothing changed: the ledger, the funnel, routing's capacity, the employer's inbox.
    after = (await api.timeline(referral_id)).json()
    assert after == before
    assert (await api.funnel())["total"] == funnel_before
    assert (await api.wait_in_catalogue(opening_id))["routed_count"] == catalogue_before["routed_count"] == 1
    item = await api.wait_in_inbox(EMPLOYER, referral_id, opening_id)
    assert item["state"] == "acknowledged"
