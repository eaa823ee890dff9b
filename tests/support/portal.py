"""The portal in the test's own process, on a schema of its own, and a cookie-keeping client
that reads the CSRF token off each form (tests/integration/test_portal_*.py)."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from plumbing.settings import Settings
from plumbing.vault import new_master_key
from services.portal import passwords, store
from services.portal.app import create_app
from services.portal.config import PortalSettings

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse battery staple"


class ToService(httpx.AsyncBaseTransport):
    """The portal's calls to `http://<host>` go to that service's API app in this process; the
    app is set once the portal's pool (and so the key store it issues the organisation's key
    into) exists."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.app: FastAPI | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert self.app is not None and request.url.host == self.host, request.url
        return await httpx.ASGITransport(app=self.app).handle_async_request(request)


@contextlib.asynccontextmanager
async def running_portal(
    database_url: str,
    schema: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    master_key: str | None = None,
    **settings: Any,
) -> AsyncIterator[FastAPI]:
    """The portal app with its lifespan running (pool, migrations), as a process would be."""
    # argon2id at its lowest cost: the same algorithm and code, a tenth of the time on a busy machine.
    env = {
        "DATABASE_URL": database_url,
        "TALENTLOOP_MASTER_KEY": master_key or new_master_key(),
        "TALENTLOOP_PORTAL_ARGON2_TIME_COST": "1",
        "TALENTLOOP_PORTAL_ARGON2_MEMORY_KIB": "8192",
        **settings,
    }
    app = create_app(Settings(**env), PortalSettings(**env), transport=transport, schema=schema)
    async with app.router.lifespan_context(app):
        yield app


@contextlib.asynccontextmanager
async def fresh_schema(database_url: str) -> AsyncIterator[str]:
    schema = f"portal_t_{uuid.uuid4().hex[:10]}"
    try:
        yield schema
    finally:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await conn.close()


async def member(
    pool: asyncpg.Pool, kind: str, tenant_id: str, role: str, email: str | None = None, password: str = PASSWORD
) -> dict[str, str]:
    """An organisation (created if missing) with one more user; their e-mail and ids."""
    org_id = await store.ensure_org(pool, kind, tenant_id, tenant_id.replace("-", " ").title())
    email = email or f"{role}-{uuid.uuid4().hex[:8]}@{tenant_id}.example.org"
    async with pool.acquire() as conn:
        user_id = await store.create_user(
            conn, org_id, email, f"{role} of {tenant_id}", role, passwords.hash_password(password), None
        )
    assert user_id is not None
    return {"email": email, "password": password, "org_id": org_id, "user_id": user_id}


class Browser:
    """A visitor's cookie jar against the app, from a given client address."""

    def __init__(
        self, app: FastAPI, address: str = "127.0.0.1", base_url: str = "http://portal", cookie: str | None = None
    ) -> None:
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(address, 40000)),
            base_url=base_url,
            follow_redirects=False,
            cookies={"talentloop_portal": cookie} if cookie else None,
        )

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def csrf(self, path: str = "/sign-in") -> str:
        page = await self.http.get(path)
        assert page.status_code == 200, (path, page.status_code, page.text[:300])
        found = CSRF.search(page.text)
        assert found is not None, f"no CSRF token on {path}"
        return found.group(1)

    async def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        token = await self.csrf("/sign-in")
        return await self.http.post("/sign-in", data={"email": email, "password": password, "csrf_token": token})

    async def post(self, path: str, data: dict[str, Any], form_page: str, **kwargs: Any) -> httpx.Response:
        token = await self.csrf(form_page)
        return await self.http.post(path, data={**data, "csrf_token": token}, **kwargs)

    @property
    def session_cookie(self) -> str | None:
        return self.http.cookies.get("talentloop_portal")
