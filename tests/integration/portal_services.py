"""The portal in this process with some of the network's services beside it, each an app of its
real routers over its own schema on real PostgreSQL, authenticating with the shared key store
(so with the key the portal issues each organisation), reached at `http://<service>` the way the
running portal reaches them (tests/integration/test_portal_{support,webhooks,partner_names}.py)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI

from plumbing import apikeys, problems
from plumbing.correlate import Correlate
from tests.support.portal import fresh_schema, running_portal


class InProcess(httpx.AsyncBaseTransport):
    """`http://<name>/…` goes to the app registered under that name."""

    def __init__(self) -> None:
        self.apps: dict[str, FastAPI] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        app = self.apps[request.url.host]
        return await httpx.ASGITransport(app=app).handle_async_request(request)


def service_app(name: str, routers: Iterable[APIRouter], keys: apikeys.ApiKeys, **state: Any) -> FastAPI:
    """A service's routes as its process serves them: problem details, correlation ids, the key store."""
    app = FastAPI()
    problems.install(app)
    for router in routers:
        app.include_router(router)
    app.add_middleware(Correlate, service=name)
    app.state.keys = keys
    for key, value in state.items():
        setattr(app.state, key, value)
    return app


@contextlib.asynccontextmanager
async def portal_beside(stack: Any, *services: str) -> AsyncIterator[tuple[FastAPI, InProcess]]:
    """The portal (its own schema) calling `services` in this process; register their apps in
    the transport (`transport.apps[name] = service_app(...)`) before a page calls them."""
    transport = InProcess()
    urls = {name: f"http://{name}" for name in services}
    async with (
        fresh_schema(stack.database_url) as schema,
        running_portal(
            stack.database_url, schema, transport=transport, TALENTLOOP_SERVICE_URLS=json.dumps(urls)
        ) as portal,
    ):
        yield portal, transport


def support_service(portal: FastAPI, world: Any, pool: Any) -> FastAPI:
    """The support service's routes in process beside `portal`, on `pool`, with the test world
    of tests/integration/test_support_requests.py (its clock, settings, stale rule and box)."""
    from plumbing.destinations import Destinations
    from services.support.app import DEFINITION as SUPPORT
    from tests.integration.test_support_requests import BOX, RULE

    return service_app(
        "support",
        SUPPORT.routers,
        apikeys.ApiKeys(portal.state.pool, cache_s=0),
        pool=pool,
        deps=world.deps,
        stale_rule=RULE,
        settings=world.deps.settings,
        webhook_box=BOX,
        destinations=Destinations(allow_loopback_http=True),
    )
