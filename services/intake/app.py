"""The intake service: partners' referrals in, validated `referral.submitted` events out."""

from pathlib import Path

from plumbing.service import ServiceDefinition
from services.intake.api import router

DEFINITION = ServiceDefinition(
    name="intake",
    title="TalentLoop intake",
    description="Partners submit referrals; intake validates them and protects personal data.",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    required_settings=("pseudonym_key",),
)
