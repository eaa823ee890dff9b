"""The migration runner (plumbing/db.migrate) keeps each applied file's checksum and refuses an
applied file that was edited since, before applying anything; a file applied before checksums
were kept has its checksum recorded, not refused."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from plumbing import db

pytestmark = pytest.mark.integration


async def test_an_edited_applied_migration_is_refused_and_nothing_new_is_applied(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    folder = tmp_path / "svc" / "migrations"
    folder.mkdir(parents=True)
    first = folder / "001_things.sql"
    first.write_text("CREATE TABLE things (id int PRIMARY KEY);\n")
    assert await db.migrate(pool, folder) == ["svc/001_things.sql"]
    assert await db.migrate(pool, folder) == []  # unchanged: nothing to do, nothing refused
    first.write_text("CREATE TABLE things (id int PRIMARY KEY);\r\n")  # a CRLF checkout is the same file
    assert await db.migrate(pool, folder) == []

    first.write_text("CREATE TABLE things (id bigint PRIMARY KEY);\n")
    (folder / "002_more.sql").write_text("CREATE TABLE more_things (id int);\n")
    with pytest.raises(db.MigrationChanged, match=r"svc/001_things\.sql \(applied [0-9a-f]{12}, now [0-9a-f]{12}\)"):
        await db.migrate(pool, folder)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT to_regclass('more_things')") is None  # refused before applying

    first.write_text("CREATE TABLE things (id int PRIMARY KEY);\n")  # restored as applied
    assert await db.migrate(pool, folder) == ["svc/002_more.sql"]


async def test_files_applied_before_checksums_were_kept_get_theirs_recorded(pool: asyncpg.Pool, tmp_path: Path) -> None:
    folder = tmp_path / "old" / "migrations"
    folder.mkdir(parents=True)
    (folder / "001_a.sql").write_text("CREATE TABLE a (id int);\n")
    await db.migrate(pool, folder)
    async with pool.acquire() as conn:
        await conn.execute("UPDATE schema_migrations SET checksum = NULL")  # as the runner before checksums left it
    assert await db.migrate(pool, folder) == []
    async with pool.acquire() as conn:
        recorded = await conn.fetchval("SELECT checksum FROM schema_migrations WHERE name = 'old/001_a.sql'")
    assert recorded == db.checksum(folder / "001_a.sql")
