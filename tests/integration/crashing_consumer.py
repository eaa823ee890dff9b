"""A consumer process for the crash test: the services' own consumer wiring, plus a crash.

With --crash-after N it applies N events (one record per batch) and then dies (os._exit)
right after the N-th event's database transaction committed and before the consume loop
commits its offset: the worst moment. Without it, it runs until it has processed --expect records, then writes
its counts as JSON to --counts and exits 0.

Both processes join the group as the same static member (group.instance.id): the second one
takes the crashed one's place at once, where a new dynamic member waits until the crashed
one's session times out (10 s). Which member reads from the committed offset is not what the
test is about; what the consumer does from there is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections import Counter
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer

from plumbing import consume_loop, db
from plumbing.consume_loop import ConsumeLoop
from plumbing.consumer import EventConsumer, Record
from plumbing.kafka import new_producer


async def apply(ctx, env, payload):  # type: ignore[no-untyped-def]
    await ctx.conn.execute(
        "INSERT INTO effects VALUES ($1, 1) ON CONFLICT (referral_id) DO UPDATE SET times = effects.times + 1",
        payload.referral_id,
    )


class CrashingConsumer(EventConsumer):
    crash_after: int = 0

    async def process_batch(self, records: Sequence[Record]) -> Counter[str]:
        outcomes = await super().process_batch(records)
        if self.crash_after and self.counts["applied"] >= self.crash_after:
            os._exit(17)  # committed in PostgreSQL; the Kafka offset is not
        return outcomes


def as_static_member(instance: str) -> None:
    """The consume loop's Kafka clients join as the static member `instance`."""

    class StaticMember(AIOKafkaConsumer):
        def __init__(self, *topics: str, **options: object) -> None:
            super().__init__(*topics, group_instance_id=instance, **options)  # type: ignore[arg-type]

    consume_loop.AIOKafkaConsumer = StaticMember  # type: ignore[misc]


async def main(args: argparse.Namespace) -> None:
    as_static_member(f"crash-test-{args.group}")
    pool = await db.create_pool(args.database_url, args.schema)
    producer = new_producer(args.bootstrap, "crash-test")
    await producer.start()
    consumer = CrashingConsumer(args.group, pool, producer, handlers={"referral.submitted.v2": apply})
    consumer.crash_after = args.crash_after
    # Crashing: one record per batch, so the crash falls right after the N-th event.
    loop = ConsumeLoop(consumer, [args.topic], args.bootstrap, max_records=1 if args.crash_after else 500)
    task = asyncio.create_task(loop.run())
    deadline = asyncio.get_running_loop().time() + args.max_seconds
    while consumer.counts["applied"] + consumer.counts["duplicate"] < args.expect:
        if asyncio.get_running_loop().time() > deadline:
            raise SystemExit(f"gave up after {args.max_seconds}s with counts {dict(consumer.counts)}")
        await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await producer.stop()
    await pool.close()
    with open(args.counts, "w") as f:
        json.dump(dict(consumer.counts), f)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("bootstrap", "database-url", "schema", "topic", "group", "counts"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--crash-after", type=int, default=0)
    parser.add_argument("--expect", type=int, default=10**9)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    asyncio.run(main(parser.parse_args()))
