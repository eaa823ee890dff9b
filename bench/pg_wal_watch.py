"""Watch the WAL a benchmark's own PostgreSQL writes: a sidecar for bench/pipeline.py and bench/routing.py.

    TMPDIR=/tmp/run-a .venv/bin/python bench/pipeline.py ... &
    .venv/bin/python bench/pg_wal_watch.py --under /tmp/run-a --out /tmp/run-a-wal.json

The benchmarks start a fresh stack in a temporary folder; run one with TMPDIR set to a folder
of its own and give that folder as `--under`: this script finds the PostgreSQL whose data
directory lies below it, connects over TCP every `--interval` seconds and records
`pg_current_wal_lsn()`, `pg_stat_wal` (records, full-page images, bytes), `pg_stat_checkpointer`
(checkpoints timed and requested, buffers written) and how many rows intake's `referrals`
outcomes' `ledger` and routing's `decisions` have had inserted (`pg_stat_user_tables`). It
ends when that server is gone (or `--timeout`), and writes the samples and a summary: WAL
bytes, full-page images and checkpoints from the first referral in intake (bench/routing.py,
which has no intake: the first decision) to the last sample, per referral. The benchmark's
raw-limit COPY and the openings' setup come before, so they are left out.

Why a sidecar: `--pg-statements` gives the WAL of statements only (no commit records,
checkpoints or autovacuum), and loading pg_stat_statements restarts the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import asyncpg
import psutil

SAMPLE = """
SELECT pg_current_wal_lsn() - '0/0'::pg_lsn AS lsn,
       w.wal_records, w.wal_fpi, w.wal_bytes,
       c.num_timed, c.num_requested, c.buffers_written,
       coalesce((SELECT n_tup_ins FROM pg_stat_user_tables WHERE schemaname = 'intake' AND relname = 'referrals'), 0)
           AS referrals,
       coalesce((SELECT n_tup_ins FROM pg_stat_user_tables WHERE schemaname = 'outcomes' AND relname = 'ledger'), 0)
           AS ledger,
       coalesce((SELECT n_tup_ins FROM pg_stat_user_tables WHERE schemaname = 'routing' AND relname = 'decisions'), 0)
           AS decisions,
       current_setting('max_wal_size') AS max_wal_size, current_setting('wal_compression') AS wal_compression,
       current_setting('checkpoint_timeout') AS checkpoint_timeout
FROM pg_stat_wal w, pg_stat_checkpointer c
"""


def find_postmaster(under: str) -> tuple[int, int] | None:
    """(pid, port) of a postmaster whose -D lies below `under`."""
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if not cmd or not cmd[0].endswith("/postgres") or "-D" not in cmd:
            continue
        data = cmd[cmd.index("-D") + 1]
        owner = Path(data).parent / "state-dir"  # relocated PGDATA (run as root): whose it is
        try:
            data = owner.read_text().strip() if owner.exists() else data
        except OSError:
            continue
        if not data.startswith(under):
            continue
        port = next((int(a.split("=", 1)[1]) for a in cmd if a.startswith("port=")), None)
        if port:
            return p.pid, port
    return None


async def watch(under: str, interval: float, timeout: float) -> list[dict]:
    samples: list[dict] = []
    deadline = time.monotonic() + timeout
    conn = None
    while time.monotonic() < deadline:
        found = find_postmaster(under)
        if found is None:
            if samples:
                break  # the server went down after we saw it (the benchmark's end, or its restart)
            await asyncio.sleep(interval)
            continue
        try:
            if conn is None:
                conn = await asyncpg.connect(host="127.0.0.1", port=found[1], user="postgres", database="talentloop",
                                             server_settings={"application_name": "wal_watch"})
            row = await conn.fetchrow(SAMPLE)
            samples.append({"t": round(time.time(), 2), "pid": found[0], **{k: _plain(v) for k, v in row.items()}})
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError):
            # Restarting (pg_stat_statements), or going down: connect again next time.
            if conn is not None:
                conn.terminate()
            conn = None
        await asyncio.sleep(interval)
    return samples


def _plain(v: object) -> object:
    return int(v) if hasattr(v, "as_integer_ratio") and not isinstance(v, float) else v


def summary(samples: list[dict]) -> dict:
    """From the first sample with a referral in intake to the last sample of the same server."""
    if not samples:
        return {}
    last = samples[-1]
    same = [s for s in samples if s["pid"] == last["pid"]]
    unit = "referrals" if last["referrals"] else "decisions"
    start = next((s for s in same if s[unit] > 0), None)
    if start is None:
        return {"note": "no referral reached intake or routing"}
    # The sample before the first referral, when there is one, is the closer start.
    before = [s for s in same if s["t"] < start["t"]]
    start = before[-1] if before else start
    n = last[unit]
    d = {k: last[k] - start[k] for k in ("lsn", "wal_records", "wal_fpi", "wal_bytes", "num_timed", "num_requested",
                                         "buffers_written")}
    return {
        "unit": unit, "referrals": n, "ledger_rows": last["ledger"] - start["ledger"], "seconds": round(last["t"] - start["t"], 1),
        "wal_bytes": d["lsn"], "wal_kb_per_referral": round(d["lsn"] / 1024 / n, 2) if n else None,
        "wal_fpi": d["wal_fpi"], "fpi_per_referral": round(d["wal_fpi"] / n, 3) if n else None,
        "wal_records_per_referral": round(d["wal_records"] / n, 1) if n else None,
        "checkpoints_timed": d["num_timed"], "checkpoints_requested": d["num_requested"],
        "buffers_written_by_checkpoints": d["buffers_written"],
        "settings": {k: last[k] for k in ("max_wal_size", "wal_compression", "checkpoint_timeout")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--under", required=True, help="the benchmark's TMPDIR: its PostgreSQL's data lies below")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    samples = asyncio.run(watch(args.under, args.interval, args.timeout))
    result = {"summary": summary(samples), "samples": samples}
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
