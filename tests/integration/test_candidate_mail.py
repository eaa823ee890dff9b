"""Intake's e-mails to candidates about their own referral, on the real service app (its
lifespan, PostgreSQL, Kafka) with an SMTP capture server (aiosmtpd) on 127.0.0.1.

- A candidate who agreed gets three e-mails, referred, interview, offer, in Spanish when
  their preferred language is Spanish (the interview and the offer are the gateway's events,
  published on talentloop.employer-actions as the gateway writes them).
- One who did not agree gets none; nor does one erased before the interview (and what was
  queued for them is emptied).
- A restart, and the same events delivered again after it, send nothing twice; a notice
  left `sending` by a process that died is marked failed, not sent again.
- A server that refuses for good: the notice is failed, with the server's answer, at once.
"""

from __future__ import annotations

import base64
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from fastapi import Request

from contracts import events, topics
from contracts.registry import build
from plumbing.auth import Principal, principal
from plumbing.kafka import client_options
from plumbing.service import create_app
from plumbing.settings import Settings
from services.intake.app import DEFINITION as INTAKE
from talentloop.waiting import until
from tests.support.smtp import Capture, smtp_capture

pytestmark = pytest.mark.integration
ADAPTERS = Path(__file__).parents[2] / "deploy" / "adapters"
PARTNER = "riverbend-community-college"
REFUSED = "refused@example.org"


@pytest.fixture(scope="module")
def smtp() -> Iterator[Capture]:
    with smtp_capture() as capture:
        capture.refused.add(REFUSED)
        yield capture


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("adapters")
    shutil.copy(ADAPTERS / f"{PARTNER}.csv.yaml", folder)
    return folder


