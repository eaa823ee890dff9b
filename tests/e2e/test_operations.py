"""The operator commands against the running network: tail, lag, dead letters, replay (issue #8)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaProducer

from contracts import topics
from plumbing.kafka import client_options
from plumbing.operations import OUTBOX_SERVICES
from talentloop import launcher, network, samples
from tests.e2e.helpers import Api, poll, referral_body, unique
from tests.e2e.ops_helpers import acli, ok_json

NORTHSIDE = "northside-tech-collective"
FORGE = "forge-coding-bootcamp"


async def published(database_url: str, key: str) -> None:
    """Every service's outbox rows of `key` on Kafka (parked or discarded ones would never be)."""
    conn = await asyncpg.connect(database_url)
    try:
        async def none_left() -> bool | None:
            left = [await conn.fetchval(f"SELECT count(*) FROM {s}.outbox WHERE key = $1 AND published_at IS NULL"
                                        " AND discarded_at IS NULL", key) for s in OUTBOX_SERVICES]
            return True if not any(left) else None

        await poll(f"the outbox rows of {key} published", none_left)
    finally:
        await conn.close()


async def test_tail_shows_a_new_referrals_events_filtered_by_referral_id(api: Api, network_config) -> None:  # type: ignore[no-untyped-def]
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    other = await api.refer(NORTHSIDE, referral_body([unique()]))
    body = referral_body([unique()])
    referral_id = await api.refer(NORTHSIDE, body)

    await api.wait_timeline(referral_id, lambda doc: "unmatched" in doc["stages"], "routing's decision recorded")
    await published(api.net.network.database_url, referral_id)
    # Events of several topics and partitions, in whatever order they come: all of them are on
    # Kafka now, so the tail reads until none has come for a while.
    r = await acli(network_config, "tail", "--referral", referral_id, "--from", since, "--idle", "2", "--for", "60",
                   "--json")
    assert r.returncode == 0, r.stderr
    views = [json.loads(line) for line in r.stdout.splitlines()]
    types = {v["type"] for v in views}
    assert {"referral.submitted.v2", "referral.unmatched.v1", "referral.status_changed.v1"} <= types, views
    assert all(referral_id in (v["subject"], v["data"].get("referral_id")) for v in views), views
    submitted = next(v for v in views if v["type"] == "referral.submitted.v2")
    assert submitted["partner_id"] == NORTHSIDE and submitted["data"]["referral_id"] == referral_id
    assert other not in r.stdout
    # The allow-list: ids and status only, never the person or their skills.
    for secret in (body["candidate"]["email"], body["candidate"]["family_name"], body["skills"][0]):
        assert secret not in r.stdout

    pretty = await acli(network_config, "tail", "--referral", referral_id, "--type", "referral.submitted",
                        "--from", since, "--count", "1", "--for", "60")
    assert pretty.returncode == 0, pretty.stderr
    assert "referral.submitted.v2" in pretty.stdout and f"referral={referral_id}" in pretty.stdout
    assert f"partner={NORTHSIDE}" in pretty.stdout


async def test_lag_lists_each_services_consumer_groups(api: Api, network_config) -> None:  # type: ignore[no-untyped-def]
    groups = await ok_json(network_config, "lag")
    by_service: dict[str, set[str]] = {}
    for g in groups:
        by_service.setdefault(g["service"], set()).add(g["topic"])
        # One group per service's consumer, for all its topics (intake's partner topics: intake.inbound).
        assert g["group"] == topics.consumer_group(g["service"], "inbound" if "inbound" in g["topic"] else "events")
        assert g["partitions"] and all(p["end"] >= 0 and p["lag"] >= 0 for p in g["partitions"])
        assert g["lag"] == sum(p["lag"] for p in g["partitions"])
    assert {"talentloop.referrals", "talentloop.openings"} <= by_service["routing"]
    assert {"talentloop.routing", "talentloop.referrals"} <= by_service["employer_gateway"]
    assert {"talentloop.referrals", "talentloop.employer-actions"} <= by_service["outcomes"]
    assert {"talentloop.referrals", "talentloop.training", "talentloop.candidates"} <= by_service["support"]
    assert topics.partner_inbound(FORGE) in by_service["intake"]

    pretty = await acli(network_config, "lag")
    assert pretty.returncode == 0 and "employer_gateway" in pretty.stdout and "Stable" in pretty.stdout


