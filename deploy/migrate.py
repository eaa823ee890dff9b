"""Apply every service's database migrations, then exit: the Helm chart's migration Job (a
pre-install and pre-upgrade hook), so a new version's schema is in place before its pods roll
out. Each service still migrates its own schema on start (plumbing/service.py); both take the
same advisory lock per schema, so they never run a migration twice.

    python -m deploy.migrate   # DATABASE_URL from the environment
"""

from __future__ import annotations

import asyncio

from plumbing import apikeys, db
from plumbing.settings import Settings
from services.console.app import DEFINITION as console
from services.portal import app as portal
from talentloop.specs import definitions


async def migrate_all(database_url: str) -> dict[str, list[str]]:
    """Service name -> the migrations this call applied (the portal's too)."""
    applied = {}
    schemas = [(d.name, d.migrations) for d in [*definitions(), console]] + [(portal.NAME, portal.MIGRATIONS)]
    for name, migrations in schemas:
        pool = await db.create_pool(database_url, name)
        try:
            applied[name] = await db.migrate(pool, migrations)
            async with pool.acquire() as conn:
                await apikeys.ensure_schema(conn)
        finally:
            await pool.close()
    return applied


def main() -> None:
    for service, names in asyncio.run(migrate_all(Settings().database_url)).items():
        print(f"{service}: {len(names)} migration(s) applied {names or ''}".rstrip())


if __name__ == "__main__":
    main()
