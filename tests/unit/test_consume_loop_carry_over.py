"""The carry-over of the old per-topic groups' offsets at an assignment must win the race with
aiokafka's fetcher: the listener runs in the coordinator's task while the fetcher, in its own,
may reset a partition the new group never committed to the topic's start and fetch it. The
partitions are paused before the listener's first await and resumed only once sought (a
fresh-clone CI run applied records from before the old groups' offsets when this was not so).
Partitions the group is known to have committed are not touched at all (a rebalance in a
broker's failover must not wait on lookups: a three-broker fault run stalled routing for four
minutes in one), and the lookups are bounded in time."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from plumbing import consume_loop
from plumbing.consume_loop import _CarryOver

A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)


class Client:
    """The consumer as the listener uses it; `committed` answers from the new group's offsets
    once `answer` is set, as a broker round trip would."""

    def __init__(self, mine: dict[TopicPartition, int], answer: asyncio.Event) -> None:
        self.calls: list[tuple[str, object]] = []
        self.paused: set[TopicPartition] = set()
        self.mine, self.answer = mine, answer

    async def committed(self, tp: TopicPartition) -> int | None:
        self.calls.append(("committed", tp))
        await self.answer.wait()
        return self.mine.get(tp)

    def pause(self, *tps: TopicPartition) -> None:
        self.calls.append(("pause", set(tps)))
        self.paused |= set(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.calls.append(("resume", set(tps)))
        self.paused -= set(tps)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.calls.append(("seek", (tp, offset)))


class Admin:
    """The old groups' committed offsets; every lookup waits for `answer`."""

    def __init__(self, offsets: dict[str, dict[TopicPartition, int]], fail: bool = False) -> None:
        self.offsets, self.fail = offsets, fail
        self.answer = asyncio.Event()
        self.asked: list[str] = []

    async def list_consumer_group_offsets(self, group: str) -> dict[TopicPartition, OffsetAndMetadata]:
        self.asked.append(group)
        await self.answer.wait()
        if self.fail:
            raise ConnectionError("broker away")
        return {tp: OffsetAndMetadata(n, "") for tp, n in self.offsets.get(group, {}).items()}


def listener(
    admin: Admin, mine: dict[TopicPartition, int], known: set[TopicPartition] | None = None
) -> tuple[_CarryOver, Client]:
    loop = SimpleNamespace(group_id="svc.events", consumer=SimpleNamespace(name="svc"))
    client = Client(mine, admin.answer)
    return _CarryOver(loop, client, admin, set() if known is None else known), client  # type: ignore[arg-type]


async def test_assigned_partitions_are_paused_before_any_lookup_and_resumed_only_after_the_seek():
    admin = Admin({"svc.a": {A0: 4, A1: 6}})
    known: set[TopicPartition] = set()
    carry, client = listener(admin, {B0: 7}, known)
    task = asyncio.create_task(carry.on_partitions_assigned([A0, A1, B0]))
    await asyncio.sleep(0)  # the listener runs up to its first broker round trip
    assert client.paused == {A0, A1, B0}  # the fetcher cannot hand records over meanwhile
    assert admin.asked == []
    admin.answer.set()
    await task
    assert client.calls == [
        ("pause", {A0, A1, B0}),
        ("committed", A0),
        ("committed", A1),
        ("committed", B0),
        ("seek", (A0, 4)),
        ("seek", (A1, 6)),
        ("resume", {A0, A1, B0}),
    ]
    assert carry.due == {A0: 4, A1: 6} and carry.failed is None
    assert admin.asked == ["svc.a"]  # b's partition is the new group's already: its old group is not asked
    assert known == {B0}  # a0 and a1 become known once the loop commits what is due


async def test_partitions_the_group_is_known_to_have_committed_cost_nothing_at_a_rebalance():
    admin = Admin({"svc.a": {A0: 4}})
    carry, client = listener(admin, {}, known={A0, B0})
    await carry.on_partitions_assigned([A0, B0])  # would wait for `answer` if it asked anything
    assert client.calls == [] and admin.asked == [] and carry.due == {} and carry.failed is None


async def test_a_failed_lookup_leaves_the_partitions_paused_for_the_loop_to_restart_its_client():
    admin = Admin({}, fail=True)
    admin.answer.set()
    carry, client = listener(admin, {})
    await carry.on_partitions_assigned([A0, B0])
    assert isinstance(carry.failed, ConnectionError)
    assert client.paused == {A0, B0}
    assert not [c for c in client.calls if c[0] in ("seek", "resume")]


async def test_a_lookup_that_never_answers_fails_the_carry_within_its_bound(monkeypatch):
    monkeypatch.setattr(consume_loop, "CARRY_TIMEOUT_S", 0.05)
    carry, client = listener(Admin({}), {})  # `answer` is never set
    await carry.on_partitions_assigned([A0])
    assert isinstance(carry.failed, TimeoutError)
    assert client.paused == {A0}