async def _publish(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(**client_options(bootstrap))
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def test_a_bad_record_shows_its_reason_and_replaying_it_twice_sends_it_once(api: Api, network_config) -> None:  # type: ignore[no-untyped-def]
    topic = topics.partner_inbound(FORGE)
    bad = samples.forge_payload(samples.person(1, f"dlq-{uuid.uuid4().hex[:6]}"), run="dlq")
    bad["data"]["graduate"]["contact"] = {}
    key = f"dlq-{uuid.uuid4().hex[:8]}"
    await _publish(api.net.bootstrap, topic, [(key.encode(), json.dumps(bad).encode())])

    async def listed() -> dict | None:
        letters = await ok_json(network_config, "dlq", "list", "--service", "intake", "--topic", topic)
        return next((d for d in letters if d["key"] == key and not d["replay_of"]), None)

    letter = await poll("the bad record in `dlq list`", listed, timeout=60.0)
    assert letter["reason"].startswith("invalid-record:") and "contact-required" in letter["reason"], letter
    assert letter["error_type"] == "InvalidRecord" and letter["original_topic"] == topic
    assert letter["attempts"] == 1 and letter["failed_at"] and letter["replayed_at"] is None
    assert letter["payload"]["data"]["graduate"]["uuid"] == bad["data"]["graduate"]["uuid"]

    pretty = await acli(network_config, "dlq", "list", "--service", "intake")
    assert letter["id"] in pretty.stdout and "contact-required" in pretty.stdout
    shown = await acli(network_config, "dlq", "show", letter["id"])
    assert shown.returncode == 0, shown.stderr
    assert "reason          invalid-record:" in shown.stdout and "contact-required" in shown.stdout
    assert f"original        {topic} partition" in shown.stdout and bad["data"]["graduate"]["uuid"] in shown.stdout

    first = await acli(network_config, "dlq", "replay", letter["id"])
    assert first.returncode == 0 and "1 replayed, 0 already replayed before." in first.stdout, first.stdout + first.stderr
    sent = re.search(rf"replayed to {re.escape(topic)} partition (\d+) offset (\d+)", first.stdout)
    assert sent, first.stdout
    second = await acli(network_config, "dlq", "replay", letter["id"])
    assert second.returncode == 0 and "already replayed at" in second.stdout, second.stdout + second.stderr
    assert "0 replayed, 1 already replayed before." in second.stdout

    # Sent once: intake read it again (still bad: dead-lettered anew, naming the replay) exactly once.
    async def replayed_once() -> list | None:
        letters = await ok_json(network_config, "dlq", "list", "--service", "intake", "--topic", topic)
        again = [d for d in letters if d["replay_of"] == letter["id"]]
        mine = next(d for d in letters if d["id"] == letter["id"])
        return again if again and mine["replayed_at"] else None

    again = await poll("the replayed record dead-lettered again", replayed_once, timeout=60.0)

    async def read_past_it() -> bool | None:  # committed: intake reads the replayed record no more
        groups = await ok_json(network_config, "lag", "--service", "intake")
        parts = next(g["partitions"] for g in groups if g["topic"] == topic)
        committed = next(p["committed"] for p in parts if p["partition"] == int(sent[1]))
        return True if committed is not None and committed > int(sent[2]) else None

    await poll("intake's offset committed past the replayed record", read_past_it, timeout=60.0)
    assert len(await replayed_once() or []) == len(again) == 1


async def test_replaying_a_services_group_needs_it_stopped_and_changes_nothing_applied(api: Api, network_config) -> None:  # type: ignore[no-untyped-def]
    refused = await acli(network_config, "replay", "outcomes", "--from", "10m", "--yes")
    assert refused.returncode == 1
    assert "outcomes is running" in refused.stderr and "stop outcomes first" in refused.stderr, refused.stderr
    before = await api.funnel()

    outcomes = next(s for s in network_config.services() if s.name == "outcomes")
    await asyncio.to_thread(launcher.stop, outcomes)
    try:
        async def empty() -> bool | None:
            groups = await ok_json(network_config, "lag", "--service", "outcomes")
            return True if groups and all(g["members"] == 0 for g in groups) else None

        await poll("outcomes' groups empty", empty, timeout=60.0)
        declined = await acli(network_config, "replay", "outcomes", "--from", "10m", stdin="n\n")
        assert declined.returncode == 1 and "Nothing changed." in declined.stdout, declined.stdout
        moved = await acli(network_config, "replay", "outcomes", "--from", "10m", "--yes")
        assert moved.returncode == 0, moved.stderr
        assert "outcomes.events" in moved.stdout and "talentloop.referrals" in moved.stdout and "Moved" in moved.stdout
        groups = await ok_json(network_config, "lag", "--service", "outcomes")
        assert sum(g["lag"] for g in groups) > 0  # it has something to read again
    finally:
        await asyncio.to_thread(network.up, network_config)

    async def caught_up() -> bool | None:
        groups = await ok_json(network_config, "lag", "--service", "outcomes")
        return True if all(g["lag"] == 0 and g["members"] == 1 for g in groups) else None

    await poll("outcomes caught up again", caught_up, timeout=90.0)
    assert (await api.funnel())["total"] == before["total"]  # re-read, de-duplicated by the inbox
