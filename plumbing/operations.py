"""Operating the network: tail, consumer lag, dead letters and their replay, group replay,
parked outbox rows, health.

One implementation for the `talentloop` operator commands (talentloop/ops_cli.py) and the
browser console (services/console/); see docs/operators.md.

- **Tail** reads every event topic with a group-less consumer (nothing is committed, no
  service is disturbed) from now or from a time, and shows each event through an
  allow-list: type, time, ids (referral, partner, employer, opening, pseudonymous
  candidate) and status fields. Skills, contact, credentials and free text never pass.
  A record no consumer could read (not JSON, too deep, a 5,000-digit number, bad UTF-8,
  an unknown type, a payload its contract refuses, or anything else it raises) never
  stops it: it is counted, and shown as an *undecodable* view (its position, key and
  reason, never its bytes) unless a filter excludes it.
- **Lag** compares the committed offsets of each service's consumer groups
  (`contracts.topics.consumer_group(service, role)`: one group per consumer for all its topics)
  with the partitions' end offsets, a row per group and topic.
- **Dead letters** are the records on `talentloop.deadletter.<service>` with their `dlq.*`
  headers. A dead letter's id is `<service>:<partition>:<offset>`.
- **Replaying a dead letter** sends its original key, bytes and headers (without `dlq.*`)
  to its original topic and partition, with `replay.of` naming the dead letter. Events are
  de-duplicated by the consumers' inbox (event id); partner records on
  `talentloop.inbound.<partner>` have no event id, so every replay is recorded in
  `operations.replayed_dead_letters` (one row per dead letter, written in the same
  transaction as the send) and a dead letter already replayed is skipped.
- **Replaying a consumer group** moves a service's committed offsets back (to a time or an
  offset). Kafka accepts that only for a group without members, so the service must be
  stopped: a group with members is refused with a message saying so.
- **Parked outbox rows** are rows a service's outbox relay could not publish (Kafka refused
  them for what they are, e.g. too large); later rows of their key wait behind them
  (`plumbing/outbox.py`). Each service has its own schema and outbox; they are listed,
  released (`retry`) or discarded (kept, marked, by whom) there.
- **Health** asks every service's `/health`, the broker (a metadata request) and the
  database (`SELECT 1`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata
from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import DescribeGroupsRequest_v1, DescribeGroupsRequest_v2
from aiokafka.protocol.api import Request
from aiokafka.structs import OffsetAndMetadata

from contracts import Envelope, payload_of
from contracts import topics as contract_topics
from contracts.envelope import describe_exception
from contracts.topics import dead_letter_topic
from plumbing import outbox
from plumbing.kafka import client_options, new_producer, partitions_of

# The services that consume (each has consumer groups and a dead-letter topic).
CONSUMERS: tuple[str, ...] = ("intake", "routing", "employer_gateway", "outcomes", "support")
# The services that publish through an outbox, each in its own schema (plumbing/db.py).
OUTBOX_SERVICES: tuple[str, ...] = CONSUMERS
EVENT_TOPICS: tuple[str, ...] = tuple(t.name for t in contract_topics.ALL)
INBOUND_PREFIX = f"{contract_topics.PREFIX}.inbound."

# What of an event's `data` may be shown: pseudonymous ids, codes and status fields. Anything
# else (skills, contact, credentials, training, wages, free text) is never shown.
ALLOWED_DATA = (
    "referral_id", "referral_ids", "partner_id", "employer_id", "opening_id", "target_opening_id", "candidate_id",
    "interview_id", "offer_id", "onet_soc_code", "target_onet_soc_code", "status", "previous_status", "reason",
    "outcome", "mode", "attempt", "cancelled_by", "requested_by", "still_employed", "business_days",
    "milestone_days", "schema_version", "enrollment_id", "enrollment_ids", "program_id",
    "request_id", "requester_id", "provider_id", "service_type", "reason_code", "waiting_in",
)
# Events whose `reason` is someone's own words, not a code: a service request's (why the person
# needs it) and its cancellation's. The tail shows their ids and states only.
WORDS_FOR_REASON = ("service.requested.", "service.cancelled.")


class OperationError(Exception):
    """Something an operator asked for cannot be done; the message says why and what to do."""


class GroupBusy(OperationError):
    """A consumer group still has members: its service is running."""


_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")

# --- time ---------------------------------------------------------------------------------

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (UTC if it names no zone) or a duration ago: `30s`, `10m`, `2h`, `1d`."""
    text = text.strip()
    now = now or datetime.now(UTC)
    match = _RELATIVE.match(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise OperationError(f"not a time: {text!r} (use ISO 8601, e.g. 2026-05-01T12:00:00Z, or 10m, 2h, 1d)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


# --- tail ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TailFilter:
    """Which events to show; every given criterion must hold. `types` match by prefix
    (`referral.submitted` matches `referral.submitted.v2`)."""

    types: tuple[str, ...] = ()
    partner: str | None = None
    employer: str | None = None
    referral: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.types or self.partner or self.employer or self.referral)

    def matches(self, envelope: Envelope) -> bool:
        data = envelope.data
        if self.types and not any(envelope.type == t or envelope.type.startswith(t + ".") for t in self.types):
            return False
        # A service request's provider is a partner too (the envelope names its requester).
        if self.partner and self.partner not in (envelope.partnerid, data.get("partner_id"), data.get("provider_id")):
            return False
        if self.employer and self.employer not in (envelope.employerid, data.get("employer_id")):
            return False
        if self.referral and not (
            self.referral in (envelope.subject, data.get("referral_id"))
            or self.referral in (data.get("referral_ids") or ())
        ):
            return False
        return True


def event_view(envelope: Envelope, topic: str, partition: int, offset: int) -> dict[str, Any]:
    """What an operator sees of an event: the allow-listed fields only."""
    return {
        "id": str(envelope.id),
        "type": envelope.type,
        "time": envelope.time.astimezone(UTC).isoformat(),
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "subject": envelope.subject,
        "partner_id": envelope.partnerid,
        "employer_id": envelope.employerid,
        "correlation_id": envelope.correlationid,
        "data": {k: envelope.data[k] for k in _shown(envelope.type) if envelope.data.get(k) is not None},
    }


def _shown(event_type: str) -> tuple[str, ...]:
    if event_type.startswith(WORDS_FOR_REASON):
        return tuple(k for k in ALLOWED_DATA if k != "reason")
    return ALLOWED_DATA


UNDECODABLE_REASON_CHARS = 300


def undecodable_view(record: Any, error: BaseException, envelope: Envelope | None = None) -> dict[str, Any]:
    """What an operator sees of a record no consumer can read: where it is, its key and why,
    never its bytes (they may be anything, a partner's personal data included)."""
    key = record.key.decode("utf-8", "backslashreplace")[:200] if record.key else None
    when = datetime.fromtimestamp(record.timestamp / 1000, UTC).isoformat() if record.timestamp else None
    return {
        "undecodable": True,
        "type": envelope.type if envelope is not None else None,
        "time": when,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": key,
        "size": len(record.value or b""),
        "reason": describe_exception(error, UNDECODABLE_REASON_CHARS),
    }


class Tail:
    """Events across the event topics, from now (default) or from `since`, filtered.

    `async with Tail(...) as tail:` fixes the start positions (so whatever is published
    after it entered is seen); `tail.events()` then yields event views, and `None` after
    every `idle_s` without a matching event when `idle_s` is given (for keep-alives).

    A record that cannot be shown (whatever reading it raises) is counted in `undecodable`
    and yielded as an `undecodable_view` when the filter is empty, or when its envelope
    could be read and matches the filter (its payload is what failed); otherwise skipped.
    """

    def __init__(
        self, bootstrap: str, filt: TailFilter | None = None, since: datetime | None = None,
        topics: Sequence[str] = EVENT_TOPICS,
    ) -> None:
        self.filter = filt or TailFilter()
        self.since = since
        self.topics = list(topics)
        self.undecodable = 0
        self._consumer = AIOKafkaConsumer(
            **client_options(bootstrap), enable_auto_commit=False, client_id="talentloop-tail"
        )

    async def __aenter__(self) -> Tail:
        await self._consumer.start()
        try:
            tps = await partitions_of(self._consumer, self.topics)
            self._consumer.assign(tps)
            ends = await self._consumer.end_offsets(tps) if tps else {}
            starts = dict(ends)
            if self.since is not None and tps:
                found = await self._consumer.offsets_for_times({tp: _ms(self.since) for tp in tps})
                starts = {tp: (found[tp].offset if found.get(tp) is not None else ends[tp]) for tp in tps}
            for tp, offset in starts.items():
                self._consumer.seek(tp, offset)
        except BaseException:
            await self._consumer.stop()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()

    async def events(self, idle_s: float | None = None) -> AsyncIterator[dict[str, Any] | None]:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            batch = await self._consumer.getmany(timeout_ms=300, max_records=500)
            records = sorted((r for recs in batch.values() for r in recs), key=lambda r: (r.timestamp, r.offset))
            for r in records:
                view = self.view(r)
                if view is not None:
                    last = loop.time()
                    yield view
            if idle_s is not None and loop.time() - last >= idle_s:
                last = loop.time()
                yield None


    def view(self, record: Any) -> dict[str, Any] | None:
        """The record as the operator sees it, or None if the filter leaves it out. Never
        raises for what the record holds: a tail that one record can stop is no use when
        something has gone wrong, which is when operators tail."""
        envelope: Envelope | None = None
        matched = self.filter.empty
        try:
            envelope = Envelope.from_bytes(record.value)
            if not self.filter.matches(envelope):
                return None
            matched = True
            payload_of(envelope)  # what every consumer would dead-letter is shown as such
            return event_view(envelope, record.topic, record.partition, record.offset)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the record does, it is the record's
            self.undecodable += 1
            # With a filter, a record shown must be known to match it; the others are counted only.
            return undecodable_view(record, exc, envelope) if matched else None


# --- consumer groups and lag --------------------------------------------------------------


@dataclass
class PartitionLag:
    partition: int
    committed: int | None  # None: the group has committed nothing here yet
    end: int
    lag: int


@dataclass
class GroupLag:
    service: str
    topic: str
    group: str
    state: str
    members: int
    partitions: list[PartitionLag] = field(default_factory=list)

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "lag": self.lag}


