"""A consumer whose batch handler is marked `lanes(n)` applies n batches at once (outcomes: one
derived while the other waits for PostgreSQL). The overlap must keep every guarantee of one
batch at a time: a partition (and a partition number, across topics) is in one batch at a
time, in offset order; a commit names only offsets whose records were applied; a batch that
meets an infrastructure fault is fetched again from its first record. Checked on a client and a
consumer that interleave at every await, with faults, many times over."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from types import SimpleNamespace

import pytest
from aiokafka import TopicPartition

from plumbing.consume_loop import ConsumeLoop, across_topics, lanes
from plumbing.consumer import Record
from plumbing.faults import InfrastructureFault

TOPICS = ("a", "b")
PARTITIONS = 6
SIZE = 60  # records a partition
ALL = [TopicPartition(t, p) for t in TOPICS for p in range(PARTITIONS)]


class Client:
    """The consumer as the loop uses it: records handed out from a position per partition (a
    seek moves it back), commits checked against what the consumer has applied when they are
    made."""

    def __init__(self, rng: random.Random, applied: dict[TopicPartition, set[int]]) -> None:
        self.rng, self.applied = rng, applied
        self.position = dict.fromkeys(ALL, 0)
        self.committed: dict[TopicPartition, int] = {}
        self.commits = 0

    def assignment(self) -> set[TopicPartition]:
        return set(ALL)

    def highwater(self, tp: TopicPartition) -> int:
        return SIZE

    async def getmany(self, *partitions: TopicPartition, timeout_ms: int, max_records: int) -> dict:
        await asyncio.sleep(0)
        out: dict[TopicPartition, list[SimpleNamespace]] = {}
        chosen = list(partitions or ALL)
        self.rng.shuffle(chosen)
        for tp in chosen:
            start = self.position[tp]
            take = min(SIZE - start, self.rng.randint(1, 15), max_records - sum(map(len, out.values())))
            if take > 0:
                out[tp] = [
                    SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=o, key=b"k", value=b"v", headers=())
                    for o in range(start, start + take)
                ]
                self.position[tp] = start + take
        if not out:
            await asyncio.sleep(timeout_ms / 1000)
        return out

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.position[tp] = offset

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, n in offsets.items():
            missing = set(range(n)) - self.applied[tp]
            assert not missing, f"commit of {tp} at {n} names offsets not applied: {sorted(missing)[:5]}"
            assert n >= self.committed.get(tp, 0), f"commit of {tp} went back from {self.committed[tp]} to {n}"
            self.committed[tp] = n
        self.commits += 1
        await asyncio.sleep(self.rng.random() / 1000)


class Consumer:
    """Applies a batch over several awaits (a transaction's round trips); every fifth batch
    meets a fault and applies nothing. Records what was applied, and what was in flight at once."""

    name = "lanes_test"

    def __init__(self, rng: random.Random, n_lanes: int) -> None:
        self.rng = rng
        self.applied: dict[TopicPartition, set[int]] = {tp: set() for tp in ALL}
        self.in_flight: Counter[int] = Counter()  # partition numbers of the batches being applied
        self.running = self.most_at_once = self.faults = self.batches = 0

        async def handler(ctx, items):  # type: ignore[no-untyped-def]  # never called: marks the consumer
            raise NotImplementedError

        self.batch_handler = lanes(n_lanes)(across_topics(handler))

    async def process_batch(self, records: list[Record]) -> Counter[str]:
        numbers = {r.partition for r in records}
        clash = numbers & {p for p, n in self.in_flight.items() if n}
        assert not clash, f"partition numbers {clash} in two batches at once"
        by_tp: dict[TopicPartition, list[int]] = {}
        for r in records:
            by_tp.setdefault(TopicPartition(r.topic, r.partition), []).append(r.offset)
        for tp, offsets in by_tp.items():
            # In order, and from the first offset not applied: nothing skipped, after a fault neither.
            assert offsets == list(range(offsets[0], offsets[0] + len(offsets))), offsets
            assert offsets[0] == max(self.applied[tp], default=-1) + 1, (
                tp,
                offsets[0],
                max(self.applied[tp], default=-1),
            )
        self.in_flight.update(numbers)
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            for _ in range(self.rng.randint(1, 4)):
                await asyncio.sleep(self.rng.random() / 500)
            self.batches += 1
            if self.batches % 5 == 0:
                self.faults += 1
                raise InfrastructureFault("the database went away")
            for tp, offsets in by_tp.items():
                self.applied[tp].update(offsets)
        finally:
            self.in_flight.subtract(numbers)
            self.running -= 1
        return Counter(applied=len(records))


@pytest.mark.parametrize("seed", range(8))
async def test_two_lanes_overlap_batches_and_commit_only_what_each_applied(seed):
    rng = random.Random(seed)
    consumer = Consumer(rng, 2)
    client = Client(rng, consumer.applied)
    loop = ConsumeLoop(consumer, list(TOPICS), "unused:9092", backoff_s=0.001, backoff_cap_s=0.002)  # type: ignore[arg-type]
    assert loop.lanes == 2
    carry = SimpleNamespace(failed=None, due={})
    task = asyncio.create_task(loop._consume(client, carry))  # type: ignore[arg-type]
    try:
        async with asyncio.timeout(20):
            while client.committed != dict.fromkeys(ALL, SIZE) or sum(loop.state.lag.values()):
                await asyncio.sleep(0.005)
                if task.done():
                    task.result()  # a check in the client or the consumer failed: say which
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert all(consumer.applied[tp] == set(range(SIZE)) for tp in ALL)
    assert consumer.most_at_once == 2  # the batches did overlap
    assert consumer.faults > 0  # and some were fetched again after a fault
    assert loop.state.paused_since is None


def test_one_lane_unless_the_handler_is_marked():
    rng = random.Random(1)
    consumer = Consumer(rng, 1)
    consumer.batch_handler = across_topics(lambda ctx, items: None)
    assert ConsumeLoop(consumer, list(TOPICS), "unused:9092").lanes == 1  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        lanes(0)
