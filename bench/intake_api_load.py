"""Benchmark: an offered load of single referrals through intake's `POST /v1/referrals`.

    .venv/bin/python bench/intake_api_load.py [--rate 500] [--seconds 10] [--in-flight 64]

Starts a fresh local stack and the intake service alone in a temporary state directory and
sends `--rate` referrals/s (TalentLoop's own JSON, distinct people) for `--seconds` on a
fixed schedule (open loop, like bench/pipeline.py's offered load: `--in-flight` connections,
a request out on each at most, the rest waiting at the client). Measures the rate intake
answered, the answer time from each request's scheduled time (client queue included) and
from when it went out, the CPU seconds of intake, PostgreSQL, Kafka and the benchmark's own
client per request, intake's peak RSS and the machine's load; writes bench/results/intake_api_load.json (`--out`).
`--profile DIR` samples intake with py-spy.

The yardstick beside it (`--bare-seconds`, 0 for none): the same offer, bodies and client for
that long against a bare ASGI app under uvicorn on the same database (bench/raw_http_db.py:
no framework, the body read, one `SELECT 1`, a small JSON answer), right after intake's run.
Its CPU a request is what this machine charges at this moment for the HTTP round trip alone;
`intake_to_bare_cpu` (intake's CPU a request over the bare app's) compares runs taken at
different loads better than either number alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvloop

from talentloop import credentials, network

# Run as a script (`python bench/intake_api_load.py`) bench/ is on sys.path, the repository root (where
# `bench` is a package) maybe not: put it there, so the imports read one way either way.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import lean_http  # noqa: E402
from bench.common import (  # noqa: E402
    CpuMeter,
    PeakRss,
    isolated_network,
    machine,
    open_loop,
    percentile,
    py_spy,
    serving,
    source_tree,
    stack_pids,
    write_results,
)
from bench.pipeline import API_PARTNER, referral_body  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "intake_api_load.json"
BARE_APP = Path(__file__).parent / "raw_http_db.py"


async def offer(
    url: str, key: str, rate: float, seconds: float, in_flight: int, deadline_s: float, status: int = 201
) -> dict:
    total = max(1, int(rate * seconds))
    given_at = datetime.now(UTC) - timedelta(days=1)
    bodies = [referral_body(i, given_at) for i in range(total)]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    from_scheduled: list[float] = []
    from_sent: list[float] = []
    errors: Counter[str] = Counter()
    skipped = 0
    slots = asyncio.Semaphore(in_flight)
    # A connection a request in flight (bench/lean_http.py): httpx cost the benchmark about a
    # millisecond of CPU a request, on the two cores intake runs on.
    async with lean_http.Pool(url, in_flight, timeout=60.0) as client:
        t0 = time.monotonic()
        hard_deadline = t0 + seconds + deadline_s

        async def one(i: int, scheduled: float) -> None:
            nonlocal skipped
            async with slots:
                sent = time.monotonic()
                if sent > hard_deadline:
                    skipped += 1
                    return
                try:
                    r = await client.request("POST", "/v1/referrals", content=bodies[i], headers=headers)
                except lean_http.HttpError as exc:
                    errors[type(exc).__name__] += 1
                    return
            answered = time.monotonic()
            if r.status_code != status:
                errors[str(r.status_code)] += 1
                return
            from_scheduled.append((answered - scheduled) * 1000)
            from_sent.append((answered - sent) * 1000)

        await open_loop(total, rate, t0, one)
        elapsed = time.monotonic() - t0
    from_scheduled.sort()
    from_sent.sort()

    def ms(values: list[float]) -> dict:
        return {p: round(percentile(values, q), 1) for p, q in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))}

    return {
        "offered": total,
        "offered_per_s": rate,
        "accepted": len(from_scheduled),
        "not_sent": skipped,
        "errors": dict(errors),
        "seconds": round(elapsed, 2),
        "answered_per_s": round(len(from_scheduled) / elapsed, 1),
        "answer_ms_from_scheduled": ms(from_scheduled),
        "answer_ms_from_sent": ms(from_sent),
    }


async def bare_app(database_url: str, rate: float, seconds: float, in_flight: int) -> dict:
    """The yardstick (module docstring): the same offer against bench/raw_http_db.py's bare app."""

    async def probe(url: str) -> None:
        async with lean_http.Client(url, timeout=2.0) as client:
            await client.request("POST", "/v1/referrals", content=b"{}")

    async with serving(BARE_APP, database_url, probe, (lean_http.HttpError, OSError)) as (url, server):
        cpu0 = sum(server.cpu_times()[:2])
        result = await offer(url, "bare", rate, seconds, in_flight, deadline_s=30.0, status=200)
        cpu = sum(server.cpu_times()[:2]) - cpu0
    return {
        "what": "bare ASGI app under uvicorn (bench/raw_http_db.py): the body read, one SELECT 1; same offer and client",
        **{k: result[k] for k in ("offered_per_s", "accepted", "errors", "seconds", "answered_per_s")},
        "cpu_ms_per_request": round(1000 * cpu / max(1, result["accepted"]), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds after the schedule before giving up")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--profile", type=Path, help="py-spy intake during the load; raw stacks in this folder")
    parser.add_argument(
        "--bare-seconds", type=float, default=5.0, help="seconds of the same offer against a bare app after (0: none)"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="tl-bench-") as tmp:
        home = Path(tmp)
        cfg = isolated_network(home)
        try:
            net = network.up(cfg, only=("intake",))
            key = credentials.load_keys(home)[f"partner:{API_PARTNER}"]
            intake = next(s for s in cfg.services() if s.name == "intake")
            rss = PeakRss(intake.pid())
            rss.start()
            cpu = CpuMeter({"intake": intake.pid(), **stack_pids(cfg), "bench": os.getpid()}, own_only=("bench",))
            spy = py_spy(args.profile, intake.pid(), "intake") if args.profile else None
            cpu.mark()
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # as the services run
                result = runner.run(
                    offer(net.urls["intake"], key, args.rate, args.seconds, args.in_flight, args.deadline)
                )
                cpu_s = cpu.since_mark()
                if spy is not None:
                    spy.send_signal(2)  # py-spy writes its output on SIGINT
                    spy.wait(timeout=60)
                rss.running = False
                rss.join()
                bare = None
                if args.bare_seconds > 0:
                    bare = runner.run(bare_app(net.database_url, args.rate, args.bare_seconds, args.in_flight))
        finally:
            network.discard(cfg)

    accepted = max(1, result["accepted"])
    result.update(
        {
            "benchmark": "intake POST /v1/referrals under an offered load",
            "in_flight": args.in_flight,
            "cpu_seconds": cpu_s,
            "cpu_ms_per_request": {k: round(1000 * v / accepted, 3) for k, v in cpu_s.items()},
            "intake_peak_rss_mb": round(rss.peak / 2**20, 1),
            **(
                {
                    "bare_app": bare,
                    "intake_to_bare_cpu": round(1000 * cpu_s["intake"] / accepted / bare["cpu_ms_per_request"], 2),
                }
                if bare and bare["cpu_ms_per_request"] > 0
                else {}
            ),
            "machine": machine(),
            "load_before": [round(x, 2) for x in load_before],
            "source": source_tree(),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    write_results(result, args.out, args.profile, "intake")
    print(
        f"{result['answered_per_s']}/s answered of {args.rate}/s offered; answer p99 "
        f"{result['answer_ms_from_scheduled']['p99']} ms from schedule; intake {result['cpu_ms_per_request']['intake']}"
        f" ms of CPU a request, the bare app {(bare or {}).get('cpu_ms_per_request')}; written to {args.out}"
    )


if __name__ == "__main__":
    main()
