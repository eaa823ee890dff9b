"""Prometheus metrics of one service process, served at `GET /metrics`.

One registry per process (each service is its own process); every series is labelled with
the `service`. Labels hold only bounded, non-personal values: service, topic, event type,
outcome, error type, route template, method and status code, never ids or payloads.
The names and their meaning are listed in docs/observability.md.
"""

from __future__ import annotations

import prometheus_client
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

prometheus_client.disable_created_metrics()  # no `_created` series next to every counter

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)  # process_cpu_seconds_total, process_resident_memory_bytes, ...
PlatformCollector(registry=REGISTRY)  # python_info

# Text format 0.0.4: every Prometheus version reads it (our names need none of 1.0.0's escaping).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
OUTCOMES = ("applied", "duplicate", "ignored", "dead_lettered")
# From 1 ms to 30 s: handlers and requests are mostly a few ms; retries with backoff take seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

EVENTS_CONSUMED = Counter(
    "talentloop_events_consumed",
    "Kafka records a consumer finished with, by outcome (applied, duplicate, ignored, dead_lettered).",
    ("service", "topic", "event_type", "outcome"),
    registry=REGISTRY,
)
HANDLER_SECONDS = Histogram(
    "talentloop_handler_seconds",
    "Time to process one consumed record: parse, inbox claim, handler, commit, retries and dead letter.",
    ("service", "event_type", "outcome"),
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "talentloop_dead_letters",
    "Records written to the service's dead-letter topic, by original topic and error type.",
    ("service", "topic", "error_type"),
    registry=REGISTRY,
)
EVENTS_PUBLISHED = Counter(
    "talentloop_events_published",
    "Events the outbox relay published to Kafka (acknowledged by the broker), by topic.",
    ("service", "topic"),
    registry=REGISTRY,
)
OUTBOX_BACKLOG = Gauge(
    "talentloop_outbox_backlog",
    "Outbox rows not yet published (refreshed at every scrape).",
    ("service",),
    registry=REGISTRY,
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "talentloop_outbox_oldest_unpublished_seconds",
    "Age of the oldest unpublished outbox row, 0 when the backlog is empty (refreshed at every scrape).",
    ("service",),
    registry=REGISTRY,
)
OUTBOX_PARKED = Gauge(
    "talentloop_outbox_parked",
    "Outbox rows parked because Kafka refused them (an operator releases or discards them), refreshed at every scrape.",
    ("service",),
    registry=REGISTRY,
)
CONSUMER_PAUSED = Gauge(
    "talentloop_consumer_paused",
    "1 while a consumer waits out a database or broker fault (it retries the same batch), else 0.",
    ("service", "topic"),
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "talentloop_consumer_lag",
    "Records on the topic's assigned partitions not yet applied by this process (from its last fetch).",
    ("service", "topic"),
    registry=REGISTRY,
)
CONSUMER_FAULTS = Counter(
    "talentloop_consumer_faults",
    "Batches a consumer could not apply because of a database or broker fault (retried, never dead-lettered).",
    ("service", "topic"),
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "talentloop_http_request_seconds",
    "HTTP request latency by route template (not the concrete path), method and status code.",
    ("service", "route", "method", "status"),
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)

UNMATCHED_ROUTE = "<unmatched>"  # 404s for paths no route matches: one series, not one per path


def exposition() -> bytes:
    """The registry in Prometheus' text exposition format."""
    return generate_latest(REGISTRY)


def consumed(service: str, topic: str, event_type: str, outcome: str, seconds: float) -> None:
    EVENTS_CONSUMED.labels(service, topic, event_type, outcome).inc()
    HANDLER_SECONDS.labels(service, event_type, outcome).observe(seconds)


def consumer_state(service: str, topic: str, paused: bool, lag: int) -> None:
    CONSUMER_PAUSED.labels(service, topic).set(1 if paused else 0)
    CONSUMER_LAG.labels(service, topic).set(lag)


def consumer_fault(service: str, topic: str) -> None:
    CONSUMER_FAULTS.labels(service, topic).inc()


def dead_lettered(service: str, topic: str, error_type: str) -> None:
    DEAD_LETTERS.labels(service, topic, error_type).inc()


def published(service: str, topic: str, n: int = 1) -> None:
    EVENTS_PUBLISHED.labels(service, topic).inc(n)


def outbox_state(service: str, backlog: int, oldest_s: float, parked: int = 0) -> None:
    OUTBOX_BACKLOG.labels(service).set(backlog)
    OUTBOX_PARKED.labels(service).set(parked)
    OUTBOX_OLDEST_SECONDS.labels(service).set(oldest_s)


def http_request(service: str, route: str, method: str, status: int, seconds: float) -> None:
    HTTP_SECONDS.labels(service, route, method, str(status)).observe(seconds)
