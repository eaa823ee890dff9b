"""The employer gateway: employers post openings and report what happened to referrals."""

from pathlib import Path

from contracts import topics
from plumbing.service import ServiceDefinition
from services.employer_gateway.api import router
from services.employer_gateway.handlers import HANDLERS

DEFINITION = ServiceDefinition(
    name="employer_gateway",
    title="TalentLoop employer gateway",
    description="Employers' API: openings, the referral inbox, acknowledgements, interviews and placements.",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    consumes=(topics.ROUTING,),
    handlers=HANDLERS,
)
