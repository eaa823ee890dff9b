"""OpenTelemetry traces across HTTP and Kafka: W3C trace context in headers, spans per request and event.

- An HTTP request starts a server span, continuing the caller's `traceparent` if it sent one
  (`plumbing/correlate.py`, installed by `plumbing/service.py`).
- `outbox.enqueue_many` stores the current span's `traceparent`/`tracestate` with each outbox
  row (`outbox_context`); the relay sends them as Kafka headers (`kafka_headers`).
- A consumer extracts them from the record (`context_from_headers`) and runs the handler in a
  consumer span that is the emitting span's child, so what the handler emits carries the same
  trace id onward (`plumbing/consumer.py`).

`configure` installs the SDK's tracer provider once per process (every span gets real ids, so
logs can name them), with an exporter chosen by `TALENTLOOP_TRACE_EXPORT`: unset or `none`
exports nothing, `log` writes each finished span as one JSON log line, `otlp` sends OTLP/HTTP
to `OTEL_EXPORTER_OTLP_ENDPOINT` (needs the `otlp` extra). Setting `OTEL_EXPORTER_OTLP_ENDPOINT`
alone also selects `otlp`.

While the provider has no span processor (no exporter: the default) nothing can see a span
but its ids, so the server and consumer spans are then made as the SDK would make their ids
(the same trace id, new span id, sampler's flags and trace state) without recording anything
(`_unrecorded`): the SDK's span, its attributes and its end were about a sixth of intake's
CPU a request outside the database (docs/performance.md, fifteenth session). A processor
added later (a test's in-memory exporter) sees every span started after it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from plumbing.logging import get_logger

log = get_logger("talentloop.trace")

EXPORT_ENV = "TALENTLOOP_TRACE_EXPORT"
TRACE_HEADERS = ("traceparent", "tracestate")
_PROPAGATOR = TraceContextTextMapPropagator()  # W3C only, whatever the global propagator is
_provider: TracerProvider | None = None


def configure(service: str, export: str | None = None) -> TracerProvider:
    """Install the process's tracer provider (once; later calls return the first one)."""
    global _provider
    if _provider is not None:
        return _provider
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    export = (export if export is not None else os.environ.get(EXPORT_ENV, "")).strip().lower()
    if not export and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        export = "otlp"
    if export == "log":
        provider.add_span_processor(SimpleSpanProcessor(LogSpanExporter()))
    elif export == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.warning("trace.otlp_unavailable", hint="pip install 'talentloop[otlp]'")
        else:  # endpoint, headers, timeout: the standard OTEL_EXPORTER_OTLP_* variables
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif export not in ("", "none", "off"):
        log.warning("trace.unknown_export", value=export, allowed="log, otlp, none")
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def provider() -> TracerProvider:
    """The process's provider (configured with no exporter if nobody configured it yet)."""
    return _provider or configure("talentloop", export="none")


_tracer: tuple[TracerProvider, trace.Tracer] | None = None


def tracer() -> trace.Tracer:
    """The process's tracer, made once per provider: `get_tracer` builds a new one (and its
    instrumentation scope) at every call, a cost every request and every consumed record paid.
    Span processors added to the provider later still see its spans."""
    global _tracer
    current = provider()
    if _tracer is None or _tracer[0] is not current:
        _tracer = (current, current.get_tracer("talentloop"))
    return _tracer[1]


def _recorded(current: TracerProvider) -> bool:
    """Whether a span of `current` would reach a span processor (an exporter, a test's memory)."""
    processors = getattr(getattr(current, "_active_span_processor", None), "_span_processors", None)
    return processors is None or bool(processors)  # unknown internals: record, as the SDK would


def _unrecorded(
    sdk: trace.Tracer, name: str, context: otel_context.Context, kind: SpanKind, attributes: dict[str, Any]
) -> trace.Span:
    """The span the SDK's `start_span` would make, as a span that records nothing: its ids, its
    sampler's decision and trace state, the random-trace-id flag, by the SDK's own steps."""
    parent = trace.get_current_span(context).get_span_context()
    ids = sdk.id_generator  # type: ignore[attr-defined]
    trace_id = parent.trace_id if parent.is_valid else ids.generate_trace_id()
    sampled = sdk.sampler.should_sample(context, trace_id, name, kind, attributes, ())  # type: ignore[attr-defined]
    flags = TraceFlags.SAMPLED if sampled.decision.is_sampled() else TraceFlags.DEFAULT
    if ids.is_trace_id_random() if not parent.is_valid else parent.trace_flags.random_trace_id:
        flags |= TraceFlags.RANDOM_TRACE_ID
    own = SpanContext(
        trace_id,
        ids.generate_span_id(),
        is_remote=False,
        trace_flags=TraceFlags(flags),
        trace_state=sampled.trace_state,
    )
    return NonRecordingSpan(own)


