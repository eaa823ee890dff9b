"""The Kafka side of consuming: fetch a partition's records, apply them as one batch, commit
exactly what was applied, and wait out faults without skipping or dead-lettering anything.

Why our own loop on aiokafka rather than a FastStream subscriber: FastStream 0.7's batch
message `nack()` seeks back only the first record's partition while `ack()` commits every
assigned partition's position, so a failed batch spanning partitions silently skipped the
records of the others. Here what one fetch returned (up to `BATCH` records, from any of the
loop's partitions) is one batch, applied in one transaction (split only around a record
that fails), and the only commit is `commit({tp: last applied offset + 1, ...})` for exactly
the partitions of that batch, after `process_batch` returned. One transaction per fetch
rather than per partition: with 12 partitions a fetch of 500 would otherwise be a dozen
transactions of ~40 records, each with its own commit flush, and set-based handlers work
best on many records at once. Within the batch each partition's records keep their order.
FastStream still describes every channel in the AsyncAPI documents (`plumbing/subscriber.py`).

A process's loops of one consumer (one per topic, `loops_for`) fetch at the same time but
apply through one `Applier`, one transaction at a time. A consumer whose batch handler takes
events of any of its topics together (marked `across_topics`: outcomes) has the fetches that
wait while a transaction runs applied together in the next one: a referral with events on
several topics at the same moment is then projected once, not once per topic. Each loop
still commits only its own partitions, once the transaction holding its records committed;
a fault in that transaction rewinds every loop that had records in it.

On an infrastructure fault (`InfrastructureFault`: PostgreSQL or Kafka away) the loop seeks
every partition it has not finished back to the first record it has not applied, waits with
capped doubling backoff, and fetches again: for as long as it takes. The backoff cap stays
far below `max.poll.interval.ms`, so the process keeps its partitions while it waits. Its
state (paused, why, since when, lag) is on `/health` and `/metrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from contracts.topics import MAX_MESSAGE_BYTES, consumer_group
from plumbing import metrics
from plumbing.consumer import Record, RecordConsumer
from plumbing.faults import InfrastructureFault, describe
from plumbing.kafka import KafkaSecurity, client_options
from plumbing.logging import get_logger

log = get_logger(__name__)

BATCH = 500


@dataclass
class LoopState:
    """What `/health` shows of one loop."""

    topic: str
    group: str
    paused_since: float | None = None  # monotonic
    reason: str | None = None
    faults: int = 0
    batches: int = 0
    lag: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        paused = self.paused_since is not None
        return {
            "topic": self.topic,
            "group": self.group,
            "paused": paused,
            "paused_for_s": round(time.monotonic() - self.paused_since, 1) if paused else 0.0,
            "reason": self.reason,
            "faults": self.faults,
            "batches": self.batches,
            "lag": sum(self.lag.values()),
        }


# What a batch handler that takes events of several topics in one batch is marked with.
ACROSS_TOPICS = "across_topics"


def across_topics(handler: Callable[..., object]) -> Callable[..., object]:
    """Mark a batch handler as taking the events of all its consumer's topics in one batch
    (`Applier`): it must not assume that a batch holds one topic's events."""
    setattr(handler, ACROSS_TOPICS, True)
    return handler


class Applier:
    """Applies the batches of one consumer's loops in a process, one `process_batch` (and so
    one transaction, unless it splits) at a time.

    With `together`, the batches that wait for the running one are applied in one call
    after it, each loop's records in their order: `apply` returns (or raises) for each of
    them when that call does. Without it, each batch is applied on its own, in turn."""

    def __init__(self, consumer: RecordConsumer, *, together: bool = False) -> None:
        self.consumer = consumer
        self.together = together
        self._lock = asyncio.Lock()
        self._waiting: list[tuple[Sequence[Record], asyncio.Future[None]]] = []
        self.calls = 0  # process_batch calls made (tests, metrics)

    async def apply(self, records: Sequence[Record]) -> None:
        if not self.together:
            async with self._lock:
                self.calls += 1
                await self.consumer.process_batch(records)
            return
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((records, mine))
        try:
            async with self._lock:
                if not mine.done():  # else another loop's call applied these records
                    await self._apply_waiting(mine)
        finally:
            # Cancelled before its turn: nobody is to apply its records (they were not
            # committed, so they come again).
            self._waiting = [w for w in self._waiting if w[1] is not mine]
        await mine

    async def _apply_waiting(self, mine: asyncio.Future[None]) -> None:
        batch, self._waiting = self._waiting, []
        self.calls += 1
        try:
            await self.consumer.process_batch([r for records, _ in batch for r in records])
        except Exception as exc:  # each loop handles it as if its batch alone had raised it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        except BaseException:
            # This loop is being cancelled (the process stops): the other loops' records were
            # not committed; they fetch them again after waiting, as after a fault.
            mine.cancel()
            for _, future in batch:
                if not future.done():
                    future.set_exception(InfrastructureFault("the loop applying this batch was cancelled"))
            raise
        else:
            for _, future in batch:
                if not future.done():
                    future.set_result(None)


