"""What an employer declares beyond its openings (issue 16 items 3 and 4): the demand it expects
in the coming 6 or 12 months, and how it hires for an occupation. Pure: each builds the event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contracts import events


def forecast(forecast_id: str, employer_id: str, declared: Mapping[str, Any]) -> events.DemandForecastV1:
    """The employer's forecast for one occupation, employment type and horizon; it replaces the
    employer's earlier one for the same three (`replaces`)."""
    return events.DemandForecastV1(forecast_id=forecast_id, employer_id=employer_id, **declared)


def forecast_key(event: events.DemandForecastV1) -> tuple[str, str, str, int]:
    """What a newer forecast replaces an older one by."""
    return (event.employer_id, event.onet_soc_code, event.employment_type.value, event.horizon_months)


def standards(employer_id: str, published: Mapping[str, Any]) -> events.HiringStandardsPublishedV1:
    """How the employer hires for one occupation, published under its name; replaces its earlier
    standards for that occupation."""
    return events.HiringStandardsPublishedV1(employer_id=employer_id, **published)


def publication(employer_id: str, chosen: Mapping[str, Any]) -> events.HiringPublicationChosenV1:
    """Whether the coalition may publish the employer's hiring for a year; replaces its earlier
    choice for that year."""
    return events.HiringPublicationChosenV1(employer_id=employer_id, **chosen)
