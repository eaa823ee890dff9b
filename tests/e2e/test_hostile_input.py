"""Hostile input, each kind followed by good traffic: the bad input is refused (HTTP) or
dead-lettered with its reason (Kafka), and the good traffic behind it reaches every service.

The network is the running one (services as processes, real Kafka and PostgreSQL)."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from contracts import topics
from contracts.topics import MAX_MESSAGE_BYTES
from plumbing.kafka import client_options
from talentloop import samples
from tests.e2e.helpers import Api, assert_problem, opening_body, poll, referral_body, unique
from tests.e2e.test_intake_paths import FORGE, RIVERBEND, fresh, upload, webhook
from tests.kafka_helpers import read_topic

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EMPLOYER = "civic-data-labs"
MB = 1_100_000  # a field of 1.1 MB: once, the relay choked on it forever


async def good_referral_flows(api: Api, opening_id: str, skill: str) -> None:
    """A good referral submitted now is routed to the opening and projected in outcomes."""
    referral_id = await api.refer(FORGE, referral_body([skill, "python"]))
    await api.wait_in_inbox(EMPLOYER, referral_id, opening_id)
    await api.wait_timeline(referral_id, lambda t: t["status"] == "in_review", "routed, in outcomes")


@pytest.fixture
async def opening(api: Api) -> tuple[str, str]:
    skill = unique("hostile")
    opening_id = await api.open_opening(EMPLOYER, opening_body([skill], capacity=50))
    return opening_id, skill


async def test_oversized_fields_over_http_are_refused_and_the_flow_goes_on(api: Api, opening) -> None:
    opening_id, skill = opening
    # Through the API: past the JSON body limit, 413; within it but past a field's bound, 422
    # naming the field.
    body = referral_body([skill])
    body["training"]["provider"] = "x" * MB
    assert_problem(await api.submit(FORGE, body), 413)
    body["training"]["provider"] = "x" * 5_000
    doc = assert_problem(await api.submit(FORGE, body), 422)
    assert "provider" in str(doc)

    # Through the partner's webhook, a credential issuer far beyond its bound.
    record = samples.forge_payload(fresh(), run=uuid.uuid4().hex[:6])
    record["data"]["graduate"]["certifications"] = [{"title": "Cert", "issuer": "y" * 5_000, "state": "passed"}]
    r = await webhook(api, FORGE, record)
    assert r.status_code == 422, r.text
    assert "issuer" in r.text

    # An employer's required skill text of 1.1 MB, and one just past the field's bound.
    big = opening_body(["z" * MB])
    r = await api.http.post(api.url("employer_gateway", "/v1/openings"), json=big, headers=api.net.auth(f"employer:{EMPLOYER}"))
    assert_problem(r, 413)
    big = opening_body(["z" * 1_000])
    r = await api.http.post(api.url("employer_gateway", "/v1/openings"), json=big, headers=api.net.auth(f"employer:{EMPLOYER}"))
    assert_problem(r, 422)

    await good_referral_flows(api, opening_id, skill)


async def test_a_csv_row_beyond_its_bounds_costs_only_itself(api: Api, opening) -> None:
    opening_id, skill = opening
    people = [fresh() for _ in range(3)]
    rows = [samples.riverbend_row(p) for p in people]
    columns = list(rows[0])
    rows[1] = {**rows[1], "COMPETENCIES": "s" * 300}  # one skill of 300 characters
    r = await upload(api, RIVERBEND, samples.csv_text(columns, rows))
    assert r.status_code in (200, 201), r.text
    report = r.json()
    assert report["accepted"] == 2 and report["rejected"] == 1, report
    await good_referral_flows(api, opening_id, skill)


def forge_record(**changes: Any) -> dict[str, Any]:
    record = samples.forge_payload(fresh(), run=uuid.uuid4().hex[:6])
    record = copy.deepcopy(record)
    record["data"].update(changes)
    return record


async def test_hostile_records_on_a_partners_topic_are_dead_lettered_and_the_feed_flows(api: Api, opening) -> None:
    opening_id, skill = opening
    inbound = topics.partner_inbound(FORGE)
    impossible = forge_record(cohort={"track": "Data", "graduated_on": "2026-02-30"})
    good = forge_record()
    good["data"]["graduate"]["skills"] = [{"label": skill}, {"label": "Python"}]
    good["data"]["goal"] = {"soc": "15-1252.00"}  # the opening's occupation
    too_big = b'{"event": "graduate.referred", "pad": "' + b"p" * (MAX_MESSAGE_BYTES - 8_000) + b'"}'
    hostile = [
        json.dumps(impossible).encode(),
        b"[" * 5000,
        b'{"data": ' + b"9" * 5000 + b"}",
        too_big,
    ]
    raw = AIOKafkaProducer(**client_options(api.net.bootstrap), max_request_size=MAX_MESSAGE_BYTES + 100_000)
    await raw.start()
    try:
        for value in hostile:
            await raw.send_and_wait(inbound, value, key=b"same-key")
        await raw.send_and_wait(inbound, json.dumps(good).encode(), key=b"same-key")
    finally:
        await raw.stop()

    external_id = good["data"]["graduate"]["uuid"]

    async def letters() -> list[Any] | None:
        found = await read_topic(api.net.bootstrap, topics.dead_letter_topic("intake"), timeout=3.0)
        mine = [r for r in found if dict(r.headers).get("dlq.original_topic") == inbound.encode()
                and (r.value in hostile or r.value and too_big.startswith(r.value))]
        return mine if len(mine) >= len(hostile) else None

    mine = await poll("four dead letters of the hostile records", letters, timeout=60)
    reasons = [dict(r.headers)["dlq.reason"].decode() for r in mine]
    assert any("graduated_on" in r or "completed_on" in r for r in reasons), reasons
    # The record as large as the topic takes no longer fits with the dead-letter headers: cut, with its digest.
    (cut,) = [r for r in mine if dict(r.headers).get("dlq.truncated") == b"true"]
    assert int(dict(cut.headers)["dlq.original_bytes"]) == len(too_big) and too_big.startswith(cut.value)

    # The good record behind them (same key, same partition) became a referral and flowed on.
    conn = await asyncpg.connect(api.net.network.database_url)
    try:
        async def accepted() -> str | None:
            return await conn.fetchval("SELECT referral_id FROM intake.referrals WHERE external_id = $1", external_id)

        referral_id = await poll("the good record accepted", accepted, timeout=60)
    finally:
        await conn.close()
    await api.wait_in_inbox(EMPLOYER, referral_id, opening_id)
    await api.wait_timeline(referral_id, lambda t: t["status"] == "in_review", "routed, in outcomes")
    await good_referral_flows(api, opening_id, skill)
