"""The consume loop keeps the cyclic collector paused for the whole of a batch (decoding,
applying, committing), and on again after it, so no young collection walks a batch that is
still alive (plumbing/consume_loop.py `_apply`)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from types import SimpleNamespace

from aiokafka import TopicPartition

from plumbing import heap
from plumbing.consume_loop import YOUNG_COLLECTION_AFTER_HELD, ConsumeLoop
from plumbing.faults import InfrastructureFault

TP = TopicPartition("t", 0)


class Consumer:
    name = "collector"
    batch_handler = None

    def __init__(self) -> None:
        self.seen: list[bool] = []

    async def process_batch(self, records: list[object]) -> None:
        with heap.paused():  # as the consumer's decoding pauses it: an inner pause ends here
            self.kept = [{"n": i, "parts": [i, str(i)]} for i in range(20_000)]  # a batch's objects
        self.seen.append(gc.isenabled())  # after the inner pause, mid-batch
        await asyncio.sleep(0)  # a statement's round trip: other tasks run meanwhile
        self.seen.append(gc.isenabled())
        del self.kept


class Client:
    def __init__(self) -> None:
        self.commits: list[tuple[dict[TopicPartition, int], bool]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append((offsets, gc.isenabled()))


def test_the_collector_is_off_for_the_whole_batch_and_on_after_it():
    consumer, client = Consumer(), Client()
    loop = ConsumeLoop(consumer, ["t"], "localhost:1")  # type: ignore[arg-type]
    record = SimpleNamespace(topic="t", partition=0, offset=7, key=b"k", value=b"v", headers=())
    assert gc.isenabled()
    walked = []  # collections that ran while the batch's objects were alive

    def count(phase: str, info: dict) -> None:
        if phase == "start" and hasattr(consumer, "kept"):
            walked.append(info["generation"])

    gc.callbacks.append(count)
    try:
        asyncio.run(loop._apply(client, [(TP, [record])]))  # type: ignore[arg-type]
    finally:
        gc.callbacks.remove(count)
    assert consumer.seen == [False, False]
    assert client.commits == [({TP: 8}, False)]
    assert gc.isenabled()
    assert walked == []  # 40,000 containers alive across the inner pause's end: never walked


def test_a_faults_backoff_is_waited_out_with_the_collector_on():
    class Failing(Consumer):
        async def process_batch(self, records: list[object]) -> None:
            raise InfrastructureFault("database away")

    loop = ConsumeLoop(Failing(), ["t"], "localhost:1")  # type: ignore[arg-type]
    during: list[bool] = []

    async def backoff(lane: int, reason: str) -> None:
        during.append(gc.isenabled())

    loop._fault = backoff  # type: ignore[method-assign]
    record = SimpleNamespace(topic="t", partition=0, offset=7, key=b"k", value=b"v", headers=())
    client = Client()
    client.seek = lambda tp, offset: None  # type: ignore[attr-defined]
    asyncio.run(loop._apply(client, [(TP, [record])]))  # type: ignore[arg-type]
    assert during == [True]  # the pause ended before the backoff began
    assert client.commits == []  # nothing applied, nothing committed


def test_batches_that_end_while_another_lane_holds_the_pause_still_have_their_cycles_collected():
    """Outcomes' two lanes under a backlog: one lane's batch always holds the pause while the
    other's ends, so the collector would never come on again by itself."""

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    left: list[weakref.ref] = []

    class Leaving(Consumer):
        async def process_batch(self, records: list[object]) -> None:
            garbage = Cycle()  # what a batch leaves in a cycle (a caught exception's traceback)
            left.append(weakref.ref(garbage))

    loop = ConsumeLoop(Leaving(), ["t"], "localhost:1")  # type: ignore[arg-type]
    record = SimpleNamespace(topic="t", partition=0, offset=7, key=b"k", value=b"v", headers=())
    with heap.paused():  # the other lane's batch, held throughout
        for n in range(YOUNG_COLLECTION_AFTER_HELD):
            asyncio.run(loop._apply(Client(), [(TP, [record])]))  # type: ignore[arg-type]
            assert not gc.isenabled()
            if n < YOUNG_COLLECTION_AFTER_HELD - 1:
                assert left[0]() is not None  # not yet: no collection while the pause holds
        assert all(ref() is None for ref in left)  # the last batch's end collected every one
    assert gc.isenabled()