async def start_at_the_end(bootstrap: str, group: str) -> None:
    """The group starts at the topics' end: the test reads its own events, not the session's."""
    consumer = AIOKafkaConsumer(**client_options(bootstrap), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [
            TopicPartition(t.name, p)
            for t in (topics.REFERRALS, topics.EMPLOYER_ACTIONS, topics.CANDIDATES)
            for p in (await consumer._client.fetch_all_metadata()).partitions_for_topic(t.name) or ()
        ]
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        await consumer.commit(dict(ends))
    finally:
        await consumer.stop()


@asynccontextmanager
async def intake(stack: Any, name: str, keys: dict[str, str], smtp_port: int) -> AsyncIterator[httpx.AsyncClient]:
    """Intake as a service with mail configured, on schema `name` (kept between restarts)."""
    definition = INTAKE.__class__(**{**INTAKE.__dict__, "name": name})
    app = create_app(
        definition,
        Settings(
            DATABASE_URL=stack.database_url,
            KAFKA_BOOTSTRAP_SERVERS=stack.bootstrap,
            TALENTLOOP_HTTP_PORT=1,
            TALENTLOOP_OUTBOX_POLL_S=0.1,
            TALENTLOOP_ADAPTERS=str(keys["adapters"]),
            TALENTLOOP_PSEUDONYM_KEY=keys["pseudonym"],
            TALENTLOOP_MASTER_KEY=keys["master"],
            TALENTLOOP_SMTP_HOST="127.0.0.1",
            TALENTLOOP_SMTP_PORT=smtp_port,
            TALENTLOOP_SMTP_SECURITY="none",
            TALENTLOOP_MAIL_FROM="TalentLoop <no-reply@talentloop.example.org>",
            TALENTLOOP_MAIL_BACKOFF_S=2.0,  # a refused try waits long enough for the test to act
            TALENTLOOP_BUSINESS_TIMEZONE="America/Chicago",
        ),
    )

    def caller(request: Request) -> Principal:
        return Principal(request.headers.get("X-Kind", "partner"), request.headers.get("X-Partner", PARTNER))

    app.dependency_overrides[principal] = caller
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


@pytest.fixture
async def world(stack, smtp, adapters) -> AsyncIterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    name = f"t_mail_{uuid.uuid4().hex[:8]}"
    await start_at_the_end(stack.bootstrap, f"{name}.events")
    keys = {
        "adapters": str(adapters),
        "pseudonym": uuid.uuid4().hex,
        "master": base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="),
    }
    producer = AIOKafkaProducer(**client_options(stack.bootstrap))
    await producer.start()
    yield {"name": name, "keys": keys, "port": smtp.port, "capture": smtp, "producer": producer}
    await producer.stop()
    conn = await asyncpg.connect(stack.database_url)
    await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    await conn.close()


def referral(address: str, **over: Any) -> dict[str, Any]:
    consent = {"share_with_employers": True, "given_at": "2026-11-02T10:00:00Z", **over.pop("consent", {})}
    return {
        "candidate": {"given_name": "Lucía", "family_name": "Ramos", "email": address},
        "skills": ["Python", "SQL"],
        "consent": consent,
        **over,
    }


async def refer(client: httpx.AsyncClient, doc: dict[str, Any]) -> str:
    r = await client.post("/v1/referrals", json=doc)
    assert r.status_code == 201, r.text
    return r.json()["referral_id"]


def interview(referral_id: str) -> events.InterviewScheduledV1:
    return events.InterviewScheduledV1(
        referral_id=referral_id,
        employer_id="civic-data-labs",
        opening_id="op_1",
        interview_id=f"int_{uuid.uuid4().hex[:8]}",
        scheduled_for=datetime(2026, 12, 3, 20, 30, tzinfo=UTC),
        mode=events.InterviewMode.video,
    )


def offer(referral_id: str) -> events.OfferExtendedV2:
    return events.OfferExtendedV2.model_validate(
        {
            "referral_id": referral_id,
            "employer_id": "civic-data-labs",
            "opening_id": "op_1",
            "offer_id": f"off_{uuid.uuid4().hex[:8]}",
            "job_title": "Analista de datos",
            "onet_soc_code": "15-2051.00",
            "employment_type": "full_time",
            "pay_basis": "hourly",
            "wage": {"amount": "31.00", "currency": "USD", "unit": "hour"},
            "hours_per_week": 40,
            "schedule": {"predictable": True},
            "benefits": {"health": True},
            "start_date": (date.today() + timedelta(days=30)).isoformat(),
        }
    )


async def publish(producer: AIOKafkaProducer, payload: events.Payload, event_id: uuid.UUID | None = None) -> uuid.UUID:
    """As the gateway writes it (its source, now), on its topic, keyed by the referral."""
    envelope = build(
        payload,
        source="/talentloop/employer-gateway",
        correlation_id="t",
        employer_id="civic-data-labs",
        event_id=event_id,
    )
    await producer.send_and_wait(payload.topic.name, envelope.to_bytes(), key=payload.subject().encode())
    return envelope.id


async def mails_to(capture: Capture, address: str, n: int) -> list[EmailMessage]:
    async def enough() -> list[EmailMessage] | None:
        got = capture.to(address)
        return got if len(got) >= n else None

    return await until(f"{n} e-mails to {address}", enough, timeout=60.0)


async def notices(stack: Any, schema: str, referral_id: str) -> list[asyncpg.Record]:
    return await execute(
        stack, f"SELECT * FROM {schema}.candidate_notices WHERE referral_id = $1 ORDER BY created_at", referral_id
    )


async def test_a_consenting_candidate_hears_of_referral_interview_and_offer_in_spanish_once(stack, world):
    capture, tag = world["capture"], uuid.uuid4().hex[:8]
    yes, no = f"lucia-{tag}@example.org", f"quiet-{tag}@example.org"
    async with intake(stack, world["name"], world["keys"], world["port"]) as client:
        consented = await refer(client, referral(yes, preferred_language="es-MX", consent={"notify_candidate": True}))
        silent = await refer(client, referral(no, preferred_language="es"))
        await mails_to(capture, yes, 1)  # referred; the employer's steps come after
        for rid in (consented, silent):
            await publish(world["producer"], interview(rid))
        offer_id = await publish(world["producer"], offer(consented))
        await publish(world["producer"], offer(silent))
        got = await mails_to(capture, yes, 3)
        sent = await until("three notices sent", lambda: _all_sent(stack, world["name"], consented, 3))
    subjects = [m["Subject"] for m in got]
    assert subjects == [
        "Le han recomendado a empleadores",
        "Se ha programado una entrevista",
        "Tiene una oferta de trabajo",
    ]
    assert [(m["Content-Language"], m["From"]) for m in got] == [
        ("es", "TalentLoop <no-reply@talentloop.example.org>")
    ] * 3
    bodies = [m.get_content() for m in got]
    assert bodies[0].startswith("Hola, Lucía:") and PARTNER in bodies[0]
    assert "03/12/2026 a las 14:30 (America/Chicago)" in bodies[1] and "por video" in bodies[1]
    assert "Analista de datos" in bodies[2]
    # Nothing else about them: no employer, no skills, no ids.
    assert not any(word in body for body in bodies for word in ("civic-data-labs", "Python", consented))
    assert {r["kind"] for r in sent} == {"referred", "interview", "offer"}
    assert capture.to(no) == []
    assert await notices(stack, world["name"], silent) == []

    # Restarted, and the offer delivered again (a producer's retry, a replayed dead letter):
    # nothing more is sent. A notice a dead process left `sending` is failed, not sent.
    await execute(
        stack,
        f"UPDATE {world['name']}.candidate_notices SET status = 'sending', updated_at = now() - interval '1 hour'"
        " WHERE referral_id = $1 AND kind = 'referred'",
        consented,
    )
    async with intake(stack, world["name"], world["keys"], world["port"]) as client:
        await publish(world["producer"], offer(consented), event_id=offer_id)
        notifier = client.app.state.notify_consumer  # type: ignore[attr-defined]
        await until("the offer seen again", lambda: _true(notifier.counts["duplicate"] >= 1))
        rows = await until("the interrupted notice failed", lambda: _status(stack, world["name"], consented, "failed"))
    assert len(capture.to(yes)) == 3
    assert "interrupted while sending" in rows[0]["last_error"]


async def _true(condition: bool) -> bool | None:
    return True if condition else None


async def execute(stack: Any, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def _all_sent(stack: Any, schema: str, referral_id: str, n: int) -> list[asyncpg.Record] | None:
    rows = await notices(stack, schema, referral_id)
    return rows if len(rows) == n and all(r["status"] == "sent" for r in rows) else None


async def _status(stack: Any, schema: str, referral_id: str, status: str) -> list[asyncpg.Record] | None:
    rows = [r for r in await notices(stack, schema, referral_id) if r["status"] == status]
    return rows or None


async def test_an_erased_candidate_gets_nothing_more_and_the_queue_forgets(stack, world):
    capture, tag, schema = world["capture"], uuid.uuid4().hex[:8], world["name"]
    address = f"erase-{tag}@example.org"
    async with intake(stack, schema, world["keys"], world["port"]) as client:
        rid = await refer(client, referral(address, consent={"notify_candidate": True}))
        await mails_to(capture, address, 1)
        # The interview's e-mail is refused for now ("try later") and waits to be tried again
        # when the person is erased.
        capture.busy.add(address)
        await publish(world["producer"], interview(rid))
        await until("the interview's e-mail waiting", lambda: _waiting(stack, schema, rid))
        r = await client.post("/v1/erasures", json={"referral_id": rid})
        assert r.status_code == 200, r.text
        late = await publish(world["producer"], offer(rid))
        await until("the offer read", lambda: _claimed(stack, schema, late))
        rows = await until("the queue emptied", lambda: _forgotten(stack, schema, rid))
    assert len(capture.to(address)) == 1
    assert [r["kind"] for r in rows] == ["referred", "interview"]  # no offer queued after the erasure
    assert rows[1]["status"] == "cancelled" and rows[1]["last_error"] == "erased"


async def _waiting(stack: Any, schema: str, referral_id: str) -> bool | None:
    rows = await _status(stack, schema, referral_id, "pending") or []
    return (
        True
        if any(r["attempts"] == 1 and r["last_error"].startswith("attempt 1: recipient refused: 451") for r in rows)
        else None
    )


async def _claimed(stack: Any, schema: str, event_id: uuid.UUID) -> bool | None:
    rows = await execute(stack, f"SELECT 1 FROM {schema}.inbox WHERE consumer = $1 AND event_id = $2", schema, event_id)
    return True if rows else None


async def _forgotten(stack: Any, schema: str, referral_id: str) -> list[asyncpg.Record] | None:
    rows = await notices(stack, schema, referral_id)
    settled = all(r["status"] not in ("pending", "sending") and r["details"] == "{}" for r in rows)
    return rows if rows and settled else None


async def test_a_server_refusing_the_address_fails_the_notice_at_once_with_its_answer(stack, world):
    async with intake(stack, world["name"], world["keys"], world["port"]) as client:
        rid = await refer(client, referral(REFUSED, consent={"notify_candidate": True}))
        (row,) = await until("the notice failed", lambda: _status(stack, world["name"], rid, "failed"))
    assert row["attempts"] == 1 and row["last_error"].startswith("attempt 1: recipient refused: 550")
    assert REFUSED not in row["last_error"]  # the server's answer quoted it: not kept
