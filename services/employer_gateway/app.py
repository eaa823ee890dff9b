"""The employer gateway: employers post openings and report what happened to referrals."""

import asyncio
from pathlib import Path

from contracts import topics
from contracts.registry import emitted_by
from plumbing import webhooks
from plumbing.service import Runtime, ServiceDefinition, asyncapi_app
from plumbing.webhooks_api import router_for
from services.employer_gateway import stale
from services.employer_gateway.api import router
from services.employer_gateway.demand_api import router as demand_router
from services.employer_gateway.grouped import ActionGroups
from services.employer_gateway.handlers import EMPLOYER_NOTIFICATIONS, HANDLERS, batch_handler


async def on_start(rt: Runtime) -> None:
    """The webhook dispatcher, the stale sweeper and the queue that commits concurrent
    employers' actions together. (The vault, to show consenting candidates' contact
    details, is the runtime's: `rt.deps.vault`.)"""
    rt.app.state.action_groups = ActionGroups(rt.pool, rt.deps)
    dispatcher, rt.app.state.webhook_box = webhooks.start(rt.pool, rt.settings)
    rt.tasks.append(asyncio.create_task(dispatcher.run(), name="gateway-webhooks"))
    calendar = stale.BusinessCalendar.from_settings(rt.settings)
    rt.tasks.append(
        asyncio.create_task(stale.run(rt.pool, rt.deps, calendar, rt.settings.stale_sweep_s), name="gateway-stale")
    )


DEFINITION = ServiceDefinition(
    name="employer_gateway",
    title="TalentLoop employer gateway",
    description="Employers' API: openings, the referral inbox, acknowledgements, interviews and placements.",
    migrations=Path(__file__).parent / "migrations",
    routers=[router, demand_router, router_for("employer", EMPLOYER_NOTIFICATIONS)],
    emits=emitted_by("employer_gateway"),
    consumes=(topics.ROUTING, topics.REFERRALS, topics.CANDIDATES),
    handlers=HANDLERS,
    batch_handler=batch_handler,
    on_start=on_start,
    required_settings=("master_key",),
)


def asyncapi():  # type: ignore[no-untyped-def]
    """`faststream docs gen services.employer_gateway.app:asyncapi --factory`"""
    return asyncapi_app(DEFINITION)
