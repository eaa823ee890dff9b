"""Running a benchmark script the way a person does (`python bench/<name>.py ...`), as a process
of its own with its own stack on free ports, for the tests that keep the benchmarks working."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args: str, out: Path) -> dict[str, Any]:
    """The results `bench/<script>` wrote to `out` (`--out` is added); fails with its output
    if it exits non-zero."""
    # As from a fresh shell: the test session's Kafka settings (its own broker's super-user,
    # set in this process's environment) are not the benchmark's, whose stack is its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    done = subprocess.run(
        [sys.executable, f"bench/{script}", *args, "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=840, check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return json.loads(out.read_text())
