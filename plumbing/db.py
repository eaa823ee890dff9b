"""PostgreSQL access: one schema per service, migrations as readable SQL files."""

from __future__ import annotations

import hashlib
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


class MigrationChanged(RuntimeError):
    """An applied migration file is not what was applied: its content changed since."""


def checksum(path: Path) -> str:
    """sha256 of a migration file's text (line endings normalized: a checkout that turns LF into
    CRLF has not changed what the file does)."""
    return hashlib.sha256(path.read_text().replace("\r\n", "\n").encode()).hexdigest()


async def migrate(pool: asyncpg.Pool, *dirs: Path) -> list[str]:
    """Apply every not-yet-applied `*.sql` file, in name order, each in its own transaction.

    The shared plumbing tables come first; a service passes its own `migrations/` folder.
    An advisory lock keeps two processes of one service from migrating at once.

    Each applied file's checksum is kept (`schema_migrations.checksum`); an applied file whose
    content differs now is refused (MigrationChanged, naming every such file) before anything
    is applied: what the schema holds follows from the files as they were applied, so a change
    belongs in a new file. A file applied before checksums were kept gets its checksum recorded
    the first time this runs.
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
                "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now(), checksum text);"
                "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text"
            )
            done = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT name, checksum FROM schema_migrations")}
            files = [
                (f"{folder.parent.name}/{path.name}", path, checksum(path))
                for folder in (PLUMBING_SQL, *dirs)
                for path in sorted(folder.glob("*.sql"))
            ]
            changed = [
                f"{name} (applied {done[name][:12]}, now {digest[:12]})"
                for name, _, digest in files
                if done.get(name) not in (None, digest)
            ]
            if changed:
                raise MigrationChanged(
                    f"applied migrations of schema {schema} were edited since: {', '.join(changed)}. "
                    "Restore them as they were and put the change in a new migration file."
                )
            for name, path, digest in files:
                if name in done:
                    if done[name] is None:
                        await conn.execute("UPDATE schema_migrations SET checksum = $2 WHERE name = $1", name, digest)
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text())
                    await conn.execute("INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", name, digest)
                applied.append(name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", schema)
    return applied


# Schemas that hold what the network cannot rebuild: the services' own and the key vault.
PROTECTED_SCHEMAS = frozenset(
    {"intake", "routing", "employer_gateway", "outcomes", "support", "console", "portal", "keyvault", "public",
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
