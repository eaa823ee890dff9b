"""The employer gateway: employers post openings and report what happened to referrals."""

from pathlib import Path

from contracts import events, topics
from plumbing.service import ServiceDefinition, asyncapi_app
from services.employer_gateway.api import router
from services.employer_gateway.handlers import HANDLERS

DEFINITION = ServiceDefinition(
    name="employer_gateway",
    title="TalentLoop employer gateway",
    description="Employers' API: openings, the referral inbox, acknowledgements, interviews and placements.",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    emits=(
        events.OpeningPostedV1,
        events.OpeningUpdatedV1,
        events.OpeningClosedV1,
        events.ReferralAcknowledgedV1,
        events.ReferralDeclinedV1,
        events.InterviewScheduledV1,
        events.InterviewCompletedV1,
        events.PlacementReportedV1,
    ),
    consumes=(topics.ROUTING, topics.REFERRALS, topics.CANDIDATES),
    handlers=HANDLERS,
)


def asyncapi():  # type: ignore[no-untyped-def]
    """`faststream docs gen services.employer_gateway.app:asyncapi --factory`"""
    return asyncapi_app(DEFINITION)
