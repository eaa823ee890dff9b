"""The support service's own setting: how long an accepted request may wait to be delivered.

The rest of its stale rule is the referrals' (plumbing/settings.py: TALENTLOOP_STALE_BUSINESS_DAYS
for a request not answered, TALENTLOOP_BUSINESS_TIMEZONE, TALENTLOOP_HOLIDAYS,
TALENTLOOP_STALE_SWEEP_S), read in the same style from the environment.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from plumbing.settings import Settings
from services.support.domain import BusinessDays, StaleRule


class SupportSettings(BaseSettings):
    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    # A service takes longer to deliver than to answer: a ride or a childcare place is arranged
    # within two weeks, not two days.
    delivery_business_days: int = Field(default=10, ge=1, alias="TALENTLOOP_SERVICE_DELIVERY_BUSINESS_DAYS")


def stale_rule(settings: Settings, support: SupportSettings | None = None) -> StaleRule:
    support = support or SupportSettings()
    return StaleRule(
        BusinessDays.of(settings.business_timezone, settings.holidays),
        answer_days=settings.stale_business_days,
        delivery_days=support.delivery_business_days,
    )
