"""The consume loops' `Applier`: batches waiting for a transaction are applied together in the
next one (for a consumer that takes several topics' events at once), each loop's records in
their order; each caller hears of its records' fate; without `together`, one at a time."""

from __future__ import annotations

import asyncio

import pytest

from plumbing.consume_loop import Applier, across_topics, loops_for
from plumbing.consumer import Record
from plumbing.faults import InfrastructureFault

pytestmark = pytest.mark.unit


class Recording:
    """A consumer whose first `process_batch` waits until released, and which fails when asked."""

    def __init__(self) -> None:
        self.batches: list[list[Record]] = []
        self.release = asyncio.Event()
        self.fail_with: BaseException | None = None

    async def process_batch(self, records):  # type: ignore[no-untyped-def]
        self.batches.append(list(records))
        if len(self.batches) == 1:
            await self.release.wait()
        if self.fail_with is not None:
            raise self.fail_with


def records(topic: str, n: int) -> list[Record]:
    return [Record(topic, 0, offset, b"k", b"v") for offset in range(n)]


async def applying(applier: Applier, consumer: Recording, batch: list[Record]) -> asyncio.Task[None]:
    """`batch` handed to `applier`, once the consumer has it (blocked, if it is its first)."""
    seen = len(consumer.batches)
    task = asyncio.create_task(applier.apply(batch))
    while len(consumer.batches) == seen:
        await asyncio.sleep(0)
    return task


async def until_waiting(applier: Applier, n: int) -> None:
    while len(applier._waiting) < n:  # noqa: SLF001 - the condition the test waits for
        await asyncio.sleep(0)


async def test_batches_waiting_for_a_transaction_are_applied_together_in_the_next():
    consumer = Recording()
    applier = Applier(consumer, together=True)  # type: ignore[arg-type]
    first = await applying(applier, consumer, records("a", 2))
    second = asyncio.create_task(applier.apply(records("b", 3)))
    third = asyncio.create_task(applier.apply(records("c", 1)))
    await until_waiting(applier, 2)
    consumer.release.set()
    await asyncio.gather(first, second, third)
    assert [[(r.topic, r.offset) for r in batch] for batch in consumer.batches] == [
        [("a", 0), ("a", 1)],
        [("b", 0), ("b", 1), ("b", 2), ("c", 0)],
    ]
    assert applier.calls == 2


async def test_a_fault_of_the_shared_transaction_reaches_every_loop_in_it():
    consumer = Recording()
    applier = Applier(consumer, together=True)  # type: ignore[arg-type]
    first = await applying(applier, consumer, records("a", 1))
    second = asyncio.create_task(applier.apply(records("b", 1)))
    third = asyncio.create_task(applier.apply(records("c", 1)))
    await until_waiting(applier, 2)
    consumer.fail_with = InfrastructureFault("database away")
    consumer.release.set()
    results = await asyncio.gather(first, second, third, return_exceptions=True)
    assert all(isinstance(r, InfrastructureFault) for r in results)
    assert len(consumer.batches) == 2


async def test_a_loop_cancelled_while_applying_leaves_the_others_a_fault_to_retry():
    consumer = Recording()
    applier = Applier(consumer, together=True)  # type: ignore[arg-type]
    first = await applying(applier, consumer, records("a", 1))
    consumer.release.set()
    await first
    consumer.batches.clear()
    consumer.release.clear()
    leader = await applying(applier, consumer, records("b", 1))
    # "b" is applying and blocked again (first call of the cleared list); "c" waits for it.
    waiting = asyncio.create_task(applier.apply(records("c", 1)))
    await until_waiting(applier, 1)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    consumer.release.set()
    await waiting  # "c" was not in the cancelled call: applied in its own
    assert [[r.topic for r in b] for b in consumer.batches] == [["b"], ["c"]]


async def test_a_loop_cancelled_before_its_turn_is_not_applied():
    consumer = Recording()
    applier = Applier(consumer, together=True)  # type: ignore[arg-type]
    first = await applying(applier, consumer, records("a", 1))
    gone = asyncio.create_task(applier.apply(records("b", 1)))
    stays = asyncio.create_task(applier.apply(records("c", 1)))
    await until_waiting(applier, 2)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    consumer.release.set()
    await asyncio.gather(first, stays)
    assert [[r.topic for r in b] for b in consumer.batches] == [["a"], ["c"]]


async def test_without_together_each_batch_is_applied_on_its_own_in_turn():
    consumer = Recording()
    applier = Applier(consumer)  # type: ignore[arg-type]
    first = await applying(applier, consumer, records("a", 1))
    others = [asyncio.create_task(applier.apply(records(t, 1))) for t in "bc"]
    await asyncio.sleep(0)
    consumer.release.set()
    await asyncio.gather(first, *others)
    assert [[r.topic for r in b] for b in consumer.batches] == [["a"], ["b"], ["c"]]


def test_loops_share_one_applier_together_only_for_a_handler_marked_across_topics():
    class Marked:
        name = "marked"
        batch_handler = across_topics(lambda ctx, items: None)

    class Plain:
        name = "plain"
        batch_handler = staticmethod(lambda ctx, items: None)

    marked = loops_for(Marked(), ["t1", "t2"], "localhost:1")  # type: ignore[arg-type]
    plain = loops_for(Plain(), ["t1", "t2"], "localhost:1")  # type: ignore[arg-type]
    assert marked[0]._applying is marked[1]._applying and marked[0]._applying.together  # noqa: SLF001
    assert plain[0]._applying is plain[1]._applying and not plain[0]._applying.together  # noqa: SLF001
