"""The Kafka side of consuming: fetch a consumer's records, apply them in batches, commit
exactly what was applied, and wait out faults without skipping or dead-lettering anything.

Why our own loop on aiokafka rather than a FastStream subscriber: FastStream 0.7's batch
message `nack()` seeks back only the first record's partition while `ack()` commits every
assigned partition's position, so a failed batch spanning partitions silently skipped the
records of the others. Here what one fetch returned (up to `BATCH` records, from any of the
loop's partitions) is applied and the only commit is `commit({tp: last applied offset + 1,
...})` for exactly the partitions applied, after `process_batch` returned. Within a batch each
partition's records keep their order. FastStream still describes every channel in the
AsyncAPI documents (`plumbing/subscriber.py`).

One loop, one consumer group (`contracts.topics.consumer_group`), one fetch per consumer in
a process, whatever the number of its topics: a loop per topic cost every service a long
poll, heartbeats and a group of its own per topic (about 20 in the stack: 15-19 % of a core
idle, 4-7 % of the broker's), and under a trickle every topic's fetch was a batch of a few
records paying a transaction of its own. A consumer whose batch handler takes events of any
of its topics together (marked `across_topics`: outcomes, routing, the gateway) applies a
fetch in one transaction; any other applies it a topic at a time, in consecutive transactions (a
partition belongs to one topic, so its order holds either way).

The per-topic groups the services used before (`contracts.topics.topic_group`) had committed
offsets: when a partition is assigned for which the loop's group has committed nothing, the
loop starts at the old group's offset and commits it, so the first start of the new group
neither re-reads the topics' retention nor skips anything (`_CarryOver`).

A consumer whose batch handler is marked `lanes(n)` (outcomes) applies up to n batches at
once, in n lanes of one client: lane i fetches, applies and commits only the partitions whose
number modulo n is i, one batch after the other, as the one lane of any other consumer does.
So a partition is in one batch at a time and its order holds; each lane's commit names its own
partitions only, after its own batch returned, so no commit names an offset not applied. A key
has the same partition number on every topic of the same partition count, so a key's events
of several topics stay in one lane. Why: a batch is a chain of round trips (the process
deriving, then PostgreSQL executing, then the process again), and one batch at a time left the
process idle while PostgreSQL worked and PostgreSQL idle while the process derived
(docs/performance.md, twelfth session); two lanes overlap the two.

On an infrastructure fault (`InfrastructureFault`: PostgreSQL or Kafka away) the lane seeks
every partition it has not finished back to the first record it has not applied, waits with
capped doubling backoff, and fetches again: for as long as it takes. The backoff cap stays
far below `max.poll.interval.ms`, so the process keeps its partitions while it waits. Its
state (paused while any lane is, why, since when, lag per topic) is on `/health` and `/metrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from contracts.topics import MAX_MESSAGE_BYTES, consumer_group, topic_group
from plumbing import heap, metrics
from plumbing.consumer import Record, RecordConsumer
from plumbing.faults import InfrastructureFault, describe
from plumbing.kafka import KafkaSecurity, client_options
from plumbing.logging import get_logger

log = get_logger(__name__)

BATCH = 500
# The broker answers a fetch once it has `FETCH_MIN_BYTES` for it or after `FETCH_MAX_WAIT_MS`
# (Kafka's and aiokafka's defaults; settings `consumer_fetch_*`, docs/performance.md).
FETCH_MAX_WAIT_MS = 500
FETCH_MIN_BYTES = 1
# The carry-over at an assignment: beyond this the broker is taken as away and the client restarted.
CARRY_TIMEOUT_S = 30.0


@dataclass
class LoopState:
    """What `/health` shows of one loop: one entry per topic (`as_dicts`)."""

    topics: tuple[str, ...]
    group: str
    paused_since: float | None = None  # monotonic
    reason: str | None = None
    faults: int = 0
    batches: int = 0
    lag: dict[TopicPartition, int] = field(default_factory=dict)

    def lag_of(self, topic: str) -> int:
        return sum(n for tp, n in self.lag.items() if tp.topic == topic)

    def as_dicts(self) -> list[dict[str, object]]:
        paused = self.paused_since is not None
        return [
            {
                "topic": topic,
                "group": self.group,
                "paused": paused,
                "paused_for_s": round(time.monotonic() - self.paused_since, 1) if paused else 0.0,  # type: ignore[operator]
                "reason": self.reason,
                "faults": self.faults,
                "batches": self.batches,  # the loop's, all its topics
                "lag": self.lag_of(topic),
            }
            for topic in self.topics
        ]


# What a batch handler that takes events of several topics in one batch is marked with.
ACROSS_TOPICS = "across_topics"


def across_topics(handler: Callable[..., object]) -> Callable[..., object]:
    """Mark a batch handler as taking the events of all its consumer's topics in one batch:
    it must not assume that a batch holds one topic's events."""
    setattr(handler, ACROSS_TOPICS, True)
    return handler


