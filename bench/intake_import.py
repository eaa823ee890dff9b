"""Benchmark: import CSV rows through the real stack (Kafka, PostgreSQL, the intake service).

    .venv/bin/python bench/intake_import.py [--rows 100000] [--batch-size N]

Starts a fresh local stack and the intake service in a temporary state directory,
writes a registrar CSV (Riverbend's adapter) of `--rows` made-up people, imports it with
the same client as `talentloop import`, and stops the clock when every referral is in
intake's database and its `referral.submitted` event is on Kafka. Prints rows/s and the
peak memory (RSS) of the intake process and of the client, and writes them to
bench/results/intake_import.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts import topics
from talentloop import credentials, importer, network, samples

try:  # run as a script, bench/ is on sys.path; as `python -m bench.intake_import`, the repository root is
    from common import PeakRss, isolated_network, machine
except ImportError:
    from bench.common import PeakRss, isolated_network, machine

PARTNER = "riverbend-community-college"
RESULTS = Path(__file__).parent / "results" / "intake_import.json"


async def events_on_kafka(bootstrap: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

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
            before = asyncio.run(events_on_kafka(net.bootstrap))

            t0 = time.monotonic()
            summary = importer.import_csv(net.urls["intake"], key, csv_path)
            t_http = time.monotonic() - t0
            while True:
                stored = asyncio.run(in_database(net.database_url))
                published = asyncio.run(events_on_kafka(net.bootstrap)) - before
                if stored >= summary["accepted"] and published >= summary["accepted"]:
                    break
                time.sleep(0.2)
            elapsed = time.monotonic() - t0
            rss.running = False
            rss.join()
        finally:
            network.down(cfg)

    client_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = {
        "benchmark": "intake CSV import, end to end",
        "rows": args.rows,
        "accepted": summary["accepted"],
        "rejected": summary["rejected"],
        "duplicates": summary["duplicates"],
        "seconds": round(elapsed, 2),
        "rows_per_s": round(args.rows / elapsed, 1),
        "http_import_seconds": round(t_http, 2),
        "events_published": published,
        "intake_peak_rss_mb": round(rss.peak / 2**20, 1),
        "client_peak_rss_mb": round(client_peak / 2**20, 1),
        "file_mb": file_mb,
        "machine": machine(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"{result['rows_per_s']} rows/s end to end; intake peak RSS {result['intake_peak_rss_mb']} MiB; "
          f"written to {RESULTS}")


if __name__ == "__main__":
    main()
