"""Assembles one service process: database, outbox relay, consumer, HTTP API, health, metrics.

Every HTTP request runs in a server span (continuing an incoming W3C `traceparent`) and is
timed by route template; `GET /metrics` serves the process's Prometheus registry
(docs/observability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI, Request, Response
from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification.asyncapi import AsyncAPI

from contracts import messages
from contracts.events import Payload
from contracts.topics import Topic, consumer_group
from plumbing import apikeys, clock, db, heap, keys_api, metrics, outbox, problems, retention, subscriber, tracing
from plumbing.body_limits import install as limit_bodies
from plumbing.consume_loop import ConsumeLoop
from plumbing.consumer import BatchHandler, EventConsumer, Handler, RecordConsumer
from plumbing.context import Context, Deps
from plumbing.correlate import Correlate
from plumbing.kafka import KafkaSecurity, new_producer
from plumbing.logging import configure, get_logger
from plumbing.settings import Settings
from plumbing.vault import Vault

log = get_logger(__name__)


@dataclass
class ServiceDefinition:
    """What makes a service itself; everything else is the same for all four."""

    name: str
    title: str
    description: str
    migrations: Path
    routers: list[APIRouter] = field(default_factory=list)
    consumes: tuple[Topic, ...] = ()
    handlers: dict[str, Handler] = field(default_factory=dict)
    # Set-based handling of several events per transaction (subscribed in batches); the
    # per-event `handlers` stay the fallback when a batch fails.
    batch_handler: BatchHandler | None = None
    emits: tuple[type[Payload], ...] = ()  # what its outbox publishes, for the AsyncAPI document
    required_settings: tuple[str, ...] = ()
    # Service-specific start-up (after the database and producer, before the consumers start):
    # may put things on app.state, consume more topics (`Runtime.consume`), start background tasks.
    on_start: Callable[[Runtime], Awaitable[None]] | None = None
    # Subscribers `on_start` would add, declared for the AsyncAPI document (never started).
    document_subscribers: Callable[[KafkaBroker, Settings], None] | None = None


@dataclass
class Runtime:
    """What a running service is made of, for `ServiceDefinition.on_start`."""

    app: FastAPI
    settings: Settings
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    deps: Deps  # what handlers and use cases get (plumbing/context.py)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    loops: list[ConsumeLoop] = field(default_factory=list)

    def consume(self, consumer: RecordConsumer, topics: list[str], role: str = "events") -> None:
        """Apply `topics`' records through `consumer`: one consume loop, one fetch and one group
        (`consumer_group(consumer.name, role)`) for all of them, started after `on_start`
        (plumbing/consume_loop.py)."""
        loop = ConsumeLoop(
            consumer,
            topics,
            self.settings.kafka_bootstrap_servers,
            group_id=consumer_group(consumer.name, role),
            fetch_max_wait_ms=self.settings.consumer_fetch_max_wait_ms,
            fetch_min_bytes=self.settings.consumer_fetch_min_bytes,
            security=KafkaSecurity.from_settings(self.settings),
        )
        if any(other.group_id == loop.group_id for other in self.loops):
            raise ValueError(f"{loop.group_id} is consumed already: give the second consumer its own role")
        self.loops.append(loop)


def correlation_id(request: Request) -> str:
    return request.state.correlation_id


def pool_of(request: Request) -> asyncpg.Pool:
    return request.app.state.pool


def deps_of(request: Request) -> Deps:
    return request.app.state.deps


def context_of(request: Request, conn: asyncpg.Connection) -> Context:
    """The same context an event handler gets, for a route's transaction."""
    return deps_of(request).bind(conn)


STOP_WAIT_S = 15.0  # a stop that takes longer is reported and forced: SIGTERM must end the process


async def _stop(name: str, tasks: tuple[asyncio.Task[Any], ...], producer: Any, pool: asyncpg.Pool) -> dict[str, Any]:
    """Cancel the service's tasks, then close the producer and the pool, each bounded in time.

    A task that fails while it is cancelled (a listener on a connection the database dropped)
    must not keep the others, the producer and the pool from closing; one that does not end at
    all is logged with where it is stuck, and the pool is terminated instead of closed (asyncpg's
    close() waits for every connection to come back, without a limit). Returns what was forced."""
    report: dict[str, Any] = {"failed": [], "stuck": [], "pool_terminated": False}
    for task in tasks:
        task.cancel()
    done, stuck = await asyncio.wait(tasks, timeout=STOP_WAIT_S)
    for task in done:
        if not task.cancelled() and isinstance(task.exception(), Exception):
            log.warning("service.task_failed_at_stop", task=task.get_name(), error=repr(task.exception())[:300])
            report["failed"].append(task.get_name())
    for task in stuck:
        frames = [f"{f.f_code.co_filename}:{f.f_lineno} {f.f_code.co_name}" for f in task.get_stack(limit=8)]
        log.error("service.task_stuck_at_stop", service=name, task=task.get_name(), frames=frames)
        report["stuck"].append(task.get_name())
    try:
        await asyncio.wait_for(producer.stop(), STOP_WAIT_S)
    except TimeoutError:
        log.error("service.producer_stuck_at_stop", service=name)
    try:
        await asyncio.wait_for(pool.close(), STOP_WAIT_S)
    except TimeoutError:
        log.error("service.pool_stuck_at_stop", service=name)
        pool.terminate()
        report["pool_terminated"] = True
    log.info("service.stopped")
    return report


