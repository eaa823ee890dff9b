"""Parked outbox rows, as operators handle them, against real PostgreSQL and Kafka:
`talentloop outbox list|retry|discard` (through typer's runner) and the console's outbox API
(in-process), over two services' own schemas. The portal's pages over that API:
tests/integration/test_portal_operators.py.

The services' schemas here are fresh ones standing in for `intake` and `routing`
(`Operations(outbox_schemas=…)`), so a network running in the same session is not touched.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from contracts import Envelope, build
from plumbing import apikeys, db, outbox, problems
from plumbing.kafka import new_producer
from plumbing.operations import Operations
from services.console import api as console_api
from talentloop import ops_cli
from talentloop.cli import app as cli_app
from tests.integration.test_outbox import submitted
from tests.kafka_helpers import read_topic

pytestmark = pytest.mark.integration


@dataclass
class Outboxes:
    """Two services' schemas, each with its own outbox, and the operations over them."""

    bootstrap: str
    database_url: str
    schemas: dict[str, str]  # service -> schema
    pools: dict[str, asyncpg.Pool]

    def operations(self) -> Operations:
        return Operations(self.bootstrap, self.database_url, outbox_schemas=self.schemas)


@pytest.fixture
async def outboxes(stack) -> AsyncIterator[Outboxes]:  # type: ignore[no-untyped-def]
    run = uuid.uuid4().hex[:8]
    # outcomes' schema is never created: a service that has not started yet has no outbox.
    schemas = {"intake": f"t_ob_in_{run}", "routing": f"t_ob_ro_{run}", "outcomes": f"t_ob_none_{run}"}
    pools = {}
    for service in ("intake", "routing"):
        pools[service] = await db.create_pool(stack.database_url, schemas[service])
        await db.migrate(pools[service])
    try:
        yield Outboxes(stack.bootstrap, stack.database_url, schemas, pools)
    finally:
        for p in pools.values():
            await p.close()
        conn = await asyncpg.connect(stack.database_url)
        try:
            for schema in schemas.values():
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


async def enqueue(pool: asyncpg.Pool, topic: str, n: int) -> Envelope:
    event, on_topic = submitted(n, topic)
    env = build(event, source="/test", correlation_id="c")
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue(conn, env, on_topic)
    return env


async def too_large(pool: asyncpg.Pool, topic: str, key: str) -> int:
    """A row larger than any topic takes (as an unbounded field once made one)."""
    event_id = uuid.uuid4()
    await pool.execute(outbox.INSERT, [event_id], [topic], [key], [b"x" * 1_100_000], None, None)
    return await pool.fetchval("SELECT id FROM outbox WHERE event_id = $1", event_id)


async def park_by_hand(pool: asyncpg.Pool, env: Envelope, reason: str = "refused for the test") -> int:
    """As if Kafka had refused the row once (the cause since fixed)."""
    return await pool.fetchval(
        "UPDATE outbox SET parked_at = now(), park_reason = $2 WHERE event_id = $1 RETURNING id", env.id, reason
    )


async def publish_once(bootstrap: str, pool: asyncpg.Pool) -> int:
    producer = new_producer(bootstrap, "test")
    await producer.start()
    try:
        return await outbox.OutboxRelay(pool, producer, batch=100).publish_once()
    finally:
        await producer.stop()


