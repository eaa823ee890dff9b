"""The routing service: matches submitted referrals to open openings, with an explanation."""

from pathlib import Path

from contracts import topics
from plumbing.service import ServiceDefinition
from services.routing.api import router
from services.routing.handlers import HANDLERS

DEFINITION = ServiceDefinition(
    name="routing",
    title="TalentLoop routing",
    description="Skills-based matching of referrals to employers' openings.",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    consumes=(topics.OPENINGS, topics.REFERRALS),
    handlers=HANDLERS,
)
