"""Running the `talentloop` operator commands against the test network, as an operator would."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from talentloop.network import NetworkConfig

ROOT = Path(__file__).resolve().parents[2]


def cli(cfg: NetworkConfig, *args: str, stdin: str | None = None, timeout: float = 120.0) -> subprocess.CompletedProcess:
    """`talentloop ARGS --home <the test network's home>` in a new process."""
    return subprocess.run(
        [sys.executable, "-m", "talentloop.cli", *args, "--home", str(cfg.home)],
        capture_output=True, text=True, input=stdin, timeout=timeout, cwd=ROOT,
    )


async def acli(cfg: NetworkConfig, *args: str, stdin: str | None = None, timeout: float = 120.0
               ) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(cli, cfg, *args, stdin=stdin, timeout=timeout)


async def ok_json(cfg: NetworkConfig, *args: str) -> Any:
    r = await acli(cfg, *args, "--json")
    assert r.returncode == 0, f"talentloop {' '.join(args)}: {r.stderr}"
    return json.loads(r.stdout)
