"""The support service: supportive services (transportation, childcare, ...) for the people
partners referred or enrolled, from providers registered in its directory, with a closed loop."""

import asyncio
from pathlib import Path

from contracts import topics
from contracts.registry import emitted_by
from plumbing.service import Runtime, ServiceDefinition, asyncapi_app
from services.support import stale
from services.support.api import router
from services.support.domain import StaleRule
from services.support.handlers import HANDLERS, batch_handler


async def on_start(rt: Runtime) -> None:
    """The stale sweeper, on the service's clock; the rule is also what the GET routes flag by."""
    rule = rt.app.state.stale_rule = StaleRule.from_settings(rt.settings)
    rt.tasks.append(
        asyncio.create_task(stale.run(rt.pool, rt.deps, rule, rt.settings.stale_sweep_s), name="support-stale")
    )


DEFINITION = ServiceDefinition(
    name="support",
    title="TalentLoop support",
    description="Supportive services: a directory of service providers, and partners' requests to them for the"
    " people they referred or enrolled (requested, accepted, declined, delivered, cancelled, stale).",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    emits=emitted_by("support"),
    consumes=(topics.REFERRALS, topics.TRAINING, topics.CANDIDATES),
    handlers=HANDLERS,
    batch_handler=batch_handler,
    on_start=on_start,
)


def asyncapi():  # type: ignore[no-untyped-def]
    """`faststream docs gen services.support.app:asyncapi --factory`"""
    return asyncapi_app(DEFINITION)