def service_of_group(group: str) -> tuple[str, str] | None:
    """(service, role) of one of our services' groups (`<service>.<role>`), else None. The
    per-topic groups of before (`<service>.talentloop.<topic>`, `contracts.topics.topic_group`)
    are no longer read by anyone: their offsets were carried over, and they are not ours."""
    for service in CONSUMERS:
        role = group[len(service) + 1:] if group.startswith(service + ".") else ""
        if role and not role.startswith(contract_topics.PREFIX + "."):
            return service, role
    return None


class _DescribeGroups(Request[DescribeGroupsRequest_v1 | DescribeGroupsRequest_v2]):
    """DescribeGroups at v1/v2 only: aiokafka 0.14 parses a v3 answer with the v2 layout and
    fails ("Buffer underrun") on brokers that offer v3 (Kafka 4)."""

    API_KEY = 15

    def __init__(self, groups: list[str]) -> None:
        self._groups = groups

    def build(self, request_struct_class: Any) -> Any:
        return request_struct_class(self._groups)


async def _describe_groups(admin: AIOKafkaAdminClient, groups: list[str]) -> list[Any]:
    by_node: dict[int, list[str]] = {}
    for group in groups:
        by_node.setdefault(await admin.find_coordinator(group), []).append(group)
    return [await admin._send_request(_DescribeGroups(g), node) for node, g in by_node.items()]  # noqa: SLF001


