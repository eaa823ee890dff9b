"""Issue #8's story: a partner's Kafka feed changes shape, and an operator puts it right with
the documented commands only (docs/operators.md, "A partner's feed breaks")."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer

from contracts import topics
from plumbing.kafka import client_options
from talentloop import samples
from tests.e2e.helpers import Api, poll
from tests.e2e.ops_helpers import acli, cli, ok_json

FORGE = "forge-coding-bootcamp"
OLD_RULE = 'skills: {from: "data.graduate.skills[].label"}'
NEW_RULE = 'skills: {from: ["data.graduate.skills[].name", "data.graduate.skills[].label"]}'


async def test_story_a_renamed_field_dead_letters_a_feed_until_the_operator_fixes_the_mapping_and_replays(
    api: Api, network_config, adapters_dir: Path  # type: ignore[no-untyped-def]
) -> None:
    topic = topics.partner_inbound(FORGE)
    adapter = adapters_dir / f"{FORGE}.json.yaml"
    original = adapter.read_text()
    assert OLD_RULE in original
    run = f"story-{uuid.uuid4().hex[:6]}"
    records = [samples.forge_payload(samples.person(n, run), run=run) for n in range(1, 4)]
    for record in records:  # the bootcamp's CRM upgrade renamed skills[].label to skills[].name
        for skill in record["data"]["graduate"]["skills"]:
            skill["name"] = skill.pop("label")
    uuids = {r["data"]["graduate"]["uuid"] for r in records}
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    producer = AIOKafkaProducer(**client_options(api.net.bootstrap))
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(topic, json.dumps(record).encode(), key=record["data"]["graduate"]["uuid"].encode())
    finally:
        await producer.stop()

    try:
        # 1. Nothing arrives; the operator looks at the dead letters and sees why.
        async def dead_lettered() -> list | None:
            letters = await ok_json(network_config, "dlq", "list", "--service", "intake", "--topic", topic, "--since", since)
            ours = [d for d in letters if d["payload"]["data"]["graduate"]["uuid"] in uuids]
            return ours if len(ours) == len(records) else None

        letters = await poll("every record of the new shape dead-lettered", dead_lettered, timeout=60.0)
        assert {d["reason"] for d in letters} == {"invalid-record: data.graduate.skills[].label: missing-value"}
        listing = await acli(network_config, "dlq", "list", "--service", "intake", "--since", since)
        assert listing.stdout.count("data.graduate.skills[].label: missing-value") >= len(records)
        shown = await acli(network_config, "dlq", "show", letters[0]["id"])
        assert '"name":' in shown.stdout and '"label":' not in shown.stdout  # the payload shows the new field name

        # 2. The fix: map the new name (and still the old one), then reload intake's adapters.
        adapter.write_text(original.replace(OLD_RULE, NEW_RULE))
        reloaded = await acli(network_config, "adapters", "reload")
        assert reloaded.returncode == 0 and "Reloaded" in reloaded.stdout, reloaded.stderr

        # 3. Replay the dead letters; 4. watch the referrals flow.
        fixed_at = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        replay = await acli(network_config, "dlq", "replay", "--all", "--service", "intake", "--topic", topic,
                            "--since", since)
        assert replay.returncode == 0 and f"{len(records)} replayed, 0 already" in replay.stdout, replay.stdout
        tail = await acli(network_config, "tail", "--partner", FORGE, "--type", "referral.submitted", "--from", fixed_at,
                          "--count", str(len(records)), "--for", "60", "--json")
        assert tail.returncode == 0, tail.stderr
        referral_ids = {json.loads(line)["data"]["referral_id"] for line in tail.stdout.splitlines()}
        assert len(referral_ids) == len(records)
        for referral_id in referral_ids:
            await api.wait_timeline(referral_id, lambda doc: bool(doc), "in the outcomes ledger")

        # Replaying again changes nothing: each dead letter is sent once.
        again = await acli(network_config, "dlq", "replay", "--all", "--service", "intake", "--topic", topic,
                           "--since", since)
        assert again.returncode == 0 and "0 replayed, 0 already replayed before." in again.stdout, again.stdout
        one = await acli(network_config, "dlq", "replay", letters[0]["id"])
        assert "already replayed at" in one.stdout, one.stdout
        conn = await asyncpg.connect(api.net.network.database_url)
        try:
            async def stored() -> int | None:
                n = await conn.fetchval("SELECT count(*) FROM intake.referrals WHERE external_id = ANY($1)", list(uuids))
                return n or None

            assert await poll("the referrals in intake", stored) == len(records)
        finally:
            await conn.close()
        after = await ok_json(network_config, "dlq", "list", "--service", "intake", "--topic", topic, "--since", since)
        assert not [d for d in after if d["replay_of"] in {x["id"] for x in letters}]  # none failed again
    finally:
        adapter.write_text(original)
        cli(network_config, "adapters", "reload")
