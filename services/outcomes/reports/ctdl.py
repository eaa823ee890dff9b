"""Credential and program outcomes as CTDL-shaped JSON-LD (Credential Engine's Credential
Transparency Description Language; docs/transparency.md, "CTDL export").

One JSON-LD document under the published CTDL context (CONTEXT): a `ceterms:Credential` per
credential (CTDL's subclasses are not told apart: the events carry no credential type) with its
`ceterms:ctid` when it has one, and a `ceterms:LearningOpportunityProfile` per program with what
it costs a participant (`ceterms:estimatedCost` -> `ceterms:CostProfile`). Each carries its
outcomes as `ceterms:aggregateData`, whose range is `ceterms:AggregateDataProfile`, of which
`ceterms:EmploymentOutcomeProfile` and `ceterms:EarningsProfile` are subclasses:

- an AggregateDataProfile: participants who earned the credential (`ceterms:numberAwarded`),
  participants placed (`ceterms:jobsObtained`, a `schema:QuantitativeValue` with the count in
  `schema:value` and the placement rate in `qdata:percentage`), the median hourly wage at
  placement (`ceterms:medianEarnings`, in `ceterms:currency`);
- an EmploymentOutcomeProfile: placements that meet the good-job rule (`ceterms:jobsObtained`);
- an EarningsProfile per point with a median: the median hourly wage at placement, at the 90-day
  and at the 180-day check-in (the point in `ceterms:description`: CTDL's `postReceiptMonths`
  counts from earning a credential, not from a placement, so it is not used).

Figures are exactly the credential outcomes' (reports/credentials.py) for the same viewer; a
suppressed row, or one without participants, has no aggregateData at all (never a 0 for a
suppressed figure), and a missing figure is left out (never null). The row of small groups
combined (groups.SMALL_GROUPS) is neither a credential nor a program and is not exported.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.outcomes.reports.groups import SMALL_GROUPS

CONTEXT = "https://credreg.net/ctdl/schema/context/json"
LANG = "en-US"


def _text(value: str) -> dict[str, str]:
    return {LANG: value}


def _number(money: str | None) -> float | None:
    return None if money is None else float(Decimal(money))


def _count(value: int, of: float | None, description: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "@type": "schema:QuantitativeValue",
        "schema:value": value,
        "schema:description": _text(description),
    }
    if of is not None:
        out["qdata:percentage"] = round(of * 100, 2)
    return out


def _present(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if v is not None}


def aggregate_data(row: dict[str, Any], currency: str, as_of: str) -> list[dict[str, Any]]:
    """A row's outcomes as AggregateDataProfiles; none when suppressed or without participants."""
    if row["suppressed"] or not row["participants"]:
        return []
    n = row["participants"]
    profiles = [
        _present(
            {
                "@type": "ceterms:AggregateDataProfile",
                "ceterms:name": _text("Participants' outcomes"),
                "ceterms:description": _text(
                    f"Over {n} participants (people enrolled), those still in training included; placed: the furthest"
                    " any referral of theirs reached; wages: median hourly wage at placement over their placements."
                ),
                "ceterms:dateEffective": as_of,
                "ceterms:numberAwarded": row["credential_earned"],
                "ceterms:jobsObtained": [_count(row["placed"], row["placement_rate"], f"Participants placed, of {n}")],
                "ceterms:medianEarnings": _number(row["median_hourly_at_placement"]),
                "ceterms:currency": currency if row["median_hourly_at_placement"] is not None else None,
            }
        )
    ]
    if row["good_jobs_assessed"]:
        profiles.append(
            {
                "@type": "ceterms:EmploymentOutcomeProfile",
                "ceterms:description": _text(
                    "Placements that meet the coalition's good-job rule, of the placements"
                    f" assessed ({row['good_jobs_assessed']})."
                ),
                "ceterms:dateEffective": as_of,
                "ceterms:jobsObtained": [_count(row["good_jobs"], row["good_job_rate"], "Good jobs")],
            }
        )
    for column, point in (
        ("median_hourly_at_placement", "at placement"),
        ("median_hourly_90_days", "at the 90-day check-in"),
        ("median_hourly_180_days", "at the 180-day check-in"),
    ):
        if row[column] is not None:
            profiles.append(
                {
                    "@type": "ceterms:EarningsProfile",
                    "ceterms:description": _text(f"Median hourly wage {point}, over the participants' placements."),
                    "ceterms:dateEffective": as_of,
                    "ceterms:medianEarnings": _number(row[column]),
                    "ceterms:currency": currency,
                }
            )
    return profiles


def to_jsonld(outcomes: dict[str, Any], as_of: str) -> dict[str, Any]:
    """credentials.credential_outcomes' result as one CTDL JSON-LD document (`as_of`: the day the
    figures were measured, ISO 8601)."""
    currency = outcomes["currency"]
    graph = []
    # The row of small groups combined is no credential or program: it is not exported.
    for row in (r for r in outcomes["credentials"] if r["credential"] != SMALL_GROUPS):
        graph.append(
            _present(
                {
                    "@type": "ceterms:Credential",
                    "ceterms:name": _text(row["name"]),
                    "ceterms:ctid": row["ctid"],
                    "ceterms:aggregateData": aggregate_data(row, currency, as_of) or None,
                }
            )
        )
    for row in (r for r in outcomes["programs"] if r["program"] != SMALL_GROUPS):
        cost = None
        if row["cost"] is not None:
            cost = [
                {
                    "@type": "ceterms:CostProfile",
                    "ceterms:price": _number(row["cost"]),
                    "ceterms:currency": row["currency"],
                    "ceterms:description": _text("What a participant pays, after any funding."),
                }
            ]
        graph.append(
            _present(
                {
                    "@type": "ceterms:LearningOpportunityProfile",
                    "ceterms:name": _text(row["name"] or row["program"]),
                    "ceterms:estimatedCost": cost,
                    "ceterms:aggregateData": aggregate_data(row, currency, as_of) or None,
                }
            )
        )
    return {"@context": CONTEXT, "@graph": graph}
