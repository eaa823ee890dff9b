"""The portal: a web application for the people of the coalition's organisations
(docs/portals.md). Server-rendered pages (Jinja2), one stylesheet, a few lines of JavaScript;
accounts, sessions and the audit in its own PostgreSQL schema (`portal`); it acts on the
services over their HTTP APIs with each organisation's own key.

Unlike the services it consumes and publishes no events, so it is assembled here rather than
by plumbing/service.create_app (which starts a Kafka producer and an outbox relay), from the
same parts: the migration runner, the shared key store, problem details for its JSON,
forwarded-header trust, body limits and the correlation middleware.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from plumbing import apikeys, db, metrics, problems
from plumbing import clock as clocks
from plumbing.body_limits import install as limit_bodies
from plumbing.business_days import BusinessDays
from plumbing.correlate import Correlate
from plumbing.logging import configure, get_logger
from plumbing.mail import Mailer
from plumbing.mail import describe as mail_describe
from plumbing.service import trust_forwarded
from plumbing.settings import Settings
from plumbing.vault import parse_master_key, parse_previous_master_keys
from services.portal import (
    domain,
    i18n,
    mail_pages,
    oidc,
    pages_account,
    pages_employer,
    pages_keys,
    pages_oidc,
    pages_operators,
    pages_partner,
    pages_partner_demand,
    pages_support,
    pages_support_provider,
    pages_webhooks,
    passwords,
    seed,
    store,
    web,
)
from services.portal.application import Portal
from services.portal.config import PortalSettings
from services.portal.machine_keys import KeyBox, MachineKeys
from services.portal.messages import CODES
from services.portal.services_client import Services, ServicesUnavailable

NAME = "portal"
HERE = Path(__file__).parent
MIGRATIONS = HERE / "migrations"
PRUNE_EVERY_S = 600.0
log = get_logger(__name__)


async def _prune(portal: Portal) -> None:
    while True:
        now = portal.clock()
        try:
            await store.prune(portal.pool, now, now - portal.limit.window)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("portal.prune_failed", error=repr(exc)[:300])
        await asyncio.sleep(PRUNE_EVERY_S)


def create_app(
    settings: Settings | None = None,
    portal: PortalSettings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    schema: str = NAME,
) -> FastAPI:
    """`transport`: how the portal reaches the services (tests pass one; default: the network);
    `schema`: where its tables are (tests use a schema of their own)."""
    settings = settings or Settings()
    portal = portal or PortalSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure(NAME, settings.log_level)
        if settings.master_key is None:
            raise RuntimeError("portal: missing TALENTLOOP_MASTER_KEY (it seals each organisation's API key)")
        i18n.load_all()
        passwords.configure(portal.argon2_time_cost, portal.argon2_memory_kib)
        app.state.oidc = oidc.provider_of(portal)  # None without TALENTLOOP_PORTAL_OIDC_ISSUER
        log.info("portal.oidc", issuer=app.state.oidc.settings.issuer if app.state.oidc else None)
        network_clock: clocks.Clock = clocks.system_clock
        if settings.clock_file is not None:
            network_clock = clocks.simulated(
                settings.clock_file, settings.kafka_bootstrap_servers, settings.database_url
            )
        pool = await db.create_pool(
            settings.database_url,
            schema,
            statement_timeout_s=settings.statement_timeout_s,
            lock_timeout_s=settings.lock_timeout_s,
        )
        applied = await db.migrate(pool, MIGRATIONS)
        async with pool.acquire() as conn:
            await apikeys.ensure_schema(conn)
        keys = apikeys.ApiKeys(pool, cache_s=settings.key_cache_s, grace_s=settings.key_rotation_grace_s)
        http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=300.0), transport=transport)
        box = KeyBox(parse_master_key(settings.master_key), parse_previous_master_keys(settings.master_key_previous))
        machine = MachineKeys(pool, keys, box)
        state = Portal(
            pool=pool,
            services=Services(http, portal.urls(), machine),
            limit=domain.SignInLimit(
                portal.signin_per_account, portal.signin_per_address, timedelta(seconds=portal.signin_window_s)
            ),
            calendar=BusinessDays.from_settings(settings),
            stale_business_days=settings.stale_business_days,
            clock=web.now,
            network_clock=network_clock,
            session_hours=portal.session_hours,
        )
        app.state.pool, app.state.portal, app.state.portal_app = pool, portal, state
        app.state.upload_tasks = set()
        app.state.mailer, app.state.mail_tasks = Mailer(settings), set()  # invitations and links by e-mail
        log.info("portal.mail", smtp=mail_describe(settings))
        if portal.demo_users_file is not None:
            await seed.seed(pool, portal.demo_users_file)
        pruner = asyncio.create_task(_prune(state), name="portal-prune")
        log.info("service.started", migrations=applied, port=settings.port_for(NAME))
        try:
            yield
        finally:
            pruner.cancel()
            for task in list(app.state.upload_tasks):
                task.cancel()
            await asyncio.gather(pruner, *app.state.upload_tasks, return_exceptions=True)
            await http.aclose()
            if app.state.oidc is not None:
                await app.state.oidc.http.aclose()
            await pool.close()
            log.info("service.stopped")

    app = FastAPI(title="TalentLoop portal", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    problems.install(app)
    install_pages(app)
    trust_forwarded(app, settings)
    limit_bodies(app, settings)
    app.add_middleware(Correlate, service=NAME)

    @app.get("/health", include_in_schema=False)
    async def health(request: Request) -> dict[str, Any]:
        try:
            await request.app.state.pool.fetchval("SELECT 1")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise problems.Problem(503, "unhealthy", "Database unreachable", repr(exc)) from None
        return {
            "service": NAME,
            "status": "ok",
            "uploads_running": len(request.app.state.upload_tasks),
            "clock": clocks.describe(request.app.state.portal_app.network_clock),
        }

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        """Prometheus text exposition (request latency by route, from `Correlate`); no auth, no personal data."""
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(pages_account.router)
    app.include_router(pages_partner.router)
    app.include_router(pages_partner_demand.router)
    app.include_router(pages_employer.router)
    app.include_router(pages_operators.router)
    app.include_router(pages_keys.router)
    app.include_router(pages_support.router)
    app.include_router(pages_support_provider.router)
    app.include_router(pages_webhooks.router)
    app.include_router(mail_pages.router)
    app.include_router(pages_oidc.router)
    return app


def install_pages(app: FastAPI) -> None:
    """Errors as pages in the visitor's language; not signed in: to the sign-in page."""

    async def on_page_error(request: Request, exc: web.PageError) -> Response:
        _ = i18n.gettext_for((await web.visitor(request)).language)
        response = await web.page(request, "error.html", status=exc.status, message=_(CODES[exc.message]))
        response.headers.update(exc.headers)
        return response

    async def on_sign_in_first(request: Request, exc: web.SignInFirst) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return web.respond(request, RedirectResponse(f"/sign-in?{urlencode({'next': target})}", status_code=303))

    async def on_unavailable(request: Request, exc: ServicesUnavailable) -> Response:
        log.warning("portal.service_unavailable", error=str(exc))
        return await on_page_error(request, web.PageError(503, "service_unavailable", {"Retry-After": "30"}))

    app.add_exception_handler(web.PageError, on_page_error)  # type: ignore[arg-type]
    app.add_exception_handler(web.SignInFirst, on_sign_in_first)  # type: ignore[arg-type]
    app.add_exception_handler(ServicesUnavailable, on_unavailable)  # type: ignore[arg-type]
