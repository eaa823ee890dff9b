"""The routing service: matches submitted (and updated) referrals to open openings, with an explanation;
withdrawn and erased referrals give their slot back unless placed; declined ones are routed again elsewhere."""

import asyncio
from pathlib import Path

from contracts import events, topics
from plumbing.service import Runtime, ServiceDefinition, asyncapi_app
from services.routing import store, sweeper
from services.routing.api import router
from services.routing.handlers import HANDLERS, batch_handler_for


async def on_start(rt: Runtime) -> None:
    rt.tasks.append(asyncio.create_task(sweeper.run(rt.pool, rt.deps, rt.settings.reroute_sweep_s), name="routing-hold-sweeper"))


DEFINITION = ServiceDefinition(
    name="routing",
    title="TalentLoop routing",
    description="Skills-based matching of referrals to employers' openings.",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    emits=(events.ReferralRoutedV1, events.ReferralUnmatchedV1, events.SkillsGapObservedV2),
    consumes=(topics.OPENINGS, topics.REFERRALS, topics.CANDIDATES, topics.EMPLOYER_ACTIONS),
    handlers=HANDLERS,
    batch_handler=batch_handler_for(store.Postings()),
    on_start=on_start,
)


def asyncapi():  # type: ignore[no-untyped-def]
    """`faststream docs gen services.routing.app:asyncapi --factory`"""
    return asyncapi_app(DEFINITION)
