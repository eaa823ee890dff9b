"""Intake in the test's own process, on a schema of its own, called through httpx's ASGI
transport: the HTTP routes on real PostgreSQL and Kafka without a service process. The caller
is the partner the `X-Partner` header names (the default partner otherwise)."""

from __future__ import annotations

import base64
import dataclasses
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from fastapi import Request

from plumbing.auth import Principal, principal
from plumbing.service import create_app
from plumbing.settings import Settings
from services.intake.app import DEFINITION as INTAKE

RIVERBEND = "riverbend-community-college"


@asynccontextmanager
async def intake_app(
    stack: Any, adapters: Path, default_partner: str = RIVERBEND, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The client (its `app` attribute is the application); the schema is dropped after."""
    definition = dataclasses.replace(INTAKE, name=f"t_intake_{uuid.uuid4().hex[:8]}")
    app = create_app(definition, Settings(
        DATABASE_URL=stack.database_url,
        KAFKA_BOOTSTRAP_SERVERS=stack.bootstrap,
        TALENTLOOP_HTTP_PORT=1,
        TALENTLOOP_OUTBOX_POLL_S=0.1,
        TALENTLOOP_ADAPTERS=str(adapters),
        TALENTLOOP_PSEUDONYM_KEY=uuid.uuid4().hex,
        TALENTLOOP_MASTER_KEY=base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="),
        **settings,
    ))

    def caller(request: Request) -> Principal:
        return Principal("partner", request.headers.get("X-Partner", default_partner))

    app.dependency_overrides[principal] = caller
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://intake", timeout=60.0) as client:
                client.app = app  # type: ignore[attr-defined]
                yield client
    finally:
        conn = await asyncpg.connect(stack.database_url)
        await conn.execute(f"DROP SCHEMA IF EXISTS {definition.name} CASCADE")
        await conn.close()
