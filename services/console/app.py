"""The operators' console: the operations API over plumbing/operations.py (docs/operators.md).

The live event stream (server-sent events, filtered), the funnel and good jobs (from outcomes,
with the caller's key), consumer lag, dead letters and their replay, every service's parked
outbox rows with retry and discard (in the services' own schemas, through the network's
database), and health, as JSON under /api for an operator's key: the portal's operators' pages
call it with the operators' organisation's key (docs/portals.md), scripts with their own. Its
old pages redirect to the portal's (pages.py). It holds the Kafka and database access the
portal does not have.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from plumbing.operations import Operations
from plumbing.service import Runtime, ServiceDefinition
from plumbing.settings import DEFAULT_PORTS
from services.console import api, pages


def service_urls() -> dict[str, str]:
    """The services to watch: TALENTLOOP_SERVICE_URLS (JSON, set by `talentloop up`), else the defaults."""
    raw = os.environ.get("TALENTLOOP_SERVICE_URLS")
    if raw:
        return dict(json.loads(raw))
    return {name: f"http://127.0.0.1:{port}" for name, port in DEFAULT_PORTS.items()}


async def _close_on_stop(ops: Operations) -> None:
    try:
        await asyncio.Event().wait()
    finally:
        await ops.close()


async def on_start(rt: Runtime) -> None:
    ops = Operations(rt.settings.kafka_bootstrap_servers, rt.settings.database_url, service_urls())
    rt.app.state.ops = ops
    rt.tasks.append(asyncio.create_task(_close_on_stop(ops), name="console-operations"))


DEFINITION = ServiceDefinition(
    name="console",
    title="TalentLoop operators' console",
    description="Live events, funnel and good jobs, consumer lag, dead letters and their replay, parked outbox "
    "rows, health, for operators' keys; its pages moved to the portal's /operators.",
    migrations=Path(__file__).parent / "migrations",  # none: replays are recorded in the `operations` schema
    routers=[pages.router, api.router],
    on_start=on_start,
)
