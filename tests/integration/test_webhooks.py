"""Outbound webhooks against a real local HTTP receiver (127.0.0.1) and real PostgreSQL: it
fails, times out and recovers; a healthy endpoint is not held up meanwhile; retries stop
at the limit; a redelivery goes through; signatures verify, also during a secret rotation."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import uvicorn

from plumbing import db, webhooks
from plumbing.destinations import Destinations
from talentloop.network import free_port

pytestmark = pytest.mark.integration
# The receivers listen on loopback: the development setting lets plain http reach them.
POLICY = webhooks.Policy(timeout_s=0.6, base_s=0.05, cap_s=0.2, max_attempts=4, poll_s=0.05, allow_loopback_http=True)
BOX = webhooks.SecretBox(os.urandom(32))


class Receiver:
    """An HTTP server whose paths answer from a script: a status code, "hang" (no answer
    before the client's timeout), "trickle" (200 at once, then a long body a little at a
    time, for longer than the timeout) or "big" (200 with a 100 KB body); when the script
    runs out, the last entry repeats."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[int | str]] = {}
        self.received: list[tuple[str, float, dict[str, str], bytes]] = []

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.received.append((path, time.monotonic(), headers, body))
        script = self.scripts.get(path, [200])
        step = script.pop(0) if len(script) > 1 else script[0]
        if step == "hang":
            await asyncio.sleep(POLICY.timeout_s * 3)
            step = 200
        if step in ("trickle", "big"):
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            if step == "big":
                await send({"type": "http.response.body", "body": b"B" * 100_000})
                return
            for _ in range(int(POLICY.timeout_s * 3 / 0.1)):
                await send({"type": "http.response.body", "body": b"t" * 10, "more_body": True})
                await asyncio.sleep(0.1)
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": step, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": f"answered {step}".encode()})

    def got(self, path: str) -> list[tuple[float, dict[str, str], bytes]]:
        return [(t, h, b) for p, t, h, b in self.received if p == path]


@pytest.fixture
async def receiver():  # type: ignore[no-untyped-def]
    port = free_port()
    app = Receiver()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    app.base = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield app
    server.should_exit = True
    await task


@pytest.fixture
async def hooks_pool(pool: asyncpg.Pool) -> asyncpg.Pool:
    await db.migrate(pool)
    return pool


async def endpoint(pool: asyncpg.Pool, owner: str, url: str, types: list[str] | None = None) -> tuple[str, str]:
    async with pool.acquire() as conn:
        view, secret = await webhooks.create_endpoint(conn, BOX, owner, url, types or [])
    return view["endpoint_id"], secret


async def notify(pool: asyncpg.Pool, owner: str, n: int = 1, event_id: uuid.UUID | None = None) -> list[str]:
    ids = []
    async with pool.acquire() as conn, conn.transaction():
        for i in range(n):
            ids += await webhooks.enqueue(
                conn,
                owner,
                event_id=event_id or uuid.uuid4(),
                event_type="referral.routed",
                subject=f"ref_{i}",
                occurred_at=datetime.now(UTC),
                data={"referral_id": f"ref_{i}"},
            )
    return ids


