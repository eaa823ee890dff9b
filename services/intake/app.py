"""The intake service: partners' referrals in, validated `referral.submitted` events out."""

from pathlib import Path

from contracts import events
from plumbing.service import ServiceDefinition, asyncapi_app
from services.intake.api import router

DEFINITION = ServiceDefinition(
    name="intake",
    title="TalentLoop intake",
    description="Partners submit referrals; intake validates them and protects personal data.",
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    emits=(events.ReferralSubmittedV2,),
    required_settings=("pseudonym_key",),
)


def asyncapi():  # type: ignore[no-untyped-def]
    """`faststream docs gen services.intake.app:asyncapi --factory`"""
    return asyncapi_app(DEFINITION)