async def talentloop(monkeypatch, boxes: Outboxes, *args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    """`talentloop ARGS` in-process (in a thread: the command runs its own event loop), on
    `boxes`' schemas instead of the services' own."""
    monkeypatch.setattr(ops_cli, "operations", lambda cfg: boxes.operations())
    return await asyncio.to_thread(CliRunner().invoke, cli_app, list(args), input=stdin)


async def test_list_shows_each_services_parked_rows_with_the_rows_waiting_behind_them(  # type: ignore[no-untyped-def]
    outboxes, topic, monkeypatch, tmp_path
) -> None:
    intake, routing = outboxes.pools["intake"], outboxes.pools["routing"]
    await enqueue(intake, topic, 1)
    big = await too_large(intake, topic, "ref_1")
    await enqueue(intake, topic, 1)  # waits behind the big one (same key)
    await enqueue(intake, topic, 2)  # flows
    assert await publish_once(outboxes.bootstrap, intake) == 3  # ref_1, the big one (parked), ref_2
    by_hand = await park_by_hand(routing, await enqueue(routing, topic, 5), "refused: test reason")

    r = await talentloop(monkeypatch, outboxes, "outbox", "list", "--json", "--home", str(tmp_path))
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [(x["service"], x["id"]) for x in rows] == [("intake", big), ("routing", by_hand)]
    first = rows[0]
    assert (first["topic"], first["key"], first["size"], first["waiting_behind"]) == (topic, "ref_1", 1_100_000, 1)
    assert "MessageSizeTooLarge" in first["reason"]
    assert datetime.fromisoformat(first["parked_at"]) <= datetime.now(UTC)
    assert rows[1]["reason"] == "refused: test reason" and rows[1]["waiting_behind"] == 0

    only = await talentloop(monkeypatch, outboxes, "outbox", "list", "--service", "routing", "--json",
                            "--home", str(tmp_path))
    assert [x["id"] for x in json.loads(only.output)] == [by_hand]

    pretty = await talentloop(monkeypatch, outboxes, "outbox", "list", "--home", str(tmp_path))
    assert pretty.exit_code == 0, pretty.output
    header, *lines = pretty.output.splitlines()
    assert header.split()[:4] == ["service", "id", "parked", "at"] and "waiting" in header and "reason" in header
    assert re.search(rf"^intake\s+{big}\s.*{re.escape(topic)}\s+ref_1\s+1100000\s+1\s+.*MessageSizeTooLarge", lines[0])

    unknown = await talentloop(monkeypatch, outboxes, "outbox", "list", "--service", "console", "--home", str(tmp_path))
    assert unknown.exit_code == 1 and "services with an outbox" in unknown.output


async def test_retry_releases_a_parked_row_and_the_relay_publishes_it_and_its_key(  # type: ignore[no-untyped-def]
    outboxes, topic, monkeypatch, tmp_path
) -> None:
    intake, routing = outboxes.pools["intake"], outboxes.pools["routing"]
    first = await enqueue(intake, topic, 3)
    row = await park_by_hand(intake, first)
    behind = await enqueue(intake, topic, 3)
    assert await publish_once(outboxes.bootstrap, intake) == 0  # the key waits

    r = await talentloop(monkeypatch, outboxes, "outbox", "retry", str(row), "--service", "intake",
                         "--home", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert f"intake: released 1 ({row})" in r.output
    assert await publish_once(outboxes.bootstrap, intake) == 2
    records = await read_topic(outboxes.bootstrap, topic, at_least=2)
    assert [Envelope.from_bytes(x.value).id for x in records] == [first.id, behind.id]  # in outbox order

    # Released already (and published): nothing to do, and the exit status says so.
    again = await talentloop(monkeypatch, outboxes, "outbox", "retry", str(row), "--service", "intake", "--json",
                             "--home", str(tmp_path))
    assert again.exit_code == 1
    assert json.loads(again.output) == [{"service": "intake", "action": "retried", "done": [], "not_parked": [row]}]

    # --all: every parked row of every service.
    a = await park_by_hand(intake, await enqueue(intake, topic, 4))
    b = await park_by_hand(routing, await enqueue(routing, topic, 4))
    everything = await talentloop(monkeypatch, outboxes, "outbox", "retry", "--all", "--json", "--home", str(tmp_path))
    assert everything.exit_code == 0, everything.output
    assert {(c["service"], tuple(c["done"])) for c in json.loads(everything.output)} == {("intake", (a,)),
                                                                                          ("routing", (b,))}
    assert await outboxes.operations().parked_outbox() == []

    # Ids are per service: without --service they are refused before anything happens.
    bad = await talentloop(monkeypatch, outboxes, "outbox", "retry", "1", "--home", str(tmp_path))
    assert bad.exit_code == 2 and "--service" in bad.output


async def test_discard_asks_records_who_and_lets_the_key_flow_again(  # type: ignore[no-untyped-def]
    outboxes, topic, monkeypatch, tmp_path
) -> None:
    intake = outboxes.pools["intake"]
    monkeypatch.setenv("USER", "alice")
    big = await too_large(intake, topic, "ref_9")
    behind = await enqueue(intake, topic, 9)
    assert await publish_once(outboxes.bootstrap, intake) == 1  # parked; the next one waits

    no = await talentloop(monkeypatch, outboxes, "outbox", "discard", str(big), "--service", "intake",
                          "--home", str(tmp_path), stdin="n\n")
    assert no.exit_code == 1 and "Nothing changed" in no.output and "ref_9" in no.output
    assert [r.id for r in await outboxes.operations().parked_outbox("intake")] == [big]

    yes = await talentloop(monkeypatch, outboxes, "outbox", "discard", str(big), "--service", "intake", "--yes",
                           "--home", str(tmp_path))
    assert yes.exit_code == 0, yes.output
    assert f"intake: discarded 1 ({big})" in yes.output
    row = await intake.fetchrow("SELECT discarded_at, published_at, park_reason FROM outbox WHERE id = $1", big)
    assert row["discarded_at"] is not None and row["published_at"] is not None
    assert row["park_reason"].startswith("MessageSizeTooLarge") and row["park_reason"].endswith("(discarded by cli:alice)")
    assert await publish_once(outboxes.bootstrap, intake) == 1  # the key flows again
    (record,) = await read_topic(outboxes.bootstrap, topic, at_least=1)
    assert Envelope.from_bytes(record.value).id == behind.id

    twice = await talentloop(monkeypatch, outboxes, "outbox", "discard", str(big), "--service", "intake", "--yes",
                             "--home", str(tmp_path))
    assert twice.exit_code == 1 and "not parked" in twice.output


# --- the console ---------------------------------------------------------------------------


@dataclass
class Console:
    http: httpx.AsyncClient
    operator_key: str
    partner_key: str


@pytest.fixture
async def console(outboxes, pool) -> AsyncIterator[Console]:  # type: ignore[no-untyped-def]
    keys_schema = await pool.fetchval("SELECT current_schema()")
    async with pool.acquire() as conn:
        await apikeys.ensure_schema(conn, keys_schema)
    keys = apikeys.ApiKeys(pool, schema=keys_schema, cache_s=0)
    operator = await keys.issue("operator", "op_ana", ["read", "write"])
    partner = await keys.issue("partner", "p1", ["read", "write"])
    app = FastAPI()
    problems.install(app)
    app.include_router(console_api.router)
    app.state.ops = outboxes.operations()
    app.state.keys = keys
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
            yield Console(http, operator.key, partner.key)
    finally:
        await app.state.ops.close()


async def test_console_outbox_api_for_scripts(console, outboxes, topic) -> None:  # type: ignore[no-untyped-def]
    routing = outboxes.pools["routing"]
    row = await park_by_hand(routing, await enqueue(routing, topic, 11))
    bearer = {"Authorization": f"Bearer {console.operator_key}"}

    # A partner's key is known but not an operator's: 403, as every service answers another kind.
    assert (await console.http.get("/api/outbox", headers={"Authorization": f"Bearer {console.partner_key}"})
            ).status_code == 403
    listed = (await console.http.get("/api/outbox", headers=bearer)).json()
    assert [(x["service"], x["id"], x["key"]) for x in listed] == [("routing", row, "ref_11")]

    r = await console.http.post(f"/api/outbox/routing/{row}/retry", headers=bearer)
    assert r.status_code == 200 and r.json()["done"] == [row]
    r = await console.http.post(f"/api/outbox/routing/{row}/retry", headers=bearer)
    assert r.status_code == 409 and "not parked" in r.json()["detail"]
    r = await console.http.post("/api/outbox/nowhere/1/discard", headers=bearer)
    assert r.status_code == 422 and "services with an outbox" in r.json()["detail"]

    row = await park_by_hand(routing, await enqueue(routing, topic, 12))
    r = await console.http.post(f"/api/outbox/routing/{row}/discard", headers=bearer)
    assert r.status_code == 200 and r.json() == {"service": "routing", "action": "discarded", "done": [row],
                                                 "not_parked": []}
    assert (await console.http.get("/api/outbox", headers=bearer)).json() == []


async def test_lag_of_a_service_without_consumer_groups_is_empty(stack) -> None:  # type: ignore[no-untyped-def]
    """A network whose services have not consumed yet has no groups: `talentloop lag` says so
    instead of failing (aiokafka's consumer stopped right after its start raised CancelledError)."""
    ops = Operations(stack.bootstrap, stack.database_url)
    for _ in range(3):
        assert await ops.lag("no-such-service") == []
