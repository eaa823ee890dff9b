"""What the referring partner sees of a referral's timeline: pure, no I/O.

The closed loop tells a partner what became of its referral without the employer's exact
figures or words: the job's title, a wage band, benefits, reason codes
(`projection._why`). The timeline (`GET /v1/referrals/{id}/timeline`) keeps to the same line:

- an operator sees every event as recorded;
- an employer sees only its own events (`store.timeline`), as recorded: its own figures and
  words;
- the referring partner sees every event, but of an employer's event (those on
  `talentloop.employer-actions`) only the fields in `PARTNER_SEES`: a wage becomes
  `wage_band`, the same band as the closed loop's (`projection.wage_band` of the hourly
  wage; "unpaid" for unpaid work, never the exact figure of an offer, placement or check-in),
  and free text (`detail` of a decline, a cancelled interview, a turned-down offer, a
  separation) is left out. A field not listed is left out too, until someone decides a
  partner may see it: a new field of an employer's event is private by default.

Intake's and routing's events are shown as recorded (they hold what the partner sent and why
routing decided as it did, which the partner is meant to see) without what only the network
uses (`NETWORK_ONLY`): the network-wide candidate id, which would link the partner's referral
to other partners' referrals of the person (intake tells each partner its own id of them),
and sealed copies, whose key id names that candidate and whose content the partner cannot
open.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from contracts import registry, topics
from services.outcomes.projection import UNPAID, wage_band
from services.outcomes.records import hourly_wage

# Fields of an employer's event a partner sees: ids, codes, dates, the job's terms but its pay
# (a wage only as its band; "unpaid" is a band too), a check-in's title and promotion.
PARTNER_SEES = frozenset({
    "referral_id", "employer_id", "opening_id",
    "reason",  # a code (decline, turned-down offer, separation); the words are in `detail`
    "interview_id", "scheduled_for", "mode", "outcome", "cancelled_by",
    "offer_id", "job_title", "onet_soc_code", "hours_per_week", "employment_type", "benefits", "start_date",
    "expires_on", "milestone_days", "still_employed", "checked_on", "separated_on", "routed_at", "business_days",
    "pay_basis", "paid", "apprenticeship_registered", "engagement_hours", "end_date", "schedule", "promoted",
    "converted_on", "from_employment_type",  # a conversion: when, and from which kind of job
})

# Fields of intake's and routing's events a partner does not see.
NETWORK_ONLY = frozenset({"candidate_id", "contact_sealed", "demographics_sealed"})


def from_employer(event_type: str) -> bool:
    """Is this an employer's event? An unknown type counts as one (shown as little as possible)."""
    model = registry.PAYLOADS.get(event_type)
    return model is None or model.topic == topics.EMPLOYER_ACTIONS


def for_partner(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The timeline's entries (each with `type` and `data`, in order) as the partner sees them.

    A retention check-in's wage is banded over the hours it states, else over the hours the
    employer's placement (or offer) stated before it; with neither, a wage that is not hourly
    has no band and is left out."""
    hours: dict[Any, Any] = {}  # employer id -> contracted hours last stated
    out = []
    for entry in entries:
        data = entry["data"]
        if from_employer(entry["type"]):
            employer = data.get("employer_id")
            if data.get("hours_per_week"):
                hours[employer] = data["hours_per_week"]
            data = partner_view(data, hours.get(employer))
        else:
            data = {k: v for k, v in data.items() if k not in NETWORK_ONLY}
        out.append({**entry, "data": data})
    return out


def partner_view(data: dict[str, Any], hours_per_week: Any = None) -> dict[str, Any]:
    """One employer's event as the partner sees it: the listed fields, a wage as its band."""
    shown = {k: v for k, v in data.items() if k in PARTNER_SEES}
    if data.get("pay_basis") == "unpaid":
        band: str | None = UNPAID
    else:
        band = band_of(data.get("wage"), data.get("hours_per_week") or hours_per_week,
                       data.get("engagement_hours") if data.get("pay_basis") == "project_fee" else None)
    if band is not None:
        shown["wage_band"] = band
    return shown


def band_of(wage: Any, hours_per_week: Any, engagement_hours: Any = None) -> str | None:
    """The closed loop's band of a wage (`{"amount", "unit"}`) over the contracted hours (a
    project fee that is not hourly: over the engagement's hours); None when there is no wage,
    or it is not hourly and the hours are unknown."""
    if not isinstance(wage, dict):
        return None
    unit = wage.get("unit")
    try:
        amount = Decimal(str(wage.get("amount")))
        if unit != "hour" and _positive(engagement_hours):
            return wage_band((amount / Decimal(str(engagement_hours))).quantize(Decimal("0.01")))
        if unit != "hour" and not _positive(hours_per_week):
            return None
        hourly = hourly_wage(amount, str(unit), float(hours_per_week or 0))
        return None if hourly is None else wage_band(hourly)
    except (InvalidOperation, KeyError, ValueError, ArithmeticError):
        return None


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0