def _group_states(responses: Iterable[Any]) -> dict[str, tuple[str, int, set[str]]]:
    """group id -> (state, member count, topics its members subscribe to), from raw
    DescribeGroups responses."""
    states: dict[str, tuple[str, int, set[str]]] = {}
    for response in responses:
        for g in response.groups:
            # (error_code, group_id, state, protocol_type, protocol, members[, authorized_operations]);
            # a member: (member_id, client_id, client_host, member_metadata, member_assignment)
            topics = set()
            for member in g[5] if g[3] == "consumer" else ():
                with contextlib.suppress(Exception):  # not a consumer's metadata: no topics
                    topics.update(ConsumerProtocolMemberMetadata.decode(member[3]).subscription)
            states[g[1]] = (g[2], len(g[5]), topics)
    return states


# group -> (service, topics, state, members)
GroupInfo = tuple[str, tuple[str, ...], str, int]


async def our_groups(admin: AIOKafkaAdminClient, service: str | None = None) -> dict[str, GroupInfo]:
    """Our services' consumer groups (of `service` only, if given): group -> (service, topics,
    state, members). A group's topics are those it has committed offsets on and those its
    members subscribe to."""
    listed = [g[0] for g in await admin.list_consumer_groups()]
    ours = {g: service_of_group(g) for g in listed}
    ours = {g: st for g, st in ours.items() if st is not None and (service is None or st[0] == service)}
    states = _group_states(await _describe_groups(admin, sorted(ours))) if ours else {}
    found: dict[str, GroupInfo] = {}
    for g, (svc, _) in sorted(ours.items()):
        state, members, subscribed = states.get(g, ("Unknown", 0, set()))
        committed = await admin.list_consumer_group_offsets(g)
        found[g] = (svc, tuple(sorted(subscribed | {tp.topic for tp in committed})), state, members)
    return found