async def until(what, check, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while (value := await check()) is None:
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
    return value


async def statuses(pool: asyncpg.Pool, ids: list[str]) -> dict[str, str]:
    rows = await pool.fetch("SELECT delivery_id, status FROM webhook_deliveries WHERE delivery_id = ANY($1)", ids)
    return {r["delivery_id"]: r["status"] for r in rows}


async def running(pool: asyncpg.Pool):  # type: ignore[no-untyped-def]
    dispatcher = webhooks.Dispatcher(pool, BOX, POLICY)
    return asyncio.create_task(dispatcher.run())


async def test_a_failing_then_hanging_endpoint_recovers_and_never_holds_up_a_healthy_one(hooks_pool, receiver):
    owner = f"employer:{uuid.uuid4().hex[:6]}"
    flaky_id, flaky_secret = await endpoint(hooks_pool, owner, receiver.base + "/flaky")
    _, healthy_secret = await endpoint(hooks_pool, owner, receiver.base + "/healthy")
    receiver.scripts["/flaky"] = [500, 200, "hang", 200]
    ids = await notify(hooks_pool, owner, n=2)
    assert len(ids) == 4
    task = await running(hooks_pool)
    try:
        # While the flaky endpoint hangs, a new notification reaches the healthy one at once.
        await until("the hang", lambda: _first(receiver, "/flaky", 3))
        ids += await notify(hooks_pool, owner, n=1)

        async def all_delivered():  # type: ignore[no-untyped-def]
            found = await statuses(hooks_pool, ids)
            return found if set(found.values()) == {"delivered"} else None

        await until("every delivery", all_delivered)
    finally:
        task.cancel()
    flaky, healthy = receiver.got("/flaky"), receiver.got("/healthy")
    assert len(healthy) == 3 and len(flaky) == 3 + 2  # two of the tries failed
    hang_started = flaky[2][0]
    assert hang_started < healthy[2][0] < hang_started + POLICY.timeout_s  # not held up by the hang
    for _t, headers, body in flaky:
        webhooks.verify(flaky_secret, headers, body)
    for _, headers, body in healthy:
        webhooks.verify(healthy_secret, headers, body)
        with pytest.raises(webhooks.InvalidSignature):
            webhooks.verify(flaky_secret, headers, body)
    assert json.loads(healthy[0][2])["type"] == "referral.routed"
    log = await hooks_pool.fetch(
        "SELECT a.status_code, a.error FROM webhook_attempts a JOIN webhook_deliveries d USING (delivery_id)"
        " WHERE d.endpoint_id = $1 ORDER BY a.id",
        flaky_id,
    )
    assert [(r["status_code"], r["error"]) for r in log] == [
        (500, "HTTP 500"),
        (200, None),
        (None, "no answer within 0.6 s"),
        (200, None),
        (200, None),
    ]


async def test_retries_stop_at_the_limit_and_a_redelivery_goes_through(hooks_pool, receiver):
    owner = f"partner:{uuid.uuid4().hex[:6]}"
    receiver.scripts["/down"] = [503]
    await endpoint(hooks_pool, owner, receiver.base + "/down")
    [delivery_id] = await notify(hooks_pool, owner)
    task = await running(hooks_pool)
    try:

        async def failed():  # type: ignore[no-untyped-def]
            return (await statuses(hooks_pool, [delivery_id]))[delivery_id] == "failed" or None

        await until("the delivery to fail", failed)
        assert len(receiver.got("/down")) == POLICY.max_attempts
        receiver.scripts["/down"] = [200]
        async with hooks_pool.acquire() as conn:
            assert await webhooks.redeliver(conn, "partner:someone-else", delivery_id) is None  # not theirs
            assert (await webhooks.redeliver(conn, owner, delivery_id))["status"] == "pending"

        async def delivered():  # type: ignore[no-untyped-def]
            return (await statuses(hooks_pool, [delivery_id]))[delivery_id] == "delivered" or None

        await until("the redelivery", delivered)
    finally:
        task.cancel()
    shown = await webhooks.delivery(hooks_pool, owner, delivery_id)
    assert [a["status_code"] for a in shown["log"]] == [503] * POLICY.max_attempts + [200]


async def test_one_delivery_per_event_and_endpoint_and_only_wanted_types(hooks_pool, receiver):
    owner = f"employer:{uuid.uuid4().hex[:6]}"
    await endpoint(hooks_pool, owner, receiver.base + "/all")
    await endpoint(hooks_pool, owner, receiver.base + "/stale-only", ["referral.stale"])
    event_id = uuid.uuid4()
    assert len(await notify(hooks_pool, owner, event_id=event_id)) == 1
    assert await notify(hooks_pool, owner, event_id=event_id) == []


async def test_during_a_rotation_both_secrets_sign_and_afterwards_only_the_new_one(hooks_pool, receiver):
    owner = f"employer:{uuid.uuid4().hex[:6]}"
    endpoint_id, old = await endpoint(hooks_pool, owner, receiver.base + "/rotating")
    async with hooks_pool.acquire() as conn:
        _, new = await webhooks.rotate_secret(conn, BOX, owner, endpoint_id, timedelta(minutes=5))
    await notify(hooks_pool, owner)
    task = await running(hooks_pool)
    try:
        await until("the signed request", lambda: _first(receiver, "/rotating"))
        await hooks_pool.execute("UPDATE webhook_endpoints SET previous_until = now() - interval '1 s'")
        await notify(hooks_pool, owner)
        await until("the second request", lambda: _first(receiver, "/rotating", 2))
    finally:
        task.cancel()
    (_, during, body1), (_, after, body2) = receiver.got("/rotating")
    webhooks.verify(old, during, body1)  # during the grace period either secret verifies
    webhooks.verify(new, during, body1)
    webhooks.verify(new, after, body2)
    with pytest.raises(webhooks.InvalidSignature):
        webhooks.verify(old, after, body2)
    assert during[webhooks.SIGNATURE.lower()].count("v1=") == 2 and after[webhooks.SIGNATURE.lower()].count("v1=") == 1


async def _first(receiver: Receiver, path: str, n: int = 1):  # type: ignore[no-untyped-def]
    return True if len(receiver.got(path)) >= n else None


@pytest.fixture
async def trickling_status():  # type: ignore[no-untyped-def]
    """A raw TCP server that sends its status line one byte every 0.1 s: each read arrives well
    within httpx's per-read timeout, but the whole answer would take seconds."""
    got: list[float] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got.append(time.monotonic())
        with contextlib.suppress(OSError):
            await reader.readuntil(b"\r\n\r\n")
            for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok":
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.1)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/slow", got
    server.close()


