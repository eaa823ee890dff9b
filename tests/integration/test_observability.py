"""One trace from an HTTP request through the outbox, Kafka and a consumer to the next event; /metrics.

A service app built by `plumbing.service.create_app` (its real lifespan: pool, migrations,
outbox relay, FastStream consumer) on the session's PostgreSQL and Kafka. A request carrying
a `traceparent` emits an event on topic A; the app's own consumer of A emits one on topic B.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, Request
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from contracts import build, events
from contracts.topics import Topic
from deploy.topics import TopicSpec, create_topics
from plumbing import outbox, tracing
from plumbing.kafka import client_options
from plumbing.service import ServiceDefinition, correlation_id, create_app, pool_of
from plumbing.settings import Settings
from tests.kafka_helpers import read_topic

pytestmark = pytest.mark.integration

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


def on_topic(topic: str) -> type[events.Payload]:
    return type("OnTestTopic", (events.ReferralSubmittedV1,), {"topic": Topic(topic, "test", "test")})


def submitted(referral_id: str) -> events.ReferralSubmittedV1:
    return events.ReferralSubmittedV1(
        referral_id=referral_id, partner_id="p1", candidate_id="cand_1", skills=["python"],
        consent={"share_with_employers": True, "given_at": datetime.now(UTC)},
    )


def headers_of(record) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    return dict(record.headers)


def trace_and_parent(traceparent: bytes) -> tuple[str, str]:
    _, trace_id, parent_id, _ = traceparent.decode().split("-")
    return trace_id, parent_id


@pytest.fixture
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    tracing.provider().add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # stops recording; the processor stays on the process's provider


async def test_a_request_trace_reaches_the_consumer_and_the_event_it_emits_and_metrics_count_it(
    stack, tmp_path, spans
):
    name = f"t_obs_{uuid.uuid4().hex[:8]}"
    topic_a, topic_b = f"test.{name}.a", f"test.{name}.b"
    await create_topics(stack.bootstrap, [TopicSpec(topic_a, partitions=1), TopicSpec(topic_b, partitions=1)])

    async def handler(ctx, envelope, payload):  # type: ignore[no-untyped-def]
        follow_up = build(submitted(f"{payload.referral_id}-next"), source="/test", correlation_id="c")
        await outbox.enqueue(ctx.conn, follow_up, on_topic(topic_b))

    router = APIRouter()

    @router.post("/emit/{referral_id}")
    async def emit(referral_id: str, request: Request) -> dict:
        async with pool_of(request).acquire() as conn, conn.transaction():
            env = build(submitted(referral_id), source="/test", correlation_id=correlation_id(request))
            await outbox.enqueue(conn, env, on_topic(topic_a))
        return {"id": str(env.id)}

    definition = ServiceDefinition(
        name=name, title="t", description="t", migrations=tmp_path, routers=[router],
        consumes=(Topic(topic_a, "test", "test"),), handlers={"referral.submitted.v2": handler},
    )
    settings = Settings(
        DATABASE_URL=stack.database_url, KAFKA_BOOTSTRAP_SERVERS=stack.bootstrap,
        TALENTLOOP_HTTP_PORT=1, TALENTLOOP_OUTBOX_POLL_S=0.2, TALENTLOOP_RETRY_BACKOFF_S=0.01,
    )
    app = create_app(definition, settings)
    try:
        async with app.router.lifespan_context(app):
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")
            async with client:
                r = await client.post("/emit/ref_obs", headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"})
                assert r.status_code == 200 and r.headers["X-Trace-Id"] == TRACE_ID
                # And a record that is not an event, for the dead-letter series.
                raw = AIOKafkaProducer(**client_options(stack.bootstrap))
                await raw.start()
                try:
                    await raw.send_and_wait(topic_a, b"not json", key=b"k")
                finally:
                    await raw.stop()
                consumer = app.state.consumer
                for _ in range(300):
                    if app.state.relay.published >= 2 and consumer.counts["dead_lettered"] == 1:
                        break
                    await asyncio.sleep(0.1)
                assert consumer.counts["applied"] == 1 and app.state.relay.published == 2
                scraped = await client.get("/metrics")
    finally:
        conn = await asyncpg.connect(stack.database_url)
        await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        await conn.close()

    # Spans: the caller's span -> the request's server span -> the consumer span of topic A.
    finished = spans.get_finished_spans()
    (server,) = [s for s in finished if s.name == "POST /emit/{referral_id}"]
    (consumed,) = [s for s in finished if s.name == f"process {topic_a}" and s.attributes["talentloop.outcome"] == "applied"]
    fmt_span = trace.format_span_id
    assert trace.format_trace_id(server.context.trace_id) == TRACE_ID
    assert fmt_span(server.parent.span_id) == CALLER_SPAN
    assert trace.format_trace_id(consumed.context.trace_id) == TRACE_ID
    assert consumed.parent.span_id == server.context.span_id
    assert consumed.attributes["talentloop.event_type"] == "referral.submitted.v1"

    # Kafka: A's record names the server span as parent; B's (emitted by the handler) the consumer span.
    (on_a,) = [r for r in await read_topic(stack.bootstrap, topic_a, at_least=2) if r.value != b"not json"]
    assert trace_and_parent(headers_of(on_a)["traceparent"]) == (TRACE_ID, fmt_span(server.context.span_id))
    (on_b,) = await read_topic(stack.bootstrap, topic_b, at_least=1)
    assert trace_and_parent(headers_of(on_b)["traceparent"]) == (TRACE_ID, fmt_span(consumed.context.span_id))
    assert headers_of(on_b)["content-type"] == b"application/cloudevents+json"

    # Metrics, as Prometheus would scrape them.
    assert scraped.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(scraped.text)}

    def value(family: str, sample: str, **labels: str) -> float | None:
        for s in families[family].samples:
            if s.name == sample and s.labels == {"service": name, **labels}:
                return s.value
        return None

    consumed_total = "talentloop_events_consumed_total"
    assert value("talentloop_events_consumed", consumed_total, topic=topic_a,
                 event_type="referral.submitted.v1", outcome="applied") == 1
    assert value("talentloop_events_consumed", consumed_total, topic=topic_a,
                 event_type="invalid", outcome="dead_lettered") == 1
    assert value("talentloop_dead_letters", "talentloop_dead_letters_total", topic=topic_a,
                 error_type="ContractError") == 1
    assert value("talentloop_handler_seconds", "talentloop_handler_seconds_count",
                 event_type="referral.submitted.v1", outcome="applied") == 1
    for topic in (topic_a, topic_b):
        assert value("talentloop_events_published", "talentloop_events_published_total", topic=topic) == 1
    assert value("talentloop_outbox_backlog", "talentloop_outbox_backlog") == 0
    assert value("talentloop_outbox_oldest_unpublished_seconds", "talentloop_outbox_oldest_unpublished_seconds") == 0
    assert value("talentloop_http_request_seconds", "talentloop_http_request_seconds_count",
                 route="/emit/{referral_id}", method="POST", status="200") == 1
    assert "ref_obs" not in scraped.text  # ids never become labels
