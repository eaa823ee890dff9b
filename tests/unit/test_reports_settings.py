"""The good-job rule's settings (services/outcomes/reports_api.py): read from the environment,
defaults as docs/reports.md states them, a misspelt benefit or employment type refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from plumbing.settings import Settings
from services.outcomes.reports_api import good_job_policy

pytestmark = pytest.mark.unit

RULE = ("TALENTLOOP_GOOD_JOB_BENEFITS", "TALENTLOOP_GOOD_JOB_PREDICTABLE_SCHEDULE",
        "TALENTLOOP_GOOD_JOB_MIN_NOTICE_DAYS", "TALENTLOOP_GOOD_JOB_TYPES", "TALENTLOOP_GOOD_JOB_WAGE")


@pytest.fixture(autouse=True)
def clean_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in RULE:
        monkeypatch.delenv(name, raising=False)


def test_the_defaults() -> None:
    policy = good_job_policy(Settings())
    assert (policy.hourly_threshold, policy.required_benefits, policy.require_predictable_schedule) == (
        Decimal("25.00"), ("health", "paid_leave"), False)
    assert (policy.min_advance_notice_days, policy.counted_types) == (0, ("full_time", "part_time", "apprenticeship"))


def test_each_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TALENTLOOP_GOOD_JOB_WAGE", "31.40")
    monkeypatch.setenv("TALENTLOOP_GOOD_JOB_BENEFITS", " health, retirement ,dental")
    monkeypatch.setenv("TALENTLOOP_GOOD_JOB_PREDICTABLE_SCHEDULE", "true")
    monkeypatch.setenv("TALENTLOOP_GOOD_JOB_MIN_NOTICE_DAYS", "14")
    monkeypatch.setenv("TALENTLOOP_GOOD_JOB_TYPES", "full_time,internship")
    policy = good_job_policy(Settings())
    assert policy.hourly_threshold == Decimal("31.40")
    assert policy.required_benefits == ("health", "retirement", "dental")
    assert (policy.require_predictable_schedule, policy.min_advance_notice_days) == (True, 14)
    assert policy.counted_types == ("full_time", "internship")
    monkeypatch.setenv("TALENTLOOP_GOOD_JOB_BENEFITS", "")
    assert good_job_policy(Settings()).required_benefits == ()


@pytest.mark.parametrize(("name", "value"), [
    ("TALENTLOOP_GOOD_JOB_BENEFITS", "health,gym"),
    ("TALENTLOOP_GOOD_JOB_TYPES", "full_time,seasonal"),
    ("TALENTLOOP_GOOD_JOB_MIN_NOTICE_DAYS", "-1"),
    ("TALENTLOOP_GOOD_JOB_PREDICTABLE_SCHEDULE", "sometimes"),
])
def test_a_wrong_setting_is_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError):
        good_job_policy(Settings())
