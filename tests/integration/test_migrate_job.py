"""The Helm chart's migration Job (python -m deploy.migrate) on the real database: every
service's schema migrated; a second run (the next release's hook) applies nothing."""

from __future__ import annotations

import asyncpg
import pytest

from deploy.migrate import migrate_all

pytestmark = pytest.mark.integration


async def test_every_service_s_migrations_are_applied_once(stack):
    await migrate_all(stack.database_url)  # whatever an earlier test or service already applied
    again = await migrate_all(stack.database_url)
    assert set(again) == {"intake", "routing", "employer_gateway", "outcomes", "support", "console", "portal"}
    assert all(names == [] for names in again.values()), again
    conn = await asyncpg.connect(stack.database_url)
    try:
        applied = await conn.fetchval("SELECT count(*) FROM outcomes.schema_migrations")
        keys = await conn.fetchval("SELECT to_regnamespace('credentials') IS NOT NULL")
    finally:
        await conn.close()
    assert applied > 1 and keys
