"""Business days, pure: the one calendar by which the network says something waited too long
(the gateway's stale referrals, the support service's stale requests).

Business days are Monday to Friday in the business time zone, without the configured holidays
(TALENTLOOP_BUSINESS_TIMEZONE, TALENTLOOP_HOLIDAYS). Something that began at a moment of a
business day is due N business days later at the same time of day; something that began on a
weekend or holiday counts from the start of the next business day (begun Friday 15:00 with
N = 2: due Tuesday 15:00; begun Saturday: due Wednesday 00:00).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from plumbing.settings import Settings


@dataclass(frozen=True)
class BusinessDays:
    tz: ZoneInfo = ZoneInfo("UTC")
    holidays: frozenset[date] = frozenset()

    @classmethod
    def of(cls, timezone: str, holidays: str) -> BusinessDays:
        """From a time zone name and comma-separated ISO holidays (the settings' form)."""
        return cls(
            ZoneInfo(timezone), frozenset(date.fromisoformat(d.strip()) for d in holidays.split(",") if d.strip())
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> BusinessDays:
        return cls.of(settings.business_timezone, settings.holidays)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def first_on_or_after(self, day: date) -> date:
        while not self.is_business_day(day):
            day += timedelta(days=1)
        return day

    def add(self, day: date, days: int) -> date:
        """The business day `days` business days after `day` (from the next business day when
        `day` is not one): the date arithmetic of `after`, also the demo plan's calendar."""
        day = self.first_on_or_after(day)
        for _ in range(days):
            day = self.first_on_or_after(day + timedelta(days=1))
        return day

    def after(self, since: datetime, days: int) -> datetime:
        """`days` business days after `since` (the rule in the module's docstring), in UTC."""
        local = since.astimezone(self.tz)
        day, at = local.date(), local.timetz().replace(tzinfo=None)
        if not self.is_business_day(day):
            at = time(0)
        return datetime.combine(self.add(day, days), at, self.tz).astimezone(UTC)


def earliest_since(now: datetime, days: int) -> datetime:
    """Nothing begun after this is due at `now`: N business days are at least N days, so a
    sweeper may leave later rows unread."""
    return now - timedelta(days=days)
