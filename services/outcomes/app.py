"""The outcomes service: the shared ledger of every lifecycle event, the closed loop back to
the referring partner, timelines, the funnel and the reports."""

import asyncio
from pathlib import Path

from contracts import events, topics
from plumbing import inbox, webhooks
from plumbing.logging import get_logger
from plumbing.service import Runtime, ServiceDefinition, asyncapi_app
from plumbing.webhooks_api import router_for
from services.outcomes import application, projection, store
from services.outcomes.api import router
from services.outcomes.handlers import HANDLERS, batch_handler
from services.outcomes.public_api import router as public_router
from services.outcomes.reports_api import router as reports_router

log = get_logger(__name__)


async def on_start(rt: Runtime) -> None:
    """The dispatcher of partners' webhooks. (The vault, with which reports open consenting
    candidates' sealed demographics, never stored open, is the runtime's: `rt.deps.vault`.)"""
    dispatcher, rt.app.state.webhook_box = webhooks.start(rt.pool, rt.settings)
    rt.tasks.append(asyncio.create_task(dispatcher.run(), name="outcomes-webhooks"))
    # Rows projected before the projection last changed (projection.VERSION), projected again
    # while the service runs: until then the funnel's new lines do not count them.
    rt.tasks.append(asyncio.create_task(_reproject(rt), name="outcomes-reproject"))


async def _reproject(rt: Runtime) -> None:
    try:
        n = await application.reproject_outdated(rt.pool)
    except Exception as exc:  # noqa: BLE001 - logged; the next start tries again
        log.warning("outcomes.reproject_failed", error=repr(exc)[:300])
        return
    if n:
        log.info("outcomes.reprojected", referrals=n, version=projection.VERSION)


# What partners hear (docs/outcomes.md "The closed loops"): of their referrals, of their
# participants' referrals by others, of their service requests.
CLOSED_LOOPS = (events.ReferralStatusChangedV1, events.ParticipantStatusChangedV1, events.ServiceStatusChangedV1)

DEFINITION = ServiceDefinition(
    name="outcomes",
    title="TalentLoop outcomes",
    description="The talent-pipeline ledger: timelines for partners and employers, the funnel for everyone.",
    migrations=Path(__file__).parent / "migrations",
    routers=[router, reports_router, public_router, router_for("partner", [e.event_type for e in CLOSED_LOOPS])],
    emits=CLOSED_LOOPS,
    consumes=(
        topics.REFERRALS,
        topics.ROUTING,
        topics.EMPLOYER_ACTIONS,
        topics.CANDIDATES,
        topics.OPENINGS,
        topics.SKILLS_GAP,
        topics.PROGRAMS,
        topics.TRAINING,
        topics.SERVICES,
    ),
    handlers=HANDLERS,
    batch_handler=batch_handler(live=True),
    on_start=on_start,
    required_settings=("master_key",),
)


# Every event outcomes applies is kept in the ledger under its id, unique, and appending an id
# the ledger holds changes nothing (so nothing is projected nor told for it): the ledger is
# outcomes' inbox. An inbox row per event was about 14 % of outcomes' statement time.
inbox.keyed_by_effects(DEFINITION.name, store.in_ledger)


def asyncapi():  # type: ignore[no-untyped-def]
    """`faststream docs gen services.outcomes.app:asyncapi --factory`"""
    return asyncapi_app(DEFINITION)
