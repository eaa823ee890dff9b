"""The outcomes service: the shared ledger of every lifecycle event, timelines and the funnel."""

from pathlib import Path

from contracts import topics
from plumbing.service import ServiceDefinition, asyncapi_app
from services.outcomes.api import router
from services.outcomes.handlers import HANDLERS

DEFINITION = ServiceDefinition(
    name="outcomes",
    title="TalentLoop outcomes",
    description="The talent-pipeline ledger: timelines for partners and employers, the funnel for everyone.",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    consumes=(topics.REFERRALS, topics.ROUTING, topics.EMPLOYER_ACTIONS, topics.CANDIDATES),
    handlers=HANDLERS,
)


def asyncapi():  # type: ignore[no-untyped-def]
    """`faststream docs gen services.outcomes.app:asyncapi --factory`"""
    return asyncapi_app(DEFINITION)