async def attempts_of(pool: asyncpg.Pool, delivery_id: str) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id", delivery_id)


async def test_the_timeout_bounds_the_whole_answer_not_each_read(hooks_pool, trickling_status):
    url, got = trickling_status
    owner = f"employer:{uuid.uuid4().hex[:6]}"
    await endpoint(hooks_pool, owner, url)
    [delivery_id] = await notify(hooks_pool, owner)
    task = await running(hooks_pool)
    try:
        await until("the first attempt", lambda: _logged(hooks_pool, delivery_id))
    finally:
        task.cancel()
    [first, *_] = await attempts_of(hooks_pool, delivery_id)
    assert (first["status_code"], first["error"]) == (None, "no answer within 0.6 s")
    assert POLICY.timeout_s * 1000 - 50 <= first["duration_ms"] < POLICY.timeout_s * 1000 + 300


async def test_a_slow_body_after_a_2xx_is_delivered_in_time_and_only_an_excerpt_is_kept(hooks_pool, receiver):
    owner = f"employer:{uuid.uuid4().hex[:6]}"
    receiver.scripts["/trickle"] = ["trickle"]
    receiver.scripts["/big"] = ["big"]
    await endpoint(hooks_pool, owner, receiver.base + "/trickle")
    await endpoint(hooks_pool, owner, receiver.base + "/big")
    ids = await notify(hooks_pool, owner)
    task = await running(hooks_pool)
    try:
        for delivery_id in ids:
            await until("the attempt", lambda d=delivery_id: _logged(hooks_pool, d))
    finally:
        task.cancel()
    found = {}
    for delivery_id in ids:
        [attempt] = await attempts_of(hooks_pool, delivery_id)
        found[attempt["response_excerpt"][0]] = attempt
    assert set(found) == {"t", "B"}
    trickled, big = found["t"], found["B"]
    assert trickled["status_code"] == 200 and trickled["error"] is None
    assert trickled["duration_ms"] < POLICY.timeout_s * 1000 + 300  # did not wait for the whole body
    assert 0 < len(trickled["response_excerpt"]) < 500
    assert big["status_code"] == 200 and big["response_excerpt"] == "B" * 500
    assert set((await statuses(hooks_pool, ids)).values()) == {"delivered"}


async def test_a_paused_endpoint_keeps_its_queue_until_it_is_switched_back_on(hooks_pool, receiver):
    owner = f"employer:{uuid.uuid4().hex[:6]}"
    endpoint_id, _ = await endpoint(hooks_pool, owner, receiver.base + "/paused")
    [delivery_id] = await notify(hooks_pool, owner)
    async with hooks_pool.acquire() as conn:
        assert (await webhooks.update_endpoint(conn, owner, endpoint_id, {"active": False}))["active"] is False
        assert await webhooks.enqueue(conn, owner, event_id=uuid.uuid4(), event_type="x", subject="s", data={}) == []
    task = await running(hooks_pool)
    try:
        await asyncio.sleep(POLICY.poll_s * 10)
        assert receiver.got("/paused") == []
        row = await hooks_pool.fetchrow("SELECT status, attempts FROM webhook_deliveries")
        assert (row["status"], row["attempts"]) == ("pending", 0)  # no attempt spent while paused
        async with hooks_pool.acquire() as conn:
            await webhooks.update_endpoint(conn, owner, endpoint_id, {"active": True})

        async def delivered():  # type: ignore[no-untyped-def]
            return (await statuses(hooks_pool, [delivery_id]))[delivery_id] == "delivered" or None

        await until("the delivery after the pause", delivered)
    finally:
        task.cancel()
    assert len(receiver.got("/paused")) == 1


