"""Trace context in Kafka headers, the consumer span, log fields, and the metrics an app serves."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from contracts import build, events
from plumbing import metrics, tracing
from plumbing.consumer import EventConsumer, Record
from plumbing.logging import add_trace_ids
from plumbing.service import ServiceDefinition, create_app

pytestmark = pytest.mark.unit

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"

_spans: InMemorySpanExporter | None = None


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """Finished spans of this process (the provider is global: one exporter, cleared per test)."""
    global _spans
    if _spans is None:
        _spans = InMemorySpanExporter()
        tracing.provider().add_span_processor(SimpleSpanProcessor(_spans))
    _spans.clear()
    return _spans


def test_trace_context_round_trips_through_outbox_columns_and_kafka_headers(spans):
    with tracing.tracer().start_as_current_span("emit") as span:
        traceparent, tracestate = tracing.outbox_context()
    ids = tracing.ids_of(span)
    assert ids is not None
    assert traceparent.split("-")[1:3] == list(ids)
    assert tracestate is None

    headers = tracing.kafka_headers(traceparent, tracestate)
    assert headers == [("traceparent", traceparent.encode())]
    # What the consumer does with them: a child of the emitting span, in the same trace.
    with tracing.consumer_span("t", [("content-type", b"x"), *headers], "svc") as child:
        pass
    (finished,) = [s for s in spans.get_finished_spans() if s.name == "process t"]
    assert finished.kind is SpanKind.CONSUMER
    assert trace.format_trace_id(finished.context.trace_id) == ids[0]
    assert trace.format_span_id(finished.parent.span_id) == ids[1]
    assert child.get_span_context().span_id != span.get_span_context().span_id


def test_tracestate_travels_and_header_names_are_case_insensitive():
    headers = [("TraceParent", TRACEPARENT.encode()), ("tracestate", b"vendor=abc")]
    ctx = tracing.context_from_headers(headers)
    parent = trace.get_current_span(ctx).get_span_context()
    assert trace.format_trace_id(parent.trace_id) == TRACE_ID
    assert parent.trace_state.get("vendor") == "abc"
    with tracing.tracer().start_as_current_span("inner", context=ctx):
        traceparent, tracestate = tracing.outbox_context()
    assert traceparent.split("-")[1] == TRACE_ID and tracestate == "vendor=abc"


def test_no_span_means_no_headers_and_bad_headers_start_a_new_trace():
    assert tracing.outbox_context() == (None, None)
    assert tracing.kafka_headers(None, None) == []
    ctx = tracing.context_from_headers([("traceparent", b"garbage"), ("traceparent-x", b"\xff")])
    assert not trace.get_current_span(ctx).get_span_context().is_valid
    with tracing.tracer().start_as_current_span("root", context=ctx) as root:
        assert root.get_span_context().is_valid  # the SDK provider: real ids even for a new root


def test_log_lines_inside_a_span_carry_its_ids():
    assert "trace_id" not in add_trace_ids(None, "info", {"event": "outside"})
    with tracing.tracer().start_as_current_span("work") as span:
        line = add_trace_ids(None, "info", {"event": "inside"})
    trace_id, span_id = tracing.ids_of(span)
    assert line["trace_id"] == trace_id and line["span_id"] == span_id


def test_the_log_exporter_writes_one_line_per_span_with_parent_and_duration():
    lines: list[tuple[str, dict]] = []

    class Collect:
        def info(self, event: str, **kw) -> None:
            lines.append((event, kw))

    exporter = tracing.LogSpanExporter(Collect())
    memory = InMemorySpanExporter()
    tracing.provider().add_span_processor(SimpleSpanProcessor(memory))
    ctx = tracing.context_from_headers([("traceparent", TRACEPARENT.encode())])
    with tracing.tracer().start_as_current_span("child", context=ctx):
        pass
    (span,) = [s for s in memory.get_finished_spans() if s.name == "child"]
    exporter.export([span])
    memory.shutdown()
    ((event, fields),) = lines
    assert event == "span"
    assert fields["trace_id"] == TRACE_ID and fields["parent_span_id"] == PARENT_ID
    assert fields["name"] == "child" and fields["kind"] == "internal" and fields["duration_ms"] >= 0


async def test_each_event_is_applied_in_a_child_span_of_the_record_that_brought_it(spans):
    seen = []

    async def handler(ctx, env, payload):
        seen.append(tracing.current_ids())  # the handler runs inside the consumer span

    consumer = EventConsumer("unit_svc", None, None, handlers={"referral.withdrawn.v1": handler})  # type: ignore[arg-type]
    env = build(
        events.ReferralWithdrawnV1(
            referral_id="ref_1", partner_id="p1", candidate_id="c1", withdrawn_at=datetime.now(UTC), reason="candidate_request"
        ),
        source="/t", correlation_id="c",
    )
    record = Record("t.unit", 0, 7, b"k", env.to_bytes(), (("traceparent", TRACEPARENT.encode()),))
    item = consumer.decode(record)
    await consumer._apply_traced(None, item)  # noqa: SLF001 - the span is what is under test
    (ids,) = seen
    assert ids is not None and ids[0] == TRACE_ID
    (span,) = [s for s in spans.get_finished_spans() if s.name == "process t.unit"]
    assert trace.format_trace_id(span.context.trace_id) == TRACE_ID
    assert trace.format_span_id(span.parent.span_id) == PARENT_ID
    assert span.attributes["talentloop.outcome"] == "applied"
    assert span.attributes["talentloop.event_type"] == "referral.withdrawn.v1"


def test_every_metric_is_registered_with_its_labels():
    metrics.consumed("reg", "t", "referral.submitted.v2", "applied", 0.01)
    metrics.dead_lettered("reg", "t", "ContractError")
    metrics.published("reg", "t", 2)
    metrics.outbox_state("reg", 3, 1.5, parked=1)
    metrics.consumer_state("reg", "t", paused=True, lag=7)
    metrics.consumer_fault("reg", "t")
    metrics.http_request("reg", "/v1/x/{id}", "GET", 200, 0.002)
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    expected = {
        "talentloop_events_consumed": ("counter", {"service", "topic", "event_type", "outcome"}),
        "talentloop_handler_seconds": ("histogram", {"service", "event_type", "outcome"}),
        "talentloop_dead_letters": ("counter", {"service", "topic", "error_type"}),
        "talentloop_events_published": ("counter", {"service", "topic"}),
        "talentloop_outbox_backlog": ("gauge", {"service"}),
        "talentloop_outbox_oldest_unpublished_seconds": ("gauge", {"service"}),
        "talentloop_outbox_parked": ("gauge", {"service"}),
        "talentloop_consumer_paused": ("gauge", {"service", "topic"}),
        "talentloop_consumer_lag": ("gauge", {"service", "topic"}),
        "talentloop_consumer_faults": ("counter", {"service", "topic"}),
        "talentloop_http_request_seconds": ("histogram", {"service", "route", "method", "status"}),
    }
    for name, (kind, labels) in expected.items():
        family = families[name]
        assert family.type == kind, name
        sample = next(s for s in family.samples if s.labels.get("service") == "reg")
        assert set(sample.labels) - {"le"} == labels, name
    assert not any(name.endswith("_created") for name in families)


async def test_an_app_times_requests_by_route_template_continues_traces_and_serves_metrics(spans):
    router = APIRouter()

    @router.get("/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict:
        return {"id": thing_id, "trace": tracing.current_ids()}

    definition = ServiceDefinition(
        name="unit_http", title="t", description="t", migrations=Path("/nonexistent"), routers=[router]
    )
    app = create_app(definition)  # no lifespan: routes without the database still answer
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        r = await client.get("/v1/things/secret-id-42", headers={"traceparent": TRACEPARENT})
        assert r.status_code == 200
        assert r.json()["trace"][0] == TRACE_ID and r.headers["X-Trace-Id"] == TRACE_ID
        assert (await client.get("/nowhere/7")).status_code == 404
        scraped = await client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = scraped.text
    assert "secret-id-42" not in text and "/nowhere/7" not in text
    samples = [
        s for f in text_string_to_metric_families(text) if f.name == "talentloop_http_request_seconds"
        for s in f.samples if s.name.endswith("_count") and s.labels["service"] == "unit_http"
    ]
    assert {(s.labels["route"], s.labels["method"], s.labels["status"]) for s in samples} >= {
        ("/v1/things/{thing_id}", "GET", "200"),
        (metrics.UNMATCHED_ROUTE, "GET", "404"),
    }
    (server,) = [s for s in spans.get_finished_spans() if s.name == "GET /v1/things/{thing_id}"]
    assert server.kind is SpanKind.SERVER
    assert trace.format_span_id(server.parent.span_id) == PARENT_ID
    assert "/metrics" not in app.openapi()["paths"]
