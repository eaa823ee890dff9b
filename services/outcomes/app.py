"""The outcomes service: the shared ledger of every lifecycle event, the closed loop back to
the referring partner, timelines, the funnel and the reports."""

from pathlib import Path

from contracts import events, topics
from plumbing.service import ServiceDefinition, asyncapi_app
from services.outcomes.api import router
from services.outcomes.handlers import HANDLERS

DEFINITION = ServiceDefinition(
    name="outcomes",
    title="TalentLoop outcomes",
    description="The talent-pipeline ledger: timelines for partners and employers, the funnel for everyone.",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    emits=(events.ReferralStatusChangedV1,),
    consumes=(
        topics.REFERRALS,
        topics.ROUTING,
        topics.EMPLOYER_ACTIONS,
        topics.CANDIDATES,
        topics.OPENINGS,
        topics.SKILLS_GAP,
    ),
    handlers=HANDLERS,
)


def asyncapi():  # type: ignore[no-untyped-def]
    """`faststream docs gen services.outcomes.app:asyncapi --factory`"""
    return asyncapi_app(DEFINITION)