async def test_two_dispatchers_on_one_database_send_each_delivery_once(hooks_pool, receiver):
    owner = f"employer:{uuid.uuid4().hex[:6]}"
    for name in ("a", "b", "c"):
        await endpoint(hooks_pool, owner, receiver.base + f"/twice-{name}")
    ids = await notify(hooks_pool, owner, n=10)
    assert len(ids) == 30
    tasks = [await running(hooks_pool), await running(hooks_pool)]  # as two processes of one service would
    try:

        async def all_delivered():  # type: ignore[no-untyped-def]
            found = await statuses(hooks_pool, ids)
            return found if set(found.values()) == {"delivered"} else None

        await until("every delivery", all_delivered)
        await asyncio.sleep(POLICY.poll_s * 4)  # a duplicate would have arrived by now
    finally:
        for task in tasks:
            task.cancel()
    sent = [h[webhooks.WEBHOOK_ID.lower()] for p, _t, h, _b in receiver.received if p.startswith("/twice-")]
    assert sorted(sent) == sorted(ids)


async def _logged(pool: asyncpg.Pool, delivery_id: str):  # type: ignore[no-untyped-def]
    return True if await attempts_of(pool, delivery_id) else None


async def test_without_the_development_setting_internal_destinations_are_never_contacted(hooks_pool, receiver):
    """The same loopback receiver, registered as the tenant would (a name that resolves there,
    or the address itself): refused at every delivery, nothing reaches it, and the log says
    why without any body. A name that was public when registered and rebinds to loopback
    afterwards is refused the same way."""
    owner = f"partner:{uuid.uuid4().hex[:6]}"
    port = int(receiver.base.rsplit(":", 1)[1])
    answers = {"hooks.example.org": ["93.184.216.34"]}

    async def resolver(host: str, _port: int) -> list[str]:
        return answers[host]

    strict = replace(POLICY, allow_loopback_http=False, max_attempts=1)
    destinations = Destinations(resolver=resolver)
    await destinations.resolve(f"https://hooks.example.org:{port}/rebound")  # public when registered
    answers["hooks.example.org"] = ["127.0.0.1"]  # then rebinds
    urls = [receiver.base + "/plain", f"https://127.0.0.1:{port}/literal", f"https://hooks.example.org:{port}/rebound"]
    for url in urls:
        await endpoint(hooks_pool, owner, url)
    ids = await notify(hooks_pool, owner)
    dispatcher = webhooks.Dispatcher(hooks_pool, BOX, strict, destinations=destinations)
    task = asyncio.create_task(dispatcher.run())
    try:
        async def all_failed():  # type: ignore[no-untyped-def]
            found = await statuses(hooks_pool, ids)
            return found if len(found) == 3 and set(found.values()) == {"failed"} else None

        await until("every delivery refused", all_failed)
    finally:
        task.cancel()
    assert receiver.received == []
    log = await hooks_pool.fetch(
        "SELECT e.url, a.status_code, a.error, a.response_excerpt FROM webhook_attempts a"
        " JOIN webhook_deliveries d USING (delivery_id) JOIN webhook_endpoints e USING (endpoint_id)"
        " WHERE d.owner = $1", owner,
    )
    assert {r["url"] for r in log} == set(urls)
    why = {r["url"]: r["error"] for r in log}
    assert all(r["status_code"] is None and r["response_excerpt"] is None for r in log)
    assert all(error.startswith("refused destination:") for error in why.values())
    assert "must be https://" in why[urls[0]]
    assert "127.0.0.1 is not a public address" in why[urls[1]]
    assert "resolves to 127.0.0.1" in why[urls[2]] or "127.0.0.1 is not a public address" in why[urls[2]]


async def test_a_refusing_answer_is_logged_without_its_body(hooks_pool, receiver):
    owner = f"employer:{uuid.uuid4().hex[:6]}"
    endpoint_id, _ = await endpoint(hooks_pool, owner, receiver.base + "/refuses")
    receiver.scripts["/refuses"] = [500]
    ids = await notify(hooks_pool, owner)
    task = await running(hooks_pool)
    try:
        await until("the refused try", lambda: _first(receiver, "/refuses", 1))

        async def logged():  # type: ignore[no-untyped-def]
            return await hooks_pool.fetchrow(
                "SELECT status_code, error, response_excerpt FROM webhook_attempts WHERE delivery_id = $1", ids[0]
            )

        row = await until("the attempt logged", logged)
    finally:
        task.cancel()
    assert (row["status_code"], row["error"], row["response_excerpt"]) == (500, "HTTP 500", None)
