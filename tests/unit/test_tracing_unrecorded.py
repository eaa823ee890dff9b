"""Spans nothing can see are not recorded, and carry the ids and flags the SDK's would
(plumbing/tracing.py `_unrecorded`): what goes on in `traceparent` must not change."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from opentelemetry.trace import SpanKind

from plumbing import tracing

PARENTS = [
    {},  # a root span
    {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", "tracestate": "a=b,c=d"},
    {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03", "tracestate": "x=1"},
    {"traceparent": "not a traceparent"},
]


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> TracerProvider:
    """A provider of this test's own (the process's may have a test's exporter by now)."""
    provider = TracerProvider()
    monkeypatch.setattr(tracing, "_provider", provider)
    monkeypatch.setattr(tracing, "_tracer", None)
    return provider


def _shape(span: trace.Span) -> tuple[object, ...]:
    ctx = span.get_span_context()
    return ctx.is_valid, ctx.is_remote, int(ctx.trace_flags), tuple(ctx.trace_state.items())


@pytest.mark.parametrize("headers", PARENTS)
@pytest.mark.parametrize("sampler", [None, ParentBased(ALWAYS_OFF)])
def test_an_unrecorded_span_has_the_ids_and_flags_the_sdk_gives(headers: dict[str, str], sampler: object) -> None:
    provider = TracerProvider(sampler=sampler) if sampler else TracerProvider()
    sdk = provider.get_tracer("talentloop")
    context = tracing.context_from_http(headers)
    made = sdk.start_span("POST", context=context, kind=SpanKind.SERVER)
    cheap = tracing._unrecorded(sdk, "POST", context, SpanKind.SERVER, {})
    assert not cheap.is_recording()
    assert _shape(cheap) == _shape(made)
    parent = trace.get_current_span(context).get_span_context()
    if parent.is_valid:
        assert cheap.get_span_context().trace_id == parent.trace_id
    assert cheap.get_span_context().span_id not in (made.get_span_context().span_id, parent.span_id)


def test_spans_are_recorded_once_anything_would_see_them(fresh: TracerProvider) -> None:
    with tracing.server_span("POST", {}, "intake") as span:
        assert not span.is_recording()
        carried = tracing.outbox_context()[0]
        assert carried is not None and tracing.current_ids() == tracing.ids_of(span)
        assert carried.split("-")[1:3] == list(tracing.ids_of(span) or ())
    with tracing.consumer_span("talentloop.referrals", [("traceparent", carried.encode())], "routing") as child:
        assert not child.is_recording()
        assert tracing.ids_of(child)[0] == tracing.ids_of(span)[0]  # type: ignore[index]

    memory = InMemorySpanExporter()
    fresh.add_span_processor(SimpleSpanProcessor(memory))
    with tracing.server_span("POST", {}, "intake") as span:
        assert span.is_recording()
    assert [s.name for s in memory.get_finished_spans()] == ["POST"]