class Operations:
    """The operator's handle on one network: its broker, database and services' URLs."""

    def __init__(
        self,
        bootstrap: str,
        database_url: str,
        service_urls: dict[str, str] | None = None,
        *,
        event_topics: Sequence[str] = EVENT_TOPICS,
        outbox_schemas: dict[str, str] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.database_url = database_url
        self.service_urls = dict(service_urls or {})
        self.event_topics = list(event_topics)
        # service -> the schema its outbox lives in: the service's name, as plumbing.db names it
        self.outbox_schemas = dict(outbox_schemas or {s: s for s in OUTBOX_SERVICES})
        for schema in self.outbox_schemas.values():
            if not _SCHEMA_NAME.match(schema):
                raise ValueError(f"bad schema name {schema!r}")
        self._pool: asyncpg.Pool | None = None
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Operations:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def pool(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                try:
                    self._pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=3)
                except (OSError, asyncpg.PostgresError) as exc:
                    raise OperationError(f"cannot reach the database ({exc}); is the network up?") from None
                async with self._pool.acquire() as conn:
                    await ensure_schema(conn)
            return self._pool

    async def producer(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = new_producer(self.bootstrap, "talentloop-operations")
                try:
                    await producer.start()
                except KafkaError as exc:
                    await producer.stop()
                    raise OperationError(f"cannot reach Kafka at {self.bootstrap} ({exc})") from None
                self._producer = producer
            return self._producer

    def tail(self, filt: TailFilter | None = None, since: datetime | None = None) -> Tail:
        return Tail(self.bootstrap, filt, since, self.event_topics)

    async def _admin(self) -> AIOKafkaAdminClient:
        admin = AIOKafkaAdminClient(**client_options(self.bootstrap), client_id="talentloop-operations",
                                    request_timeout_ms=10_000)
        try:
            await admin.start()
        except KafkaError as exc:
            await admin.close()
            raise OperationError(f"cannot reach Kafka at {self.bootstrap} ({exc})") from None
        return admin

    async def groups(self, service: str | None = None) -> dict[str, GroupInfo]:
        """Our services' consumer groups (`our_groups`)."""
        admin = await self._admin()
        try:
            return await our_groups(admin, service)
        finally:
            await admin.close()

    async def lag(self, service: str | None = None) -> list[GroupLag]:
        groups = await self.groups(service)
        if not groups:
            # Nothing to measure; and aiokafka's consumer stopped right after its start raises
            # CancelledError (aio-libs/aiokafka#647), so it is not started for nothing.
            return []
        admin = await self._admin()
        consumer = AIOKafkaConsumer(**client_options(self.bootstrap), enable_auto_commit=False)
        await consumer.start()
        try:
            result: list[GroupLag] = []
            for group, (svc, group_topics, state, members) in groups.items():
                committed = await admin.list_consumer_group_offsets(group)
                for topic in group_topics:
                    tps = await partitions_of(consumer, [topic])
                    ends = await consumer.end_offsets(tps) if tps else {}
                    begins = await consumer.beginning_offsets(tps) if tps else {}
                    parts = []
                    for tp in tps:
                        meta = committed.get(tp)
                        done = meta.offset if meta is not None and meta.offset >= 0 else None
                        parts.append(PartitionLag(tp.partition, done, ends[tp],
                                                  max(0, ends[tp] - (done if done is not None else begins[tp]))))
                    result.append(GroupLag(svc, topic, group, state, members, parts))
            return result
        finally:
            await consumer.stop()
            await admin.close()

    # --- dead letters ---------------------------------------------------------------------

    async def dead_letters(
        self, service: str | None = None, topic: str | None = None, since: datetime | None = None
    ) -> list[DeadLetter]:
        services = [service] if service else list(CONSUMERS)
        for s in services:
            if s not in CONSUMERS:
                raise OperationError(f"no service {s!r}; services with dead letters: {', '.join(CONSUMERS)}")
        found = await _read_all(self.bootstrap, [dead_letter_topic(s) for s in services])
        letters = [DeadLetter.of(r) for r in found]
        letters = [d for d in letters if (topic is None or d.original_topic == topic)
                   and (since is None or (d.failed_at is not None and d.failed_at >= since))]
        await self._mark_replayed(letters)
        return sorted(letters, key=lambda d: (d.failed_at or datetime.min.replace(tzinfo=UTC), d.id))

    async def dead_letter(self, letter_id: str) -> DeadLetter:
        service, partition, offset = parse_dead_letter_id(letter_id)
        record = await _read_one(self.bootstrap, TopicPartition(dead_letter_topic(service), partition), offset)
        if record is None:
            raise OperationError(f"no dead letter {letter_id} (see `talentloop dlq list`)")
        letter = DeadLetter.of(record)
        await self._mark_replayed([letter])
        return letter

    async def _mark_replayed(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        pool = await self.pool()
        rows = await pool.fetch(
            "SELECT dead_letter_topic, partition, \"offset\", replayed_at, replayed_by "
            "FROM operations.replayed_dead_letters WHERE dead_letter_topic = ANY($1::text[])",
            sorted({d.topic for d in letters}),
        )
        done = {(r["dead_letter_topic"], r["partition"], r["offset"]): r for r in rows}
        for d in letters:
            row = done.get((d.topic, d.partition, d.offset))
            if row is not None:
                d.replayed_at, d.replayed_by = row["replayed_at"], row["replayed_by"]

    async def replay_dead_letter(self, letter_id: str, by: str = "operator") -> ReplayResult:
        """Send the dead letter's record back to its original topic, once (a second call is a no-op)."""
        letter = await self.dead_letter(letter_id)
        if letter.replayed_at is not None:
            return await self._replay(letter, by, [])
        others = await self.dead_letters(topic=letter.original_topic)
        return await self._replay(letter, by, [d for d in others if d.origin == letter.origin and d.id != letter.id
                                               and d.replayed_at is None])

    async def replay_dead_letters(
        self, service: str | None = None, topic: str | None = None, since: datetime | None = None,
        by: str = "operator",
    ) -> list[ReplayResult]:
        """Replay every dead letter (of `service`, from `topic`, since a time) not replayed yet.

        A record that several consumers of one topic dead-lettered is sent back once: every
        consumer of the topic reads it again."""
        chosen = [d for d in await self.dead_letters(service, topic, since) if d.replayed_at is None]
        everyone = [d for d in await self.dead_letters(None, topic) if d.replayed_at is None]
        results, done = [], set()
        for letter in chosen:
            if letter.id in done:
                continue
            siblings = [d for d in everyone if d.origin == letter.origin and d.id != letter.id and d.id not in done]
            results.append(await self._replay(letter, by, siblings))
            done |= {letter.id, *(d.id for d in siblings)}
        return results

    async def _replay(self, letter: DeadLetter, by: str, siblings: list[DeadLetter]) -> ReplayResult:
        if not letter.original_topic:
            raise OperationError(f"{letter.id} has no dlq.original_topic header: it cannot be replayed")
        pool = await self.pool()
        producer = await self.producer()
        async with pool.acquire() as conn, conn.transaction():
            # The row is the claim: a concurrent replay of the same dead letter waits on it and
            # then finds it taken; if the send fails, the transaction (and the claim) rolls back.
            insert = (
                "INSERT INTO operations.replayed_dead_letters "
                "(dead_letter_topic, partition, \"offset\", original_topic, replayed_by) VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT DO NOTHING RETURNING replayed_at"
            )
            claimed = await conn.fetchval(insert, letter.topic, letter.partition, letter.offset, letter.original_topic, by)
            if claimed is None:
                row = await conn.fetchrow(
                    "SELECT replayed_at, replayed_to_partition, replayed_to_offset FROM operations.replayed_dead_letters"
                    " WHERE dead_letter_topic = $1 AND partition = $2 AND \"offset\" = $3",
                    letter.topic, letter.partition, letter.offset,
                )
                return ReplayResult(letter.id, "already-replayed", letter.original_topic,
                                    row["replayed_to_partition"], row["replayed_to_offset"], row["replayed_at"])
            headers = [(k, v) for k, v in letter.headers if not k.startswith(("dlq.", "replay."))]
            headers += [("replay.of", letter.id.encode()), ("replay.by", by.encode())]
            partition = letter.original_partition
            if partition is not None and partition not in (await producer.partitions_for(letter.original_topic) or set()):
                partition = None
            try:
                meta = await producer.send_and_wait(
                    letter.original_topic, letter.value, key=letter.key, headers=headers, partition=partition
                )
            except KafkaError as exc:
                raise OperationError(f"could not send {letter.id} to {letter.original_topic}: {exc}") from None
            # The other consumers' dead letters of the same record: this one send replays them too.
            also = [d.id for d in siblings
                    if await conn.fetchval(insert, d.topic, d.partition, d.offset, d.original_topic, by) is not None]
            for d in [letter, *(d for d in siblings if d.id in also)]:
                await conn.execute(
                    "UPDATE operations.replayed_dead_letters SET replayed_to_partition = $4, replayed_to_offset = $5 "
                    "WHERE dead_letter_topic = $1 AND partition = $2 AND \"offset\" = $3",
                    d.topic, d.partition, d.offset, meta.partition, meta.offset,
                )
        return ReplayResult(letter.id, "replayed", letter.original_topic, meta.partition, meta.offset, claimed, also)

    # --- replaying a consumer group -------------------------------------------------------

    async def plan_group_replay(
        self, service: str, since: datetime | None = None, offset: int | None = None, topic: str | None = None
    ) -> list[GroupReset]:
        """Where each of `service`'s groups would restart; GroupBusy if any has members."""
        if (since is None) == (offset is None):
            raise OperationError("give exactly one of a time (--from) or an offset (--offset)")
        if service not in CONSUMERS:
            raise OperationError(f"no service {service!r}; services that consume: {', '.join(CONSUMERS)}")
        groups = {g: v for g, v in (await self.groups(service)).items() if topic is None or topic in v[1]}
        if not groups:
            raise OperationError(f"{service} has no consumer groups{' on ' + topic if topic else ''} yet")
        _refuse_busy(service, groups)
        admin = await self._admin()
        consumer = AIOKafkaConsumer(**client_options(self.bootstrap), enable_auto_commit=False)
        await consumer.start()
        try:
            plans = []
            moving = [(g, t) for g, (_, group_topics, _, _) in groups.items() for t in group_topics
                      if topic is None or t == topic]
            for group, group_topic in moving:
                tps = await partitions_of(consumer, [group_topic])
                if not tps:
                    continue
                committed = await admin.list_consumer_group_offsets(group)
                ends = await consumer.end_offsets(tps)
                begins = await consumer.beginning_offsets(tps)
                if since is not None:
                    found = await consumer.offsets_for_times({tp: _ms(since) for tp in tps})
                    target = {tp: found[tp].offset if found.get(tp) is not None else ends[tp] for tp in tps}
                else:
                    target = {tp: min(max(int(offset), begins[tp]), ends[tp]) for tp in tps}  # type: ignore[arg-type]
                moves = []
                for tp in tps:
                    meta = committed.get(tp)
                    moves.append(OffsetMove(tp.partition, meta.offset if meta is not None and meta.offset >= 0 else None,
                                            target[tp], ends[tp]))
                plans.append(GroupReset(service, group_topic, group, moves))
            return plans
        finally:
            await consumer.stop()
            await admin.close()

    async def apply_group_replay(self, plans: list[GroupReset]) -> None:
        """Commit the planned offsets; refused (GroupBusy) if a group has gained members since."""
        if not plans:
            return
        current = await self.groups(plans[0].service)
        _refuse_busy(plans[0].service, {p.group: current[p.group] for p in plans if p.group in current})
        for plan in plans:
            consumer = AIOKafkaConsumer(**client_options(self.bootstrap), group_id=plan.group,
                                        enable_auto_commit=False)
            await consumer.start()
            try:
                offsets = {TopicPartition(plan.topic, m.partition): OffsetAndMetadata(m.to, "") for m in plan.moves}
                consumer.assign(list(offsets))
                try:
                    await consumer.commit(offsets)
                except KafkaError as exc:
                    raise GroupBusy(
                        f"Kafka refused to move {plan.group} ({exc!r}): stop {plan.service} first"
                    ) from None
            finally:
                await consumer.stop()

    # --- parked outbox rows ---------------------------------------------------------------

    def _outbox_services(self, service: str | None) -> list[str]:
        if service is None:
            return list(self.outbox_schemas)
        if service not in self.outbox_schemas:
            raise OperationError(f"no service {service!r}; services with an outbox: {', '.join(self.outbox_schemas)}")
        return [service]

    @contextlib.asynccontextmanager
    async def _in_outbox_of(self, service: str) -> AsyncIterator[asyncpg.Connection | None]:
        """A connection in a transaction that sees `service`'s schema (so plumbing.outbox's
        statements find its outbox), or None if that service has no outbox yet (never started)."""
        schema = self.outbox_schemas[service]
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            if await conn.fetchval("SELECT to_regclass($1)", f"{schema}.outbox") is None:
                yield None
                return
            await conn.execute("SELECT set_config('search_path', $1, true)", schema)  # this transaction only
            yield conn

    async def parked_outbox(self, service: str | None = None, limit: int = 100) -> list[ParkedOutboxRow]:
        """Parked outbox rows of `service` (every service if None), up to `limit` each, oldest first."""
        found: list[ParkedOutboxRow] = []
        for name in self._outbox_services(service):
            async with self._in_outbox_of(name) as conn:
                if conn is not None:
                    found += [ParkedOutboxRow.of(name, row) for row in await outbox.parked(conn, limit)]
        return sorted(found, key=lambda r: (r.parked_at, r.service, r.id))

    async def retry_outbox(self, service: str | None, ids: Sequence[int] | None = None) -> list[OutboxChange]:
        """Release parked rows so the relay tries them again: `ids` of `service`, or every
        parked row (of `service`, or of every service) when `ids` is None."""
        if ids is not None and service is None:
            raise OperationError("outbox row ids are per service: name the service (--service)")
        changes = []
        for name in self._outbox_services(service):
            async with self._in_outbox_of(name) as conn:
                chosen, missing = await _parked_among(conn, ids)
                if conn is not None and chosen:
                    await outbox.release(conn, chosen)
            if ids is not None or chosen:
                changes.append(OutboxChange(name, "retried", chosen, missing))
        return changes

    async def discard_outbox(self, service: str, ids: Sequence[int], by: str) -> OutboxChange:
        """Give up on parked rows of `service`: never published, kept with their reason and
        who discarded them, no longer holding back their key."""
        (name,) = self._outbox_services(service)
        async with self._in_outbox_of(name) as conn:
            chosen, missing = await _parked_among(conn, ids)
            if conn is not None and chosen:
                await outbox.discard(conn, chosen, by)
        return OutboxChange(name, "discarded", chosen, missing)

    # --- health ---------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        async def broker() -> dict[str, Any]:
            try:
                admin = await self._admin()
            except OperationError as exc:
                return {"ok": False, "detail": str(exc)}
            try:
                cluster = await asyncio.wait_for(admin.describe_cluster(), 10)
                return {"ok": True, "detail": f"{len(cluster['brokers'])} broker(s) at {self.bootstrap}"}
            except (KafkaError, TimeoutError) as exc:
                return {"ok": False, "detail": repr(exc)}
            finally:
                await admin.close()

        async def database() -> dict[str, Any]:
            try:
                conn = await asyncio.wait_for(asyncpg.connect(self.database_url), 5)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                return {"ok": False, "detail": f"cannot connect: {exc!r}"}
            try:
                version = await conn.fetchval("SHOW server_version")
                return {"ok": True, "detail": f"PostgreSQL {version}"}
            finally:
                await conn.close()

        async def service(client: httpx.AsyncClient, name: str, url: str) -> tuple[str, dict[str, Any]]:
            try:
                r = await client.get(f"{url}/health")
            except httpx.HTTPError as exc:
                return name, {"ok": False, "url": url, "detail": f"unreachable ({type(exc).__name__})"}
            if r.status_code != 200:
                return name, {"ok": False, "url": url, "detail": f"HTTP {r.status_code}"}
            doc = r.json()
            detail = f"outbox backlog {doc.get('outbox_backlog')}"
            return name, {"ok": True, "url": url, "detail": detail, "health": doc}

        async with httpx.AsyncClient(timeout=5.0) as client:
            b, d, *services = await asyncio.gather(
                broker(), database(), *(service(client, n, u) for n, u in self.service_urls.items())
            )
        report = {"broker": b, "database": d, "services": dict(services)}
        report["ok"] = b["ok"] and d["ok"] and all(s["ok"] for s in report["services"].values())
        return report


async def _parked_among(conn: asyncpg.Connection | None, ids: Sequence[int] | None) -> tuple[list[int], list[int]]:
    """(those of `ids` that are parked, locked until the transaction ends; the others), or
    every parked row when `ids` is None."""
    if conn is None:
        return [], sorted(set(ids or ()))
    # `discarded_at IS NULL` says what `published_at IS NULL` would for a parked row (sql/012)
    # and lets outbox_parked_keys answer it instead of a read of the whole outbox.
    if ids is None:
        rows = await conn.fetch(
            "SELECT id FROM outbox WHERE parked_at IS NOT NULL AND discarded_at IS NULL ORDER BY id FOR UPDATE"
        )
        return [r["id"] for r in rows], []
    wanted = sorted(set(ids))
    rows = await conn.fetch(
        "SELECT id FROM outbox WHERE id = ANY($1::bigint[]) AND parked_at IS NOT NULL AND discarded_at IS NULL"
        " ORDER BY id FOR UPDATE",
        wanted,
    )
    chosen = [r["id"] for r in rows]
    return chosen, [i for i in wanted if i not in set(chosen)]


@dataclass(frozen=True)
class ParkedOutboxRow:
    """One parked row of one service's outbox, as operators see it (never its bytes)."""

    service: str
    id: int
    event_id: str
    topic: str
    key: str
    size: int
    parked_at: datetime
    reason: str
    waiting_behind: int  # later rows of its key held back by it

    @classmethod
    def of(cls, service: str, row: outbox.ParkedRow) -> ParkedOutboxRow:
        return cls(service, row.id, str(row.event_id), row.topic, row.key, row.size, row.parked_at,
                   row.reason or "", row.waiting_behind)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "parked_at": self.parked_at.isoformat()}


@dataclass
class OutboxChange:
    service: str
    action: str  # retried | discarded
    done: list[int]  # rows released or discarded
    not_parked: list[int]  # asked for but not parked (unknown, published, or released/discarded before)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _refuse_busy(service: str, groups: dict[str, GroupInfo]) -> None:
    busy = {g: members for g, (_, _, _, members) in groups.items() if members}
    if busy:
        names = ", ".join(f"{g} ({n} member{'s' if n != 1 else ''})" for g, n in sorted(busy.items()))
        raise GroupBusy(
            f"{service} is running: its consumer groups have members ({names}). Offsets can only be moved while "
            f"the group is empty: stop {service} first (kill its pid in .talentloop/run/{service}.pid), replay, "
            "then `talentloop up` starts it again from the new offsets."
        )


@dataclass
class OffsetMove:
    partition: int
    committed: int | None
    to: int
    end: int


@dataclass
class GroupReset:
    service: str
    topic: str
    group: str
    moves: list[OffsetMove]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReplayResult:
    id: str
    status: str  # replayed | already-replayed
    topic: str
    partition: int | None
    offset: int | None
    replayed_at: datetime | None
    also: list[str] = field(default_factory=list)  # other consumers' dead letters of the same record

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "replayed_at": self.replayed_at.isoformat() if self.replayed_at else None}


# --- dead letters -------------------------------------------------------------------------

_DLQ_ID = re.compile(r"^([a-z_]+):(\d+):(\d+)$")


def dead_letter_id(service: str, partition: int, offset: int) -> str:
    return f"{service}:{partition}:{offset}"


def parse_dead_letter_id(text: str) -> tuple[str, int, int]:
    match = _DLQ_ID.match(text.strip())
    if match is None or match.group(1) not in CONSUMERS:
        raise OperationError(f"not a dead letter id: {text!r} (expected <service>:<partition>:<offset>, e.g. intake:0:12)")
    return match.group(1), int(match.group(2)), int(match.group(3))


@dataclass
class DeadLetter:
    id: str
    service: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    reason: str
    error_type: str
    original_topic: str
    original_partition: int | None
    original_offset: int | None
    attempts: int | None
    failed_at: datetime | None
    errors: list[dict[str, Any]] | None = None  # intake's field errors (dlq.errors)
    replay_of: str | None = None  # the dead letter this record was a replay of, if it was one
    replayed_at: datetime | None = None
    replayed_by: str | None = None

    @classmethod
    def of(cls, record: Any) -> DeadLetter:
        headers = [(k, bytes(v)) for k, v in (record.headers or ())]
        h = {k: v.decode("utf-8", "replace") for k, v in headers}
        service = record.topic.rsplit(".", 1)[-1]
        errors = None
        if "dlq.errors" in h:
            try:
                errors = json.loads(h["dlq.errors"])
            except (ValueError, RecursionError):
                errors = None
        failed_at = None
        if h.get("dlq.failed_at"):
            try:
                failed_at = datetime.fromisoformat(h["dlq.failed_at"])
            except ValueError:
                failed_at = None
        if failed_at is None and record.timestamp:
            failed_at = datetime.fromtimestamp(record.timestamp / 1000, UTC)
        return cls(
            id=dead_letter_id(service, record.partition, record.offset),
            service=service, topic=record.topic, partition=record.partition, offset=record.offset,
            key=record.key, value=record.value or b"", headers=headers,
            reason=h.get("dlq.reason", ""), error_type=h.get("dlq.error_type", ""),
            original_topic=h.get("dlq.original_topic", ""),
            original_partition=_int(h.get("dlq.original_partition")),
            original_offset=_int(h.get("dlq.original_offset")),
            attempts=_int(h.get("dlq.attempts")), failed_at=failed_at, errors=errors,
            replay_of=h.get("replay.of"),
        )

    @property
    def origin(self) -> tuple[str, int | None, int | None]:
        return self.original_topic, self.original_partition, self.original_offset

    def payload(self) -> Any:
        """The original record: its JSON if it is JSON, else its text (bytes not UTF-8 are escaped)."""
        try:
            return json.loads(self.value)
        except (ValueError, RecursionError):  # not JSON, or hostile JSON (deep nesting, huge numbers)
            return self.value.decode("utf-8", "backslashreplace")

    def event_type(self) -> str | None:
        """The original record's CloudEvents type, if it has one (partner records have none)."""
        doc = self.payload()
        return doc.get("type") if isinstance(doc, dict) and isinstance(doc.get("type"), str) else None

    def summary(self) -> dict[str, Any]:
        """Everything but the original payload (which may be a partner's personal data)."""
        return {
            "id": self.id, "service": self.service, "reason": self.reason, "error_type": self.error_type,
            "original_topic": self.original_topic, "original_partition": self.original_partition,
            "original_offset": self.original_offset, "attempts": self.attempts,
            "failed_at": self.failed_at.isoformat() if self.failed_at else None,
            "event_type": self.event_type(), "errors": self.errors, "replay_of": self.replay_of,
            "replayed_at": self.replayed_at.isoformat() if self.replayed_at else None,
            "replayed_by": self.replayed_by,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "key": self.key.decode("utf-8", "backslashreplace") if self.key else None,
                "payload": self.payload()}


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


# The one-shot readers below read up to end offsets they know: a fetch that waits the default
# 500 ms for data that cannot come only delays stopping the consumer (about 1.4 s of every
# `dlq list`, `show` and `replay` over empty topics).
ONE_SHOT_FETCH_WAIT_MS = 50


async def _read_all(bootstrap: str, topics: list[str]) -> list[Any]:
    """Every record on `topics`, from the beginning to the end offsets as they are now."""
    consumer = AIOKafkaConsumer(
        **client_options(bootstrap), enable_auto_commit=False, fetch_max_wait_ms=ONE_SHOT_FETCH_WAIT_MS
    )
    await consumer.start()
    try:
        tps = await partitions_of(consumer, topics)
        if not tps:
            return []
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        begins = await consumer.beginning_offsets(tps)
        pending = {tp for tp in tps if ends[tp] > begins[tp]}
        for tp in tps:
            consumer.seek(tp, begins[tp])
        out: list[Any] = []
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, recs in batch.items():
                out.extend(r for r in recs if r.offset < ends[tp])
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return out
    finally:
        await consumer.stop()


async def _read_one(bootstrap: str, tp: TopicPartition, offset: int) -> Any | None:
    consumer = AIOKafkaConsumer(
        **client_options(bootstrap), enable_auto_commit=False, fetch_max_wait_ms=ONE_SHOT_FETCH_WAIT_MS
    )
    await consumer.start()
    try:
        if tp not in await partitions_of(consumer, [tp.topic]):
            return None
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        begin = (await consumer.beginning_offsets([tp]))[tp]
        if not begin <= offset < end:
            return None
        consumer.seek(tp, offset)
        for _ in range(20):
            batch = await consumer.getmany(tp, timeout_ms=500, max_records=1)
            for r in batch.get(tp, []):
                return r if r.offset == offset else None
        return None
    finally:
        await consumer.stop()


SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS operations;
CREATE TABLE IF NOT EXISTS operations.replayed_dead_letters (
    dead_letter_topic     text        NOT NULL,
    partition             integer     NOT NULL,
    "offset"              bigint      NOT NULL,
    original_topic        text        NOT NULL,
    replayed_at           timestamptz NOT NULL DEFAULT now(),
    replayed_by           text        NOT NULL,
    replayed_to_partition integer,
    replayed_to_offset    bigint,
    PRIMARY KEY (dead_letter_topic, partition, "offset")
);
"""


async def ensure_schema(conn: asyncpg.Connection) -> None:
    """The `operations` schema: which dead letters were replayed (no payloads, no personal data)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('talentloop.operations'))")
        await conn.execute(SCHEMA_SQL)