def create_app(definition: ServiceDefinition, settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure(definition.name, settings.log_level)
        # `run` asks uvicorn for no access log (`Correlate` times every request by route), but
        # `configure` lets uvicorn's loggers propagate to the JSON handler, which turned it
        # back on: a line a request, about 3 % of intake's CPU under an offered load.
        logging.getLogger("uvicorn.access").propagate = False
        tracing.configure(definition.name)
        missing = [name for name in definition.required_settings if getattr(settings, name) is None]
        if missing:
            raise RuntimeError(f"{definition.name}: missing settings {missing} (see README, 'Configuration')")
        pool = await db.create_pool(
            settings.database_url,
            definition.name,
            statement_timeout_s=settings.statement_timeout_s,
            lock_timeout_s=settings.lock_timeout_s,
        )
        applied = await db.migrate(pool, definition.migrations)
        async with pool.acquire() as conn:
            await apikeys.ensure_schema(conn)  # shared by every service: any of them authenticates any key
        producer = new_producer(
            settings.kafka_bootstrap_servers, f"talentloop-{definition.name}",
            security=KafkaSecurity.from_settings(settings),
        )
        await producer.start()
        relay = outbox.OutboxRelay(
            pool,
            producer,
            batch=settings.outbox_batch,
            poll_s=settings.outbox_poll_s,
            idle_poll_s=settings.outbox_idle_poll_s,
            service=definition.name,
        )
        relay_task = asyncio.create_task(relay.run(), name=f"{definition.name}-outbox-relay")
        consumer: EventConsumer | None = None
        vault = None
        if "master_key" in definition.required_settings:
            # The services that keep sealed personal data (and only they) have a vault.
            async with pool.acquire() as conn, conn.transaction():
                await Vault.ensure_schema(conn)
            vault = Vault.configured(settings.master_key or "", settings.master_key_previous)
        deps = Deps.of(definition.name, settings, vault)
        runtime = Runtime(app, settings, pool, producer, deps)
        runtime.tasks.append(
            asyncio.create_task(retention.run(pool, retention.Retention.from_settings(settings)), name="retention")
        )
        app.state.deps = deps
        app.state.vault = vault
        app.state.settings = settings
        app.state.pool = pool
        app.state.keys = apikeys.ApiKeys(pool, cache_s=settings.key_cache_s, grace_s=settings.key_rotation_grace_s)
        app.state.relay = relay
        if definition.handlers:
            consumer = EventConsumer(
                definition.name,
                pool,
                producer,
                handlers=definition.handlers,
                batch_handler=definition.batch_handler,
                deps=deps,
                max_attempts=settings.max_attempts,
                backoff_s=settings.retry_backoff_s,
            )
            runtime.consume(consumer, [t.name for t in definition.consumes])
        app.state.consumer = consumer
        if definition.on_start is not None:
            await definition.on_start(runtime)
        # Start-up is done: what it made lives as long as the process, out of the collector's
        # walks from now on (plumbing/heap.py); every service, the ones without their own
        # start-up too (support's full collections were 43-72 % of its CPU under a trickle,
        # docs/performance.md fifteenth session).
        heap.settle(heap.SERVICE_YOUNG_THRESHOLD)
        app.state.loops = runtime.loops
        loop_tasks = [
            asyncio.create_task(loop.run(), name=f"{definition.name}-consume-{loop.group_id}") for loop in runtime.loops
        ]
        log.info("service.started", migrations=applied, port=settings.port_for(definition.name))
        try:
            yield
        finally:
            await _stop(definition.name, (*loop_tasks, *runtime.tasks, relay_task), producer, pool)

    app = FastAPI(
        title=definition.title,
        description=definition.description,
        version="1.0.0",
        lifespan=lifespan,
        **_without_native_telemetry(),
    )
    problems.install(app)
    problems.document(app)
    trust_forwarded(app, settings)
    limit_bodies(app, settings)  # before `Correlate`, so a 413 is correlated and counted too
    # Correlation id, server span and latency metric of every request (plumbing/correlate.py).
    app.add_middleware(Correlate, service=definition.name)

    @app.get(
        "/health",
        tags=["operations"],
        summary="Liveness, database, outbox backlog and consumer counts",
        responses=problems.responses(503),
    )
    async def health(request: Request) -> dict[str, Any]:
        state = request.app.state
        consuming = [topic for loop in state.loops for topic in loop.state.as_dicts()]
        try:
            backlog, _, parked = await outbox.backlog_and_age(state.pool)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # The consumers' state still shows (they wait the outage out, paused).
            raise problems.Problem(503, "unhealthy", "Database unreachable", repr(exc), consuming=consuming) from None
        return {
            "service": definition.name,
            # Degraded: a consumer is waiting out a database or broker fault (it retries on its own).
            "status": "degraded" if any(c["paused"] for c in consuming) else "ok",
            "outbox_backlog": backlog,
            "outbox_parked": parked,
            "relay_leading": state.relay.leading,
            "published": state.relay.published,
            "consumer": dict(state.consumer.counts) if state.consumer else None,
            "consuming": consuming,
            # "system", or "simulated <time>" on a demo's network (plumbing/clock.py), and the
            # time each sweeper last swept at: a demo waits for its simulated day to be swept.
            "clock": clock.describe(state.deps.clock),
            "swept_at": state.deps.sweeps.as_dict(),
        }

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        """Prometheus text exposition; no auth and no personal data (labels are listed in the docs)."""
        pool = getattr(request.app.state, "pool", None)
        if pool is not None:
            try:
                n, oldest_s, parked = await outbox.backlog_and_age(pool)
                metrics.outbox_state(definition.name, n, oldest_s, parked)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # Still answer: the last known backlog stays, and a scrape is not an outage.
                log.warning("metrics.backlog_unavailable", error=repr(exc))
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    for router in definition.routers:
        app.include_router(router)
    app.include_router(keys_api.router)  # every service answers its own callers' key management
    return app


def trust_forwarded(app: FastAPI, settings: Settings) -> None:
    """Take the scheme and client address from X-Forwarded-* when the peer is a trusted proxy
    (`TALENTLOOP_FORWARDED_ALLOW_IPS`), in the app itself rather than in uvicorn's options, so
    every way of serving it (and the tests) sees the same request."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    trusted = [h.strip() for h in settings.forwarded_allow_ips.split(",") if h.strip()]
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)


def _without_native_telemetry() -> dict[str, Any]:
    """Turn off FastAPI's own OpenTelemetry instrumentation where it has one (recent releases).

    Our `Correlate` middleware makes the one server span per request, the same with every
    FastAPI version we accept; FastAPI's would add a second server span (with the concrete
    path, ids included) and spans for every dependency and serialization step.
    """
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}


def asyncapi_app(definition: ServiceDefinition, bootstrap: str = "127.0.0.1:9092") -> FastStream:
    """The service's FastStream app as `faststream docs gen` sees it; never started.

    Its subscribers are built by the same `subscriber.attach` as the running service's.
    Publishers are declared for the events the service's outbox relay publishes (the relay
    uses an idempotent aiokafka producer directly, so these objects only document them).
    """
    # The document names the scheme every service authenticates with (its own SCRAM principal;
    # docs/operators.md), never a credential.
    documented = KafkaSecurity(protocol="SASL_PLAINTEXT", username=f"talentloop-{definition.name}", password="-")
    broker = KafkaBroker(
        bootstrap,
        consumer_only=True,
        description="Apache Kafka (local default; see README)",
        security=documented.faststream(),
    )
    if definition.handlers:
        consumer = EventConsumer(definition.name, None, None, handlers=definition.handlers)  # type: ignore[arg-type]
        subscriber.attach(broker, consumer, [t.name for t in definition.consumes])
    if definition.document_subscribers is not None:
        definition.document_subscribers(broker, Settings())
    for model in definition.emits:
        broker.publisher(
            model.topic.name,
            schema=messages.message_model(model),
            title=f"{definition.name}:{model.event_type}",
            description=f"{model.__doc__} Key: the event's subject. Written by {definition.name}'s outbox relay "
            "(idempotent producer, acks=all); delivered at least once, so consumers de-duplicate on `id`.",
        )
    spec = AsyncAPI(
        title=definition.title, version="1.0.0", description=definition.description, schema_version="3.0.0"
    )
    return FastStream(broker, specification=spec)


def run(definition: ServiceDefinition, graceful_shutdown_s: float | None = None) -> None:
    """The `main` of every service: one process, one uvicorn server.

    `graceful_shutdown_s`: how long a stop waits for open requests (None: until they end;
    a server with never-ending streams, like the console's, needs a bound)."""
    import uvicorn

    settings = Settings()
    uvicorn.run(
        create_app(definition, settings),
        host=settings.http_host,
        port=settings.port_for(definition.name),
        log_config=None,
        access_log=False,
        proxy_headers=False,  # the app applies them itself (`trust_forwarded`)
        # Longer than clients keep idle connections (httpx: 5 s), so a client never sends a
        # request on a connection the server is closing at that moment (the gateway load
        # benchmark saw that race with both at uvicorn's default of 5 s).
        timeout_keep_alive=75,
        timeout_graceful_shutdown=graceful_shutdown_s,
    )
