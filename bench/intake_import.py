"""Benchmark: import CSV rows through the real stack (Kafka, PostgreSQL, the intake service).

    .venv/bin/python bench/intake_import.py [--rows 100000] [--warm-up-rows N]

Starts a fresh local stack and the intake service in a temporary state directory,
writes a registrar CSV (Riverbend's adapter) of `--rows` made-up people, imports it with
the same client as `talentloop import`, and stops the clock when every referral is in
intake's database and its `referral.submitted` event is on Kafka. Prints rows/s, the
peak memory (RSS) of the intake process and of the client, and the CPU seconds of intake,
PostgreSQL and Kafka over the import (in total and per row: what travels to another machine's
load; intake's with its CSV worker process, and its own process alone), and writes them to
bench/results/intake_import.json. `--profile DIR` samples intake
with py-spy (raw stacks in DIR, a summary in the results).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts import topics
from plumbing.kafka import client_options
from talentloop import credentials, importer, network, samples

# Run as a script (`python bench/intake_import.py`) bench/ is on sys.path, the repository root (where
# `bench` is a package) maybe not: put it there, so the imports read one way either way.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import (  # noqa: E402
    CpuMeter,
    PeakRss,
    isolated_network,
    machine,
    py_spy,
    source_tree,
    stack_pids,
    write_results,
)

PARTNER = "riverbend-community-college"
RESULTS = Path(__file__).parent / "results" / "intake_import.json"


async def events_on_kafka(bootstrap: str) -> int:
    consumer = AIOKafkaConsumer(**client_options(bootstrap))
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topics.REFERRALS.name) or set()
        if not parts:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - metadata for a topic we do not subscribe
            parts = consumer.partitions_for_topic(topics.REFERRALS.name) or set()
        tps = [TopicPartition(topics.REFERRALS.name, p) for p in parts]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


async def in_database(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM intake.referrals WHERE partner_id = $1", PARTNER)
    finally:
        await conn.close()


def warm_up(home: Path, net: network.Network, key: str, rows: int) -> int:
    """Import `rows` other people and wait until they are stored and published; how many were accepted."""
    path = home / "warm-up.csv"
    samples.write_csv(path, samples.RIVERBEND_COLUMNS,
                      (samples.riverbend_row(samples.person(n, run="warm"), "warm") for n in range(rows)))
    before = asyncio.run(events_on_kafka(net.bootstrap))
    accepted = importer.import_csv(net.urls["intake"], key, path)["accepted"]
    while (asyncio.run(in_database(net.database_url)) < accepted
           or asyncio.run(events_on_kafka(net.bootstrap)) - before < accepted):
        time.sleep(0.2)
    return accepted


def yardstick(rows: int = 2000) -> float:
    """The machine's speed for this kind of work now: CPU microseconds a row of mapping and
    validating the same registrar rows in this process (no stack involved), so runs on a
    shared machine compare by their ratio to it."""
    from datetime import UTC, datetime  # noqa: PLC0415 - only here

    from services.intake import csv_import, mapping  # noqa: PLC0415

    adapter = mapping.load(Path(__file__).resolve().parents[1] / "deploy" / "adapters" / f"{PARTNER}.csv.yaml")
    batch = [(n + 2, samples.riverbend_row(samples.person(n, run="yardstick"), "yardstick")) for n in range(rows)]
    csv_import._translate(adapter, [(n, dict(r)) for n, r in batch[:100]], datetime.now(UTC))  # noqa: SLF001 - warm caches
    t = time.process_time()
    csv_import._translate(adapter, batch, datetime.now(UTC))  # noqa: SLF001
    return round((time.process_time() - t) / rows * 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--warm-up-rows", type=int, default=0,
                        help="import this many other rows first, unmeasured (a service that has imported before:"
                             " over 1 MiB, about 3,500 rows, its CSV worker process has started)")
    parser.add_argument("--profile", type=Path, help="py-spy intake during the import; raw stacks in this folder")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="tl-bench-") as tmp:
        home = Path(tmp)
        cfg = isolated_network(home)
        csv_path = home / "registrar.csv"
        t = time.monotonic()
        written = samples.write_csv(csv_path, samples.RIVERBEND_COLUMNS,
                                    (samples.riverbend_row(samples.person(n, run="bench"), "bench") for n in range(args.rows)))
        file_mb = round(csv_path.stat().st_size / 1e6, 1)
        print(f"wrote {written} rows ({file_mb} MB) in {time.monotonic() - t:.1f} s")
        try:
            net = network.up(cfg, only=("intake",))
            key = credentials.load_keys(home)[f"partner:{PARTNER}"]
            intake = next(s for s in cfg.services() if s.name == "intake")
            rss = PeakRss(intake.pid())
            rss.start()
            warm = warm_up(home, net, key, args.warm_up_rows) if args.warm_up_rows else 0
            before = asyncio.run(events_on_kafka(net.bootstrap))
            # "intake" counts its children too (the CSV worker process); "intake_process" the
            # service's own process alone (its event loop, and the threads beside it).
            cpu = CpuMeter({"intake": intake.pid(), "intake_process": intake.pid(), **stack_pids(cfg)},
                           own_only=("intake_process",))
            spy = py_spy(args.profile, intake.pid(), "intake") if args.profile else None

            before_yardstick = yardstick()
            t0 = time.monotonic()
            cpu.mark()
            summary = importer.import_csv(net.urls["intake"], key, csv_path)
            t_http = time.monotonic() - t0
            cpu_import = cpu.since_mark()
            if spy is not None:
                spy.send_signal(2)  # py-spy writes its output on SIGINT
                spy.wait(timeout=60)
            while True:
                stored = asyncio.run(in_database(net.database_url))
                published = asyncio.run(events_on_kafka(net.bootstrap)) - before
                if stored >= warm + summary["accepted"] and published >= summary["accepted"]:
                    break
                time.sleep(0.2)
            elapsed = time.monotonic() - t0
            after_yardstick = yardstick()
            rss.running = False
            rss.join()
        finally:
            network.discard(cfg)

    client_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = {
        "benchmark": "intake CSV import, end to end",
        "rows": args.rows,
        "warm_up_rows": args.warm_up_rows,
        "accepted": summary["accepted"],
        "rejected": summary["rejected"],
        "duplicates": summary["duplicates"],
        "seconds": round(elapsed, 2),
        "rows_per_s": round(args.rows / elapsed, 1),
        "http_import_seconds": round(t_http, 2),
        "import_rows_per_s": round(args.rows / t_http, 1),
        # During the HTTP import (the relay's publishing mostly overlaps it).
        "cpu_seconds": cpu_import,
        "cpu_ms_per_row": {k: round(1000 * v / args.rows, 3) for k, v in cpu_import.items()},
        "events_published": published,
        # Mapping and validating a registrar row in the benchmark's process, CPU us, before and
        # after the import: the machine's speed beside the figures above.
        "yardstick_translate_us_per_row": [before_yardstick, after_yardstick],
        "intake_peak_rss_mb": round(rss.peak / 2**20, 1),
        "client_peak_rss_mb": round(client_peak / 2**20, 1),
        "file_mb": file_mb,
        "machine": machine(),
        "load_before": [round(x, 2) for x in load_before],
        "source": source_tree(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_results(result, args.out, args.profile, "intake")
    print(f"{result['rows_per_s']} rows/s end to end; intake peak RSS {result['intake_peak_rss_mb']} MiB; "
          f"CPU ms/row {result['cpu_ms_per_row']}; written to {args.out}")


if __name__ == "__main__":
    main()
