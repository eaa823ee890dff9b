"""The operators' pages of the portal on real PostgreSQL and Kafka, calling the console's
operations API (in-process, over two services' own fresh outbox schemas) with the operators'
organisation's key, as the running portal does (docs/portals.md, "The coalition's operators"):
parked outbox rows listed, retried and discarded by the buttons, each action audited with the
acting user's correlation id, which the console records with the discard; read-only operators
see and do not act, other organisations get 403; health, dead letters and live events answer."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from plumbing import apikeys, problems
from plumbing.correlate import Correlate
from services.console import api as console_api
from services.portal import store
from tests.integration import test_outbox_operations as outbox_tests
from tests.integration.test_outbox_operations import Outboxes, enqueue, park_by_hand, too_large
from tests.support.portal import Browser, ToService, fresh_schema, member, running_portal

pytestmark = pytest.mark.integration
outboxes = outbox_tests.outboxes  # the fixture: two services' fresh outbox schemas


@contextlib.asynccontextmanager
async def portal_calling(stack: Any, console: httpx.AsyncBaseTransport) -> AsyncIterator[FastAPI]:
    """The portal on a fresh schema, reaching `http://console` through `console`."""
    async with (
        fresh_schema(stack.database_url) as schema,
        running_portal(
            stack.database_url,
            schema,
            transport=console,
            KAFKA_BOOTSTRAP_SERVERS=stack.bootstrap,
            TALENTLOOP_SERVICE_URLS=json.dumps({"console": "http://console"}),
        ) as portal,
    ):
        yield portal


@contextlib.asynccontextmanager
async def portal_and_console(stack: Any, boxes: Outboxes) -> AsyncIterator[FastAPI]:
    to_console = ToService("console")
    async with portal_calling(stack, to_console) as portal:
        console = FastAPI()
        problems.install(console)
        console.include_router(console_api.router)
        console.add_middleware(Correlate, service="console")  # the caller's correlation id names the actor
        console.state.ops = boxes.operations()
        console.state.keys = apikeys.ApiKeys(portal.state.pool, cache_s=0)
        to_console.app = console
        try:
            yield portal
        finally:
            await console.state.ops.close()


async def test_operators_list_retry_and_discard_parked_rows_and_are_audited(stack, outboxes, topic) -> None:  # type: ignore[no-untyped-def]
    intake, routing = outboxes.pools["intake"], outboxes.pools["routing"]
    big = await too_large(intake, topic, "ref_big")
    await intake.execute(
        "UPDATE outbox SET parked_at = now(), park_reason = 'MessageSizeTooLargeError' WHERE id = $1", big
    )
    other = await park_by_hand(routing, await enqueue(routing, topic, 8))
    async with portal_and_console(stack, outboxes) as app:
        admin = await member(app.state.pool, "operators", "coalition-ops", "admin")
        async with Browser(app) as browser:
            assert (await browser.http.get("/operators/outbox")).headers["location"].startswith("/sign-in")
            await browser.sign_in(admin["email"])
            page = (await browser.http.get("/operators/outbox")).text
            assert f'data-id="intake:{big}"' in page and f'data-id="routing:{other}"' in page
            assert "ref_big" in page and "MessageSizeTooLarge" in page and ">1100000<" in page
            assert f'action="/operators/outbox/intake/{big}/retry"' in page and 'href="/operators/lag"' in page

            r = await browser.post(f"/operators/outbox/intake/{big}/retry", {}, "/operators/outbox")
            assert (
                r.status_code == 303 and r.headers["location"] == f"/operators/outbox?done=retried&subject=intake:{big}"
            )
            assert f"intake:{big}" not in {f"{x.service}:{x.id}" for x in await outboxes.operations().parked_outbox()}
            assert "the relay tries it again" in (await browser.http.get(r.headers["location"])).text
            # Not parked any more: the console's 409, in its words, on the page.
            r = await browser.post(f"/operators/outbox/intake/{big}/retry", {}, "/operators/outbox")
            assert r.status_code == 409 and "is not parked" in r.text and 'data-result="refused"' in r.text
            r = await browser.post("/operators/outbox/nowhere/1/retry", {}, "/operators/outbox")
            assert r.status_code == 422 and "services with an outbox" in r.text  # and its 422

            # Discarding needs "I am sure"; then the console records the acting user's id with it.
            r = await browser.post(f"/operators/outbox/routing/{other}/discard", {}, "/operators/outbox")
            assert r.headers["location"] == f"/operators/outbox?done=confirm&subject=routing:{other}"
            assert [x.id for x in await outboxes.operations().parked_outbox("routing")] == [other]
            r = await browser.post(f"/operators/outbox/routing/{other}/discard", {"sure": "yes"}, "/operators/outbox")
            assert r.headers["location"] == f"/operators/outbox?done=discarded&subject=routing:{other}"
            reason = await routing.fetchval("SELECT park_reason FROM outbox WHERE id = $1", other)
            found = re.search(
                r"\(discarded by console:coalition-ops (portal-user-[0-9a-f-]{36}-[0-9a-f]{12})\)$", reason
            )
            assert found and found.group(1).startswith(f"portal-user-{admin['user_id']}-"), reason

        audit = await app.state.pool.fetch(
            "SELECT action, target, correlation_id, detail FROM audit WHERE user_id = $1::uuid AND action = "
            "'operator_action' ORDER BY audit_id",
            admin["user_id"],
        )
        assert [(a["target"], json.loads(a["detail"])["action"]) for a in audit] == [
            (f"intake:{big}", "retry"),
            (f"routing:{other}", "discard"),
        ]  # the refused retry and the unconfirmed discard changed nothing and are not there
        assert audit[1]["correlation_id"] == found.group(1)


async def test_read_only_operators_see_and_others_get_403(stack, outboxes, topic) -> None:  # type: ignore[no-untyped-def]
    routing = outboxes.pools["routing"]
    row = await park_by_hand(routing, await enqueue(routing, topic, 9))
    async with portal_and_console(stack, outboxes) as app:
        viewer = await member(app.state.pool, "operators", "coalition-ops", "read_only")
        partner = await member(app.state.pool, "partner", "alpha-org", "admin")
        async with Browser(app) as browser:
            await browser.sign_in(viewer["email"])
            # Their start page is the network's health, not the admins' organisations (403 for them).
            start = await browser.http.get("/")
            assert start.status_code in (302, 303) and start.headers["location"].endswith("/operators/health")
            health = await browser.http.get("/operators/health")
            assert health.status_code == 200 and 'href="/organisations"' not in health.text
            assert (await browser.http.get("/organisations")).status_code == 403
            page = await browser.http.get("/operators/outbox")
            assert page.status_code == 200 and f'data-id="routing:{row}"' in page.text
            assert "data-retry=" not in page.text and "data-discard=" not in page.text
            for action in ("retry", "discard"):
                r = await browser.post(
                    f"/operators/outbox/routing/{row}/{action}", {"sure": "yes"}, "/operators/outbox"
                )
                assert r.status_code == 403
            r = await browser.post("/operators/dead-letters/intake:0:0/replay", {}, "/operators/outbox")
            assert r.status_code == 403
        assert [x.id for x in await outboxes.operations().parked_outbox("routing")] == [row]
        async with Browser(app) as browser:
            await browser.sign_in(partner["email"])
            for path in (
                "/operators/events",
                "/operators/events/stream",
                "/operators/lag",
                "/operators/health",
                "/operators/dead-letters",
                "/operators/outbox",
                "/operators/funnel",
            ):
                assert (await browser.http.get(path)).status_code == 403, path
            r = await browser.post(f"/operators/outbox/routing/{row}/retry", {}, "/team")
            assert r.status_code == 403
        assert not [
            a for a in await store.audit_of(app.state.pool, viewer["org_id"]) if a["action"] == "operator_action"
        ]


async def test_health_dead_letters_and_events_pages_answer(stack, outboxes) -> None:  # type: ignore[no-untyped-def]
    async with portal_and_console(stack, outboxes) as app:
        staff = await member(app.state.pool, "operators", "coalition-ops", "staff")
        async with Browser(app) as browser:
            await browser.sign_in(staff["email"])
            health = (await browser.http.get("/operators/health")).text
            assert 'data-name="broker" data-ok="yes"' in health and 'data-name="database" data-ok="yes"' in health
            # Lag is walked on the running network (tests/e2e/test_portal_browser.py): on a broker with no
            # service's consumer group, plumbing/operations.lag stops its consumer before its first await
            # and aiokafka raises CancelledError (reported, not this page's).
            letters = await browser.http.get("/operators/dead-letters?service=intake")
            assert letters.status_code == 200 and '<option value="intake" selected>' in letters.text
            events = (await browser.http.get("/operators/events?type=referral.submitted&partner=p1")).text
            assert 'data-stream-url="/operators/events/stream?type=referral.submitted&amp;partner=p1"' in events


class EndsTheSessionThenKeepsAlive(httpx.AsyncBaseTransport):
    """The console's stream as the relay meets it: `ready`, an event, then (the user having signed
    out meanwhile: their session row is gone) a keep-alive, then events that must never reach them."""

    def __init__(self) -> None:
        self.pool: Any = None
        self.asked: list[httpx.URL] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request.url)
        pool = self.pool

        class Stream(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                yield b"event: ready\ndata: {}\n\n"
                yield b'event: event\ndata: {"type": "referral.submitted.v2"}\n\n'
                await pool.execute("DELETE FROM sessions")
                yield b": keep-alive\n\n"
                for _ in range(100):
                    yield b'event: event\ndata: {"type": "after.the.session"}\n\n'

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Stream())


async def test_the_live_stream_ends_at_the_first_keep_alive_after_the_session_ended(stack) -> None:  # type: ignore[no-untyped-def]
    console = EndsTheSessionThenKeepsAlive()
    async with portal_calling(stack, console) as app:
        console.pool = app.state.pool
        staff = await member(app.state.pool, "operators", "coalition-ops", "staff")
        async with Browser(app) as browser:
            await browser.sign_in(staff["email"])
            r = await browser.http.get("/operators/events/stream?type=referral.submitted,candidate&partner=p1")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert "referral.submitted.v2" in r.text and "after.the.session" not in r.text
    (asked,) = console.asked
    assert asked.path == "/api/stream"
    assert asked.params.multi_items() == [("type", "referral.submitted"), ("type", "candidate"), ("partner", "p1")]