# What a batch handler that may run in several transactions of one process at once is marked with.
LANES = "consume_lanes"


def lanes(n: int) -> Callable[[H], H]:
    """Mark a batch handler as safe to apply `n` batches at once in one process (it locks what
    it touches in one order, as several instances of its service need anyway): its loop then
    runs `n` lanes, each over the partitions whose number modulo `n` is the lane's."""
    if n < 1:
        raise ValueError("a consume loop has at least one lane")

    def mark(handler: H) -> H:
        setattr(handler, LANES, n)
        return handler

    return mark


Fetched = list[tuple[TopicPartition, list[object]]]
H = TypeVar("H", bound=Callable[..., object])
# Batches that may end with the collector still off (another lane holding its pause) before a
# young collection runs by hand (`ConsumeLoop._collect_if_held`): it walks the batches alive then,
# so not after every one.
YOUNG_COLLECTION_AFTER_HELD = 64

# The pause of a client restart (no lane's): the first batch applied after it ends it.
_RESTART = -1


def split_by_topic(pending: Fetched, together: bool) -> list[Fetched]:
    """The transactions a fetch is applied in: all of it (`together`), else one per topic in
    the order the topics first came; each partition's records stay whole and in order."""
    if together:
        return [pending] if pending else []
    by_topic: dict[str, Fetched] = {}
    for tp, records in pending:
        by_topic.setdefault(tp.topic, []).append((tp, records))
    return list(by_topic.values())


class _CarryOver(ConsumerRebalanceListener):
    """At an assignment, where the loop's group has committed nothing for a partition, start at
    what the partition's old per-topic group (`topic_group`) committed, and have it committed
    for the new group (`due`, by the loop, which owns the commits).

    Partitions the group is known to have a commit for (`known`, kept by the loop across its
    clients) are left alone: after the first start that is every partition, so a rebalance in
    a broker's failover costs no lookup. The others are looked up with the consumer's own
    coordinator, and only the fresh ones among them with the old groups (the admin client),
    within `CARRY_TIMEOUT_S`. An error or a timeout here (the broker away) is kept in `failed`:
    the loop restarts its client rather than fetch from the partitions' start."""

    def __init__(
        self, loop: ConsumeLoop, client: AIOKafkaConsumer, admin: AIOKafkaAdminClient, known: set[TopicPartition]
    ) -> None:
        self._loop, self._client, self._admin, self._known = loop, client, admin, known
        self._old: dict[str, dict[TopicPartition, int]] = {}  # per topic, read once per client
        self.due: dict[TopicPartition, int] = {}
        self.failed: Exception | None = None

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        for tp in revoked:
            self.due.pop(tp, None)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        unknown = set(assigned) - self._known
        if not unknown:
            return
        # aiokafka calls this from its coordinator task while its fetcher, in another task, may
        # already reset a partition with no commit of the new group to the topic's start and
        # hand its records to `getmany`. Paused before the first await, nothing is fetched
        # until the carried offset is sought; left paused if the carry fails (the loop restarts).
        self._client.pause(*unknown)
        try:
            async with asyncio.timeout(CARRY_TIMEOUT_S):
                await self._carry(unknown)
        except Exception as exc:  # noqa: BLE001 - aiokafka would only log it
            self.failed = exc
        else:
            self._client.resume(*unknown)

    async def _carry(self, unknown: set[TopicPartition]) -> None:
        ordered = sorted(unknown, key=lambda t: (t.topic, t.partition))
        mine = await asyncio.gather(*(self._client.committed(tp) for tp in ordered))
        fresh = [tp for tp, offset in zip(ordered, mine, strict=True) if offset is None or offset < 0]
        self._known.update(tp for tp, offset in zip(ordered, mine, strict=True) if offset is not None and offset >= 0)
        for topic in sorted({tp.topic for tp in fresh} - set(self._old)):
            old = await self._admin.list_consumer_group_offsets(topic_group(self._loop.consumer.name, topic))
            self._old[topic] = {tp: m.offset for tp, m in old.items() if tp.topic == topic and m.offset >= 0}
        for tp in fresh:
            offset = self._old[tp.topic].get(tp)
            if offset is not None:
                self._client.seek(tp, offset)
                self.due[tp] = offset
        if self.due:
            log.info("consumer.offsets_carried_over", group=self._loop.group_id, partitions=len(self.due))