class ConsumeLoop:
    """One consumer group on one topic, applying its records through `consumer`."""

    def __init__(
        self,
        consumer: RecordConsumer,
        topic: str,
        bootstrap: str,
        *,
        group_id: str | None = None,
        max_records: int = BATCH,
        fetch_wait_ms: int = 100,
        backoff_s: float = 0.5,
        backoff_cap_s: float = 4.0,
        applying: Applier | None = None,
        security: KafkaSecurity | None = None,
    ) -> None:
        self.consumer = consumer
        self.topic = topic
        self._bootstrap = bootstrap
        self._security = security
        self.group_id = group_id or consumer_group(consumer.name, topic)
        self._max_records = max_records
        self._fetch_wait_ms = fetch_wait_ms
        self._backoff_s = backoff_s
        self._backoff_cap_s = backoff_cap_s
        self._delay = backoff_s
        self.state = LoopState(topic, self.group_id)
        # Shared by the loops of one consumer in a process (`loops_for`): they fetch at the
        # same time but apply one transaction at a time.
        self._applying = applying or Applier(consumer)
        self.started = asyncio.Event()  # set once the group has its first assignment
        self._next: dict[TopicPartition, int] = {}  # per partition: the offset after the last applied

    async def run(self) -> None:
        while True:
            client = AIOKafkaConsumer(
                self.topic,
                **client_options(self._bootstrap, self._security),
                group_id=self.group_id,
                client_id=f"talentloop-{self.consumer.name}",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                # One record as large as a topic takes must still be fetchable.
                max_partition_fetch_bytes=MAX_MESSAGE_BYTES + 65_536,
            )
            try:
                await client.start()
                await self._consume(client)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop must outlive anything
                # The broker away at start, the client giving up, or a bug: a new client
                # starts from the committed offsets, so nothing unapplied is skipped.
                log.error("consumer.restarting", topic=self.topic, error=describe(exc, 1000))
                await self._fault(f"consumer restarted: {describe(exc)}")
            finally:
                with contextlib.suppress(Exception):
                    await client.stop()

    async def _consume(self, client: AIOKafkaConsumer) -> None:
        while True:
            fetched = await client.getmany(timeout_ms=self._fetch_wait_ms, max_records=self._max_records)
            if client.assignment():
                self.started.set()
            pending = [(tp, records) for tp, records in fetched.items() if records]
            if pending:
                try:
                    await self._apply(client, pending)
                except InfrastructureFault as fault:
                    # Nothing of the batch is committed (a part applied before the fault
                    # comes again and is a duplicate to the inbox): fetch it again once the
                    # fault is waited out.
                    self._rewind(client, pending)
                    await self._fault(str(fault))
            self._update_lag(client)

    async def _apply(self, client: AIOKafkaConsumer, pending: list[tuple[TopicPartition, list[object]]]) -> None:
        records = [
            Record(r.topic, r.partition, r.offset, r.key, r.value, tuple(r.headers or ()))  # type: ignore[attr-defined]
            for _, raw in pending
            for r in raw
        ]
        await self._applying.apply(records)
        self._recovered()
        self.state.batches += 1
        applied = {tp: raw[-1].offset + 1 for tp, raw in pending}  # type: ignore[attr-defined]
        self._next.update(applied)
        await self._commit(client, applied)

    async def _commit(self, client: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        """Commit exactly `offsets`. A commit that fails after the effect is harmless (the
        records come again and the inbox makes them duplicates), so it is retried a little
        and then left to the next batch's commit."""
        for attempt in range(3):
            try:
                await client.commit(offsets)
                return
            except CommitFailedError as exc:  # a partition moved to another member
                log.info("consumer.commit_superseded", topic=self.topic, error=describe(exc, 300))
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

    async def _fault(self, reason: str) -> None:
        if self.state.paused_since is None:
            self.state.paused_since = time.monotonic()
            log.warning("consumer.paused", topic=self.topic, reason=reason[:500])
        self.state.reason = reason[:2000]
        self.state.faults += 1
        metrics.consumer_fault(self.consumer.name, self.topic)
        metrics.consumer_state(self.consumer.name, self.topic, True, sum(self.state.lag.values()))
        await asyncio.sleep(self._delay)
        self._delay = min(self._delay * 2, self._backoff_cap_s)

    def _recovered(self) -> None:
        if self.state.paused_since is not None:
            log.info("consumer.resumed", topic=self.topic, paused_s=round(time.monotonic() - self.state.paused_since, 1))
            self.state.paused_since = None
            self.state.reason = None
        self._delay = self._backoff_s

    def _update_lag(self, client: AIOKafkaConsumer) -> None:
        lag: dict[int, int] = {}
        for tp in client.assignment():
            end, applied = client.highwater(tp), self._next.get(tp)
            if end is not None and applied is not None:
                lag[tp.partition] = max(0, end - applied)
        self.state.lag = lag
        metrics.consumer_state(self.consumer.name, self.topic, self.state.paused_since is not None, sum(lag.values()))


def loops_for(
    consumer: RecordConsumer, topics: Iterable[str], bootstrap: str, security: KafkaSecurity | None = None
) -> list[ConsumeLoop]:
    """One loop (and consumer group) per topic (see `contracts.topics.consumer_group`), whose
    batches are applied one at a time in this process, those waiting meanwhile together if
    the consumer's batch handler is marked `across_topics` (`Applier`).

    One referral's events come on several topics; applied by loops at the same time, their
    transactions lock the same referrals and wait for each other's commits (outcomes measured
    35-43 % of its database time waiting on its own locks). Applied in turn they never wait
    on each other, while each loop still fetches ahead; the process's one core was the limit
    anyway. Several processes of a service still apply at the same time, and their locks
    keep them correct."""
    handler = getattr(consumer, "batch_handler", None)
    applying = Applier(consumer, together=bool(getattr(handler, ACROSS_TOPICS, False)))
    return [ConsumeLoop(consumer, topic, bootstrap, applying=applying, security=security) for topic in topics]
