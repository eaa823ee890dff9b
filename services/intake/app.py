"""The intake service: partners' referrals in (API, webhook, CSV, Kafka), `referral.*` events out;
training providers' programs and enrollments in, `program.*`, `training.*` and `credential.earned` out."""

from __future__ import annotations

import asyncio
from pathlib import Path

from faststream.kafka import KafkaBroker

from contracts import events, vocabulary
from contracts.topics import default_partitions
from deploy.topics import TopicSpec, create_topics
from plumbing import subscriber
from plumbing.service import Runtime, ServiceDefinition, asyncapi_app
from plumbing.settings import Settings
from services.intake import inbound, mapping, notify_consumer, store
from services.intake.api import imports, router
from services.intake.grouped import ReferralGroups
from services.intake.training_api import router as training_router

# Records there are partners' plaintext. Intake deletes them from reads once processed
# (DeleteRecords); on disk they go when Kafka deletes their segment: segments roll hourly
# and nothing is kept longer than a day, processed or not.
INBOUND_TOPIC_CONFIG = {"retention.ms": str(24 * 3600 * 1000), "segment.ms": str(3600 * 1000)}


def _inbound_description(topic: str) -> str:
    return (
        f"A partner's own JSON records, mapped by its adapter into referral.submitted; bad or duplicate records "
        f"go to talentloop.deadletter.intake with the reason. Processed records are deleted from {topic}."
    )


async def on_start(rt: Runtime) -> None:
    settings = rt.settings
    vault = rt.deps.vault
    assert vault is not None  # intake requires the master key
    secret = (settings.pseudonym_key or "").encode()
    await store.seal_legacy_contacts(rt.pool, vault, secret)
    # Loaded (YAML, ~0.5 s of CPU) before the first request needs them, not during it.
    vocabulary.skills()
    vocabulary.occupations()
    adapters = mapping.load_all(settings.adapters_dir)
    rt.app.state.group_commit = ReferralGroups(rt.pool, rt.deps)
    rt.app.state.adapters = adapters
    notify_consumer.start(rt)  # e-mails to candidates about their referral (docs/intake.md)
    topics = inbound.inbound_topics(adapters)
    if not topics:
        return
    await create_topics(
        settings.kafka_bootstrap_servers,
        [TopicSpec(t, partitions=default_partitions(), config=INBOUND_TOPIC_CONFIG) for t in topics],
        timeout=120.0,  # a busy broker (a loaded machine, a cluster electing leaders) may take a while
    )
    consumer = inbound.InboundConsumer(
        "intake", rt.pool, rt.producer, settings.max_attempts, settings.retry_backoff_s, deps=rt.deps, adapters=topics
    )
    rt.consume(consumer, list(topics), role=inbound.GROUP_ROLE)
    rt.app.state.consumer = consumer
    truncator = inbound.Truncator(settings.kafka_bootstrap_servers, list(topics))
    rt.tasks.append(asyncio.create_task(truncator.run(), name="intake-inbound-truncator"))


def _record_schema() -> dict:
    return {"type": "object", "description": "The partner's own record (see its adapter in deploy/adapters/)."}


def _document(broker: KafkaBroker, settings: Settings) -> None:
    notify_consumer.document(broker)
    adapters = mapping.load_all(settings.adapters_dir)
    for topic in inbound.inbound_topics(adapters):
        consumer = inbound.InboundConsumer("intake", None, None)  # type: ignore[arg-type]
        subscriber.attach_records(
            broker, consumer, topic, _record_schema(), _inbound_description(topic), role=inbound.GROUP_ROLE
        )


DEFINITION = ServiceDefinition(
    name="intake",
    title="TalentLoop intake",
    description="Partners submit referrals (JSON API, their own webhook JSON, CSV, their own Kafka topic); intake "
    "validates and de-duplicates them, seals personal data, and publishes referral events.",
    migrations=Path(__file__).parent / "migrations",
    routers=[router, imports, training_router],
    consumes=notify_consumer.CONSUMES,  # only when mail is configured: notify_consumer.start
    emits=(
        events.ReferralSubmittedV2, events.ReferralUpdatedV1, events.ReferralWithdrawnV1, events.CandidateErasedV1,
        events.ProgramRegisteredV1, events.ProgramUpdatedV1, events.TrainingEnrolledV1, events.TrainingProgressedV1,
        events.TrainingCompletedV1, events.TrainingExitedV1, events.CredentialEarnedV1,
    ),
    required_settings=("pseudonym_key", "master_key"),
    on_start=on_start,
    document_subscribers=_document,
)


def asyncapi():  # type: ignore[no-untyped-def]
    """`faststream docs gen services.intake.app:asyncapi --factory`"""
    return asyncapi_app(DEFINITION)
