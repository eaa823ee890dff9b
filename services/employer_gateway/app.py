"""The employer gateway: employers post openings and report what happened to referrals."""

import asyncio
from pathlib import Path

from contracts import events, topics
from plumbing import webhooks
from plumbing.service import Runtime, ServiceDefinition, asyncapi_app
from plumbing.vault import Vault, parse_master_key
from plumbing.webhooks_api import router_for
from services.employer_gateway import stale
from services.employer_gateway.api import router
from services.employer_gateway.handlers import EMPLOYER_NOTIFICATIONS, HANDLERS


async def on_start(rt: Runtime) -> None:
    """The vault (to show consenting candidates' contact details), the webhook dispatcher and
    the stale sweeper."""
    async with rt.pool.acquire() as conn, conn.transaction():
        await Vault.ensure_schema(conn)
    rt.app.state.vault = Vault(parse_master_key(rt.settings.master_key or ""))
    dispatcher, rt.app.state.webhook_box = webhooks.start(rt.pool, rt.settings)
    rt.tasks.append(asyncio.create_task(dispatcher.run(), name="gateway-webhooks"))
    calendar = stale.BusinessCalendar.from_settings(rt.settings)
    rt.tasks.append(asyncio.create_task(stale.run(rt.pool, calendar, rt.settings.stale_sweep_s), name="gateway-stale"))


DEFINITION = ServiceDefinition(
    name="employer_gateway",
    title="TalentLoop employer gateway",
    description="Employers' API: openings, the referral inbox, acknowledgements, interviews and placements.",
    migrations=Path(__file__).parent / "migrations",
    routers=[router, router_for("employer", EMPLOYER_NOTIFICATIONS)],
    emits=(
        events.OpeningPostedV1,
        events.OpeningUpdatedV1,
        events.OpeningClosedV1,
        events.ReferralAcknowledgedV1,
        events.ReferralDeclinedV1,
        events.InterviewScheduledV1,
        events.InterviewCompletedV1,
        events.PlacementReportedV1,
        events.InterviewRescheduledV1,
        events.InterviewCancelledV1,
        events.OfferExtendedV1,
        events.OfferDeclinedV1,
        events.RetentionCheckedV1,
        events.SeparationReportedV1,
        events.ReferralStaleV1,
    ),
    consumes=(topics.ROUTING, topics.REFERRALS, topics.CANDIDATES),
    handlers=HANDLERS,
    on_start=on_start,
    required_settings=("master_key",),
)


def asyncapi():  # type: ignore[no-untyped-def]
    """`faststream docs gen services.employer_gateway.app:asyncapi --factory`"""
    return asyncapi_app(DEFINITION)
