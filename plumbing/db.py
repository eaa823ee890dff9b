"""PostgreSQL access: one schema per service, migrations as readable SQL files."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg

PLUMBING_SQL = Path(__file__).parent / "sql"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


async def create_pool(
    database_url: str,
    schema: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    statement_timeout_s: float = 120.0,
    lock_timeout_s: float = 10.0,
) -> asyncpg.Pool:
    """A pool whose connections see only the service's own schema (plus public), with a
    statement and a lock timeout on every connection (a stuck statement fails, as a fault,
    instead of holding a consumer's partition forever)."""
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"bad schema name {schema!r}")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    finally:
        await conn.close()
    return await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        server_settings={
            "search_path": schema,
            "application_name": f"talentloop-{schema}",
            "statement_timeout": str(int(statement_timeout_s * 1000)),
            "lock_timeout": str(int(lock_timeout_s * 1000)),
        },
    )


async def migrate(pool: asyncpg.Pool, *dirs: Path) -> list[str]:
    """Apply every not-yet-applied `*.sql` file, in name order, each in its own transaction.

    The shared plumbing tables come first; a service passes its own `migrations/` folder.
    An advisory lock keeps two processes of one service from migrating at once.
    """
    applied: list[str] = []
    async with pool.acquire() as conn:
        schema = await conn.fetchval("SELECT current_schema()")
        # Migrations may build indexes over large tables and wait for another process's
        # migration: no timeouts here (the pool resets them when the connection returns).
        await conn.execute("SET statement_timeout = 0; SET lock_timeout = 0")
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", schema)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
            for folder in (PLUMBING_SQL, *dirs):
                for path in sorted(folder.glob("*.sql")):
                    name = f"{folder.parent.name}/{path.name}"
                    if name in done:
                        continue
                    async with conn.transaction():
                        await conn.execute(path.read_text())
                        await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
                    applied.append(name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", schema)
    return applied


# Schemas that hold what the network cannot rebuild: the services' own and the key vault.
PROTECTED_SCHEMAS = frozenset(
    {"intake", "routing", "employer_gateway", "outcomes", "support", "console", "keyvault", "public",
     "information_schema"}
)
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def scratch_schema(name: str) -> str:
    """`name`, if it may be dropped and created anew (a rebuild's target); else ValueError.
    Checked before anything is dropped: a plain lower-case identifier, never a live schema."""
    if not _SCHEMA_NAME.match(name):
        raise ValueError(f"{name!r} is not a plain schema name (lower-case letters, digits, _; at most 63)")
    if name in PROTECTED_SCHEMAS or name.startswith("pg_"):
        raise ValueError(f"{name!r} is a live schema of the network; rebuild into another one")
    return name
