"""Intake's use cases on real PostgreSQL, as its integration tests drive them: the service's
dependencies, a valid referral of a person, and submitting one in its own transaction."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from contracts import Envelope
from plumbing import db
from plumbing.context import Deps, source_of
from plumbing.settings import Settings
from plumbing.vault import Vault
from services.intake import application, domain, store
from services.intake.application import Accepted, Duplicate

MIGRATIONS = Path(store.__file__).parent / "migrations"
SECRET = b"integration-secret"


def deps_of(vault: Vault) -> Deps:
    """Intake's dependencies, as the service makes them (its vault, identity secret, clock)."""
    return Deps(source_of("intake"), Settings(TALENTLOOP_PSEUDONYM_KEY=SECRET.decode()), vault=vault)


def person(email: str | None = None, phone: str | None = None, **over) -> domain.ReferralIn:  # type: ignore[no-untyped-def]
    doc = {
        "candidate": {"given_name": "Ana", "family_name": "Diaz", "email": email, "phone": phone},
        "skills": ["Python"],
        "consent": {"share_with_employers": True, "given_at": datetime(2026, 11, 1, tzinfo=UTC).isoformat()},
        **over,
    }
    return domain.validate_referral(doc)


def tag() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def intake(pool) -> Deps:  # type: ignore[no-untyped-def]
    await db.migrate(pool, MIGRATIONS)
    async with pool.acquire() as conn:
        await Vault.ensure_schema(conn)
    return deps_of(Vault(os.urandom(32)))


async def submit(pool: asyncpg.Pool, intake: Deps, partner: str, referral: domain.ReferralIn) -> Accepted | Duplicate:
    async with pool.acquire() as conn, conn.transaction():
        (result,) = await application.submit(intake.bind(conn), partner, [referral], entry="api", correlation_id="t")
    return result


async def outbox(pool: asyncpg.Pool) -> list[Envelope]:
    return [Envelope.from_bytes(r["value"]) for r in await pool.fetch("SELECT value FROM outbox ORDER BY id")]
