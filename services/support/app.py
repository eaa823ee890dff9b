"""The support service: supportive services (transportation, childcare, ...) for the people
partners referred or enrolled, from providers registered in its directory, with a closed loop."""

import asyncio
from pathlib import Path

from contracts import topics
from contracts.registry import emitted_by
from plumbing import webhooks
from plumbing.service import Runtime, ServiceDefinition, asyncapi_app
from plumbing.webhooks_api import router_for
from services.support import stale
from services.support.api import router
from services.support.domain import PROVIDER_NOTIFICATIONS, StaleRule
from services.support.handlers import HANDLERS, batch_handler


async def on_start(rt: Runtime) -> None:
    """The dispatcher of providers' webhooks, and the stale sweeper on the service's clock (its
    rule is also what the GET routes flag by). The webhooks' signing secrets are sealed under
    TALENTLOOP_MASTER_KEY (plumbing/webhooks.py); this service keeps no sealed personal data."""
    dispatcher, rt.app.state.webhook_box = webhooks.start(rt.pool, rt.settings)
    rt.tasks.append(asyncio.create_task(dispatcher.run(), name="support-webhooks"))
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
    routers=[router, router_for("partner", PROVIDER_NOTIFICATIONS)],
    emits=emitted_by("support"),
    consumes=(topics.REFERRALS, topics.TRAINING, topics.CANDIDATES),
    handlers=HANDLERS,
    batch_handler=batch_handler,
    on_start=on_start,
)


def asyncapi():  # type: ignore[no-untyped-def]
    """`faststream docs gen services.support.app:asyncapi --factory`"""
    return asyncapi_app(DEFINITION)
