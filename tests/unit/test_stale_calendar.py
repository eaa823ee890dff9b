"""When a routed referral that nobody acknowledged becomes stale (business days)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.employer_gateway.stale import BusinessCalendar

pytestmark = pytest.mark.unit
UTC_CAL = BusinessCalendar(2, ZoneInfo("UTC"))


def at(day: int, hour: int = 15, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def test_two_business_days_later_at_the_same_time_skipping_the_weekend():
    assert UTC_CAL.stale_at(at(18)) == at(20)  # Wednesday -> Friday
    assert UTC_CAL.stale_at(at(20)) == at(24)  # Friday 15:00 -> Tuesday 15:00


def test_a_referral_routed_on_a_weekend_counts_from_monday_morning():
    assert UTC_CAL.stale_at(at(21)) == at(25, hour=0)  # Saturday -> Wednesday 00:00


def test_holidays_are_not_business_days():
    cal = BusinessCalendar(2, ZoneInfo("UTC"), frozenset({date(2026, 11, 26), date(2026, 11, 27)}))
    assert cal.stale_at(at(25)) == at(1, month=12)  # Wed; Thu and Fri are holidays -> Mon, Tue


def test_business_days_follow_the_business_time_zone():
    # Friday 23:00 in New York is Saturday 04:00 UTC: still Friday's business day there.
    cal = BusinessCalendar(1, ZoneInfo("America/New_York"))
    routed = datetime(2026, 11, 21, 4, tzinfo=UTC)
    assert cal.stale_at(routed) == datetime(2026, 11, 24, 4, tzinfo=UTC)  # Monday 23:00 New York


MOMENTS = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))


@given(MOMENTS, MOMENTS, st.integers(1, 10))
def test_stale_is_on_a_business_day_at_least_n_days_later_and_grows_with_the_routing_time(a, b, days):
    cal = BusinessCalendar(days, ZoneInfo("UTC"), frozenset({date(2026, 12, 25), date(2027, 1, 1)}))
    first, second = sorted((a, b))
    due = cal.stale_at(first)
    assert due - first >= timedelta(days=days)  # so the sweeper's prefilter never misses one
    assert cal.is_business_day(due.date())
    assert due <= cal.stale_at(second)  # so a sweep in routing-time order may stop at the first not due