class ConsumeLoop:
    """One consumer group on all of `topics`, applying their records through `consumer`."""

    def __init__(
        self,
        consumer: RecordConsumer,
        topics: Sequence[str],
        bootstrap: str,
        *,
        group_id: str | None = None,
        max_records: int = BATCH,
        poll_ms: int = 100,
        fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS,
        fetch_min_bytes: int = FETCH_MIN_BYTES,
        backoff_s: float = 0.5,
        backoff_cap_s: float = 4.0,
        security: KafkaSecurity | None = None,
    ) -> None:
        if isinstance(topics, str) or not topics:
            raise ValueError("a consume loop takes a non-empty list of topics")
        self.consumer = consumer
        self.topics = tuple(dict.fromkeys(topics))
        self._bootstrap = bootstrap
        self._security = security
        self.group_id = group_id or consumer_group(consumer.name)
        self._max_records = max_records
        self._poll_ms = poll_ms
        self._fetch = {"fetch_max_wait_ms": fetch_max_wait_ms, "fetch_min_bytes": fetch_min_bytes}
        self._backoff_s = backoff_s
        self._backoff_cap_s = backoff_cap_s
        self.state = LoopState(self.topics, self.group_id)
        handler = getattr(consumer, "batch_handler", None)
        self.together = bool(getattr(handler, ACROSS_TOPICS, False))
        self.lanes = int(getattr(handler, LANES, 1))
        self._delay = dict.fromkeys(range(_RESTART, self.lanes), backoff_s)  # per lane
        self._paused: set[int] = set()  # lanes (or _RESTART) in a fault, not recovered yet
        self._held = 0  # batches ended with the collector still off since it last ran (_collect_if_held)
        self.started = asyncio.Event()  # set once the group has its first assignment
        self._next: dict[TopicPartition, int] = {}  # per partition: the offset after the last applied
        self._known: set[TopicPartition] = set()  # partitions the group has a commit for (`_CarryOver`)

    async def run(self) -> None:
        while True:
            options = client_options(self._bootstrap, self._security)
            client = AIOKafkaConsumer(
                **options,
                group_id=self.group_id,
                client_id=f"talentloop-{self.consumer.name}",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                # One record as large as a topic takes must still be fetchable.
                max_partition_fetch_bytes=MAX_MESSAGE_BYTES + 65_536,
                **self._fetch,
            )
            admin = AIOKafkaAdminClient(**options, client_id=f"talentloop-{self.consumer.name}-offsets")
            try:
                await admin.start()
                carry = _CarryOver(self, client, admin, self._known)
                client.subscribe(list(self.topics), listener=carry)
                await client.start()
                await self._consume(client, carry)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop must outlive anything
                # The broker away at start, the client giving up, or a bug: a new client
                # starts from the committed offsets, so nothing unapplied is skipped.
                log.error("consumer.restarting", group=self.group_id, error=describe(exc, 1000))
                await self._fault(_RESTART, f"consumer restarted: {describe(exc)}")
            finally:
                with contextlib.suppress(Exception):
                    await client.stop()
                with contextlib.suppress(Exception):
                    await admin.close()

    async def _consume(self, client: AIOKafkaConsumer, carry: _CarryOver) -> None:
        if self.lanes == 1:
            await self._lane(client, carry, 0)
            return
        # Lanes never end but by an exception: the first one's ends them all and restarts the client.
        tasks = [
            asyncio.create_task(self._lane(client, carry, n), name=f"{self.group_id}-lane-{n}")
            for n in range(self.lanes)
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _partitions(self, client: AIOKafkaConsumer, lane: int) -> list[TopicPartition] | None:
        """What `lane` fetches: every partition (an empty list, for aiokafka) with one lane,
        else the assigned ones of its number; None when it has none (it must not fetch then:
        no partitions is all of them to aiokafka)."""
        if self.lanes == 1:
            return []
        mine = [tp for tp in client.assignment() if tp.partition % self.lanes == lane]
        return mine or None

    async def _lane(self, client: AIOKafkaConsumer, carry: _CarryOver, lane: int) -> None:
        while True:
            mine = self._partitions(client, lane)
            if mine is None:
                self._paused.discard(lane)  # nothing of this lane's is left to wait for
                await asyncio.sleep(self._poll_ms / 1000)
                fetched = {}
            else:
                fetched = await client.getmany(*mine, timeout_ms=self._poll_ms, max_records=self._max_records)
            if carry.failed is not None:
                # Positions of the new group's partitions may be the topics' start: never apply that.
                raise InfrastructureFault(f"carrying the old groups' offsets over failed: {describe(carry.failed)}")
            if client.assignment():
                self.started.set()
            pending = [(tp, records) for tp, records in fetched.items() if records]
            due = [tp for tp in carry.due if tp.partition % self.lanes == lane]
            if due:
                # Not for a partition whose records came now: their commit comes after them.
                offsets = {tp: carry.due.pop(tp) for tp in due}
                await self._commit(client, {tp: n for tp, n in offsets.items() if tp not in fetched})
            if pending:
                await self._apply(client, pending, lane)
            self._update_lag(client)

    async def _apply(self, client: AIOKafkaConsumer, pending: Fetched, lane: int = 0) -> None:
        """`pending` applied and committed with the cyclic collector paused throughout
        (`heap.paused`). The consumer pauses it while it decodes and the handlers while they
        apply, but a pause that ends while the batch is still alive hands the whole batch to
        the next young collection, which walks it (and promotes it, to be walked again) for
        nothing: the batch dies by reference counting when this returns, before the pause
        ends, and the collector's count of young objects falls with it, so no collection
        walks it (docs/performance.md, fifteenth session). A fault's backoff is waited out
        after the pause: an outage can last long, and the rest of the process (its API) keeps
        its collector meanwhile."""
        with heap.paused():
            fault = await self._apply_parts(client, pending, lane)
        self._collect_if_held()
        if fault is not None:
            await self._fault(lane, fault)

    def _collect_if_held(self) -> None:
        """A young collection by hand after every `YOUNG_COLLECTION_AFTER_HELD` batches that
        ended with the collector still off (another lane's batch holding the pause). Lanes
        that always overlap (outcomes' two under a backlog: one applies while the other awaits
        a statement) would otherwise keep it off for as long as the backlog lasts, and what
        their batches left in cycles would pile up. Since the collector last ran every new
        object is young, so a young collection finds all of those cycles."""
        if gc.isenabled():
            self._held = 0
            return
        self._held += 1
        if self._held >= YOUNG_COLLECTION_AFTER_HELD:
            self._held = 0
            gc.collect(0)

    async def _apply_parts(self, client: AIOKafkaConsumer, pending: Fetched, lane: int) -> str | None:
        """Apply and commit `pending` part by part; the infrastructure fault that stopped it, if any."""
        applied: dict[TopicPartition, int] = {}
        parts = split_by_topic(pending, self.together)
        for n, part in enumerate(parts):
            records = [
                Record(r.topic, r.partition, r.offset, r.key, r.value, tuple(r.headers or ()))  # type: ignore[attr-defined]
                for _, raw in part
                for r in raw
            ]
            try:
                await self.consumer.process_batch(records)
            except InfrastructureFault as fault:
                # Nothing of this part or the later ones is committed (what of it was applied
                # before the fault comes again and is a duplicate to the inbox): fetch them
                # again once the fault is waited out; the parts applied before are committed.
                self._rewind(client, [p for later in parts[n:] for p in later])
                await self._done(client, applied)
                return str(fault)
            self._recovered(lane)
            applied.update({tp: raw[-1].offset + 1 for tp, raw in part})  # type: ignore[attr-defined]
        await self._done(client, applied)
        return None

    async def _done(self, client: AIOKafkaConsumer, applied: dict[TopicPartition, int]) -> None:
        if applied:
            self.state.batches += 1
            self._next.update(applied)
            await self._commit(client, applied)

    async def _commit(self, client: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        """Commit exactly `offsets`. A commit that fails after the effect is harmless (the
        records come again and the inbox makes them duplicates), so it is retried a little
        and then left to the next batch's commit."""
        if not offsets:
            return
        for attempt in range(3):
            try:
                await client.commit(offsets)
                self._known.update(offsets)
                return
            except (CommitFailedError, IllegalStateError) as exc:  # a partition moved to another member
                log.info("consumer.commit_superseded", group=self.group_id, error=describe(exc, 300))
                return
            except KafkaError as exc:
                log.warning("consumer.commit_failed", attempt=attempt + 1, error=describe(exc, 300))
                await asyncio.sleep(self._backoff_s * 2**attempt)

    def _rewind(self, client: AIOKafkaConsumer, pending: Iterable[tuple[TopicPartition, list[object]]]) -> None:
        for tp, records in pending:
            try:
                client.seek(tp, records[0].offset)  # type: ignore[attr-defined]
            except (IllegalStateError, KafkaError, AssertionError):
                pass  # no longer ours: its next owner starts from the committed offset

    async def _fault(self, lane: int, reason: str) -> None:
        self._paused.add(lane)
        if self.state.paused_since is None:
            self.state.paused_since = time.monotonic()
            log.warning("consumer.paused", group=self.group_id, reason=reason[:500])
        self.state.reason = reason[:2000]
        self.state.faults += 1
        for topic in self.topics:
            metrics.consumer_fault(self.consumer.name, topic)
            metrics.consumer_state(self.consumer.name, topic, True, self.state.lag_of(topic))
        await asyncio.sleep(self._delay[lane])
        self._delay[lane] = min(self._delay[lane] * 2, self._backoff_cap_s)

    def _recovered(self, lane: int) -> None:
        """`lane` applied a batch (or has no partitions): its fault, and a restart's, are over;
        the loop is paused while another lane is still in one."""
        self._paused -= {lane, _RESTART}
        self._delay[lane] = self._backoff_s
        if self.state.paused_since is not None and not self._paused:
            log.info(
                "consumer.resumed", group=self.group_id, paused_s=round(time.monotonic() - self.state.paused_since, 1)
            )
            self.state.paused_since = None
            self.state.reason = None

    def _update_lag(self, client: AIOKafkaConsumer) -> None:
        lag: dict[TopicPartition, int] = {}
        for tp in client.assignment():
            end, applied = client.highwater(tp), self._next.get(tp)
            if end is not None and applied is not None:
                lag[tp] = max(0, end - applied)
        self.state.lag = lag
        paused = self.state.paused_since is not None
        for topic in self.topics:
            metrics.consumer_state(self.consumer.name, topic, paused, self.state.lag_of(topic))
