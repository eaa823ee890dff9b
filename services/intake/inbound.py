"""The Kafka entry path: a partner publishes its own JSON records to its inbound topic.

Each record goes through the partner's adapter and then the same `application.submit` as the
HTTP paths. A record that cannot become a referral (not JSON, unmappable, invalid, a
duplicate) is dead-lettered to `talentloop.deadletter.intake` with the reason and a
`dlq.errors` header listing every field error, so the partner can fix and re-publish.
The record's topic, partition and offset are its idempotency key: a redelivery after a
crash changes nothing.

Records on inbound topics are the partner's plaintext personal data. Once processed,
`Truncator` deletes them from the broker (DeleteRecords up to the committed offset), so
they do not outlive their processing; see docs/intake.md on what stays in dead letters.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field

import asyncpg
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.errors import KafkaError

from contracts.topics import consumer_group
from plumbing.consumer import Item, Poison, Record, RecordConsumer
from plumbing.context import Deps
from plumbing.kafka import client_options
from plumbing.logging import get_logger
from services.intake import application, mapping
from services.intake.application import Duplicate

log = get_logger(__name__)
# Intake reads every partner topic in one consumer group, `intake.inbound` (`Runtime.consume`).
GROUP_ROLE = "inbound"
CLAIMS = uuid.UUID("6f1d3c1e-3a51-4d8e-9a64-6b1f0f1c7a10")  # namespace of record claim ids


def claim_id(record: Record) -> uuid.UUID:
    return uuid.uuid5(CLAIMS, f"{record.topic}/{record.partition}/{record.offset}")


@dataclass(frozen=True)
class _Mapped:
    partner_id: str
    referral: object  # domain.ReferralIn, or training.TrainingRecordIn from a training adapter
    training: bool = False


@dataclass
class InboundConsumer(RecordConsumer):
    """A partner's records, a partition's batch at a time: mapped (pure), then submitted in
    one transaction; a duplicate of an existing referral is dead-lettered with the id it
    duplicates, without failing its neighbours."""

    deps: Deps | None = None  # intake's (vault, identity secret, clock); None only to document the topics
    adapters: dict[str, mapping.Adapter] = field(default_factory=dict)  # by inbound topic

    def decode(self, record: Record) -> Item:
        adapter = self.adapters.get(record.topic)
        if adapter is None:
            raise Poison("no adapter for this topic", "NoAdapter")
        try:
            raw = json.loads(record.value or b"")
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise Poison("not-json: the record is not a JSON document", "InvalidRecord") from None
        now = self.deps.clock() if self.deps else None
        mapped, errors = mapping.record_from(adapter, raw, now=now)
        if mapped is None:
            summary = "; ".join(f"{e.field or '(record)'}: {e.code}" for e in errors)
            detail = json.dumps([e.model_dump() for e in errors]).encode()
            raise Poison(f"invalid-record: {summary}", "InvalidRecord", [("dlq.errors", detail[:16000])])
        return Item(
            record, claim_id(record), self.record_type, _Mapped(adapter.partner_id, mapped, adapter.record == "training")
        )

    async def apply_items(self, conn: asyncpg.Connection, items: list[Item]) -> set[uuid.UUID]:
        assert self.deps is not None
        ctx = self.deps.bind(conn)
        refused: set[uuid.UUID] = set()
        by_partner: dict[str, list[Item]] = {}
        by_provider: dict[str, list[Item]] = {}
        for item in items:
            (by_provider if item.data.training else by_partner).setdefault(item.data.partner_id, []).append(item)
        for partner_id, theirs in by_provider.items():
            reported = await application.report_training(
                ctx, partner_id, [i.data.referral for i in theirs], entry="kafka",
                correlation_ids=[str(i.claim_id) for i in theirs],
            )
            for item, outcome in zip(theirs, reported, strict=True):
                if isinstance(outcome, application.TrainingProblem):
                    await self.dead_letter(item.record, f"rejected: {outcome.code}: {outcome.message}", "Rejected", 1)
                    refused.add(item.claim_id)
        for partner_id, theirs in by_partner.items():
            # One submit for the partner's records of the batch (a few statements, not a few
            # per record); a later record sees an earlier one as a duplicate, as it would in
            # separate submits. Each event keeps its record's claim id as correlation id.
            results = await application.submit(
                ctx,
                partner_id,
                [i.data.referral for i in theirs],
                entry="kafka",
                correlation_ids=[str(i.claim_id) for i in theirs],
            )
            for item, result in zip(theirs, results, strict=True):
                if isinstance(result, Duplicate):
                    reason = f"rejected: {result.code}: {result.message} (existing referral {result.existing_referral_id})"
                    await self.dead_letter(item.record, reason, "Rejected", 1)
                    refused.add(item.claim_id)
        return refused


def inbound_topics(adapters: dict[tuple[str, str, str], mapping.Adapter]) -> dict[str, mapping.Adapter]:
    return {a.topic: a for a in adapters.values() if a.kafka}


class Truncator:
    """Deletes what intake has committed on inbound topics, every `every_s` seconds."""

    def __init__(self, bootstrap: str, topics: list[str], every_s: float = 5.0) -> None:
        self._bootstrap = bootstrap
        self._topics = topics
        self._every_s = every_s
        self.deleted_up_to: dict[TopicPartition, int] = {}

    async def run(self) -> None:
        admin = AIOKafkaAdminClient(**client_options(self._bootstrap), client_id="talentloop-intake-truncator")
        await admin.start()
        try:
            while True:
                try:
                    await self.truncate_once(admin)
                except KafkaError as exc:
                    log.warning("inbound.truncate_failed", error=repr(exc))
                await asyncio.sleep(self._every_s)
        finally:
            await admin.close()

    async def truncate_once(self, admin: AIOKafkaAdminClient) -> int:
        deletions: dict[TopicPartition, RecordsToDelete] = {}
        committed = await admin.list_consumer_group_offsets(consumer_group("intake", GROUP_ROLE))
        for tp, meta in committed.items():
            if tp.topic in self._topics and meta.offset > self.deleted_up_to.get(tp, 0):
                deletions[tp] = RecordsToDelete(before_offset=meta.offset)
        if deletions:
            await admin.delete_records(deletions, timeout_ms=10_000)
            for tp, what in deletions.items():
                self.deleted_up_to[tp] = what.before_offset
        return len(deletions)
