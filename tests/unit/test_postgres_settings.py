"""The local PostgreSQL's server settings: WAL sized for a backlog, durability untouched.

That the running server has them is checked where a server is started anyway
(tests/integration/test_private_clone.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from deploy import postgres_local

pytestmark = pytest.mark.unit


def fake_bin(tmp_path: Path, configure: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    pg_config = tmp_path / "pg_config"
    pg_config.write_text(f"#!/bin/sh\necho \"{configure}\"\n")
    pg_config.chmod(pg_config.stat().st_mode | stat.S_IXUSR)
    return tmp_path


def test_wal_compression_is_lz4_only_when_the_build_has_it(tmp_path: Path) -> None:
    assert postgres_local.wal_compression(fake_bin(tmp_path / "a", "'--prefix=/x' '--with-lz4'")) == "lz4"
    assert postgres_local.wal_compression(fake_bin(tmp_path / "b", "'--prefix=/x' '--without-icu'")) == "pglz"
    assert postgres_local.wal_compression(tmp_path / "missing") == "pglz"


def test_settings_leave_durability_alone(tmp_path: Path) -> None:
    settings = postgres_local.server_settings(fake_bin(tmp_path, "'--prefix=/x'"))
    assert settings == {"max_wal_size": "4GB", "checkpoint_timeout": "15min"}  # pglz only: not worth its CPU
    assert not {"fsync", "synchronous_commit", "full_page_writes"} & set(settings)


def test_full_page_images_are_compressed_with_lz4_when_the_build_has_it(tmp_path: Path) -> None:
    settings = postgres_local.server_settings(fake_bin(tmp_path, "'--prefix=/x' '--with-lz4'"))
    assert settings["wal_compression"] == "lz4"
