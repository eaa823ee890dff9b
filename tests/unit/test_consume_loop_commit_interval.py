"""A lane commits what it applied at most every `COMMIT_EVERY_S`: the batches applied in between
join the next commit, which still names only applied offsets, and what is left uncommitted is
committed when the loop flushes (a revocation, a stop). On the checking client and consumer of
the lanes' test (faults every fifth batch included)."""

from __future__ import annotations

import asyncio
import random
from types import SimpleNamespace

from plumbing.consume_loop import ConsumeLoop
from tests.unit.test_consume_loop_lanes import ALL, SIZE, TOPICS, Client, Consumer


async def applied_all(commit_every_s: float) -> tuple[ConsumeLoop, Client, Consumer]:
    rng = random.Random(3)
    consumer = Consumer(rng, 1)
    client = Client(rng, consumer.applied)
    loop = ConsumeLoop(
        consumer,  # type: ignore[arg-type]
        list(TOPICS),
        "unused:9092",
        backoff_s=0.001,
        backoff_cap_s=0.002,
        commit_every_s=commit_every_s,
    )
    carry = SimpleNamespace(failed=None, due={})
    task = asyncio.create_task(loop._consume(client, carry))  # type: ignore[arg-type]
    try:
        async with asyncio.timeout(20):
            while any(consumer.applied[tp] != set(range(SIZE)) for tp in ALL):
                await asyncio.sleep(0.005)
                if task.done():
                    task.result()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return loop, client, consumer


async def test_batches_within_the_interval_join_one_commit_and_a_flush_commits_the_rest():
    loop, client, consumer = await applied_all(commit_every_s=60.0)
    assert loop.state.batches >= 3
    assert client.commits == 1  # the first batch's; every later one waited for the interval
    assert client.committed != dict.fromkeys(ALL, SIZE)
    await loop.flush(client)  # type: ignore[arg-type]
    assert client.committed == dict.fromkeys(ALL, SIZE)  # checked against what was applied
    assert client.commits == 2


async def test_without_an_interval_every_batch_commits():
    loop, client, consumer = await applied_all(commit_every_s=0.0)
    assert client.commits == loop.state.batches
    assert client.committed == dict.fromkeys(ALL, SIZE)


async def test_a_flush_of_some_partitions_commits_only_those():
    loop, client, consumer = await applied_all(commit_every_s=60.0)
    first = client.committed.copy()
    mine = ALL[:3]
    await loop.flush(client, mine)  # type: ignore[arg-type]
    assert {tp: client.committed[tp] for tp in mine} == dict.fromkeys(mine, SIZE)
    assert {tp: n for tp, n in client.committed.items() if tp not in mine} == {
        tp: n for tp, n in first.items() if tp not in mine
    }