def _start(
    name: str, context: otel_context.Context, kind: SpanKind, attributes: dict[str, Any], end_on_exit: bool = True
) -> Any:
    """A context manager: the span `name` as the current span (recorded only if anything would see it)."""
    sdk = tracer()
    if _recorded(provider()):
        return sdk.start_as_current_span(
            name, context=context, kind=kind, attributes=attributes, end_on_exit=end_on_exit
        )
    return trace.use_span(_unrecorded(sdk, name, context, kind, attributes), end_on_exit=False)


def ids_of(span: trace.Span) -> tuple[str, str] | None:
    """(trace id, span id) of `span` as lowercase hex, or None for an invalid (no-op) span."""
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    return trace.format_trace_id(ctx.trace_id), trace.format_span_id(ctx.span_id)


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span, or None outside a span."""
    return ids_of(trace.get_current_span())


def outbox_context() -> tuple[str | None, str | None]:
    """The current span's (traceparent, tracestate), to store with an outbox row."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent"), carrier.get("tracestate") or None


def kafka_headers(traceparent: str | None, tracestate: str | None) -> list[tuple[str, bytes]]:
    """Kafka record headers for a stored trace context (none if there was no span)."""
    headers = []
    if traceparent:
        headers.append(("traceparent", traceparent.encode()))
        if tracestate:
            headers.append(("tracestate", tracestate.encode()))
    return headers


def context_from_headers(headers: Iterable[tuple[str, bytes]]) -> otel_context.Context:
    """The trace context a Kafka record carries (an empty context if none or malformed)."""
    carrier = {
        k.lower(): v.decode("utf-8", "replace")
        for k, v in headers
        if k.lower() in TRACE_HEADERS and isinstance(v, bytes | bytearray)
    }
    return _PROPAGATOR.extract(carrier)


def context_from_http(headers: Mapping[str, str]) -> otel_context.Context:
    return _PROPAGATOR.extract({k: headers[k] for k in TRACE_HEADERS if k in headers})


def consumer_span(topic: str, headers: Sequence[tuple[str, bytes]], consumer: str) -> Any:
    """A context manager: the consumer span for one record, child of the span that emitted it."""
    return _start(
        f"process {topic}",
        context_from_headers(headers),
        SpanKind.CONSUMER,
        {"messaging.system": "kafka", "messaging.destination.name": topic, "talentloop.consumer": consumer},
    )


def server_span(method: str, headers: Mapping[str, str], service: str, *, end_on_exit: bool = True) -> Any:
    """A context manager: the server span for one HTTP request (renamed to its route later).

    `end_on_exit=False`: the caller ends it (plumbing/correlate.py ends it when the response
    starts, while the request's code goes on in its context)."""
    return _start(
        method,
        context_from_http(headers),
        SpanKind.SERVER,
        {"http.request.method": method, "talentloop.service": service},
        end_on_exit,
    )


class LogSpanExporter(SpanExporter):
    """Writes every finished span as one JSON log line (`event: "span"`): no collector needed."""

    def __init__(self, logger: Any = None) -> None:
        self._log = logger or log

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            ctx = span.get_span_context()
            if ctx is None:
                continue
            duration_ms = None
            if span.start_time is not None and span.end_time is not None:
                duration_ms = round((span.end_time - span.start_time) / 1e6, 3)
            self._log.info(
                "span",
                trace_id=trace.format_trace_id(ctx.trace_id),
                span_id=trace.format_span_id(ctx.span_id),
                parent_span_id=trace.format_span_id(span.parent.span_id) if span.parent else None,
                name=span.name,
                kind=span.kind.name.lower(),
                duration_ms=duration_ms,
                status=span.status.status_code.name.lower(),
                attributes=dict(span.attributes or {}),
            )
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None
