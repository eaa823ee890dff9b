"""A referral's stage and status follow from the set of facts seen, not arrival order.

Events of one referral travel on different topics, so a placement may arrive before its
acknowledgement. The ledger keeps every fact; the funnel stage a referral has reached is
derived from the facts with the lifecycle's implications (a placement implies an
acknowledgement and a routing), so a late or missing event never makes counts go wrong.
"""

from __future__ import annotations

from collections.abc import Iterable

FACT_OF_TYPE: dict[str, str] = {
    "referral.submitted.v1": "submitted",
    "referral.routed.v1": "routed",
    "referral.unmatched.v1": "unmatched",
    "referral.acknowledged.v1": "acknowledged",
    "referral.declined.v1": "declined",
    "interview.scheduled.v1": "interview_scheduled",
    "interview.completed.v1": "interview_completed",
    "placement.reported.v1": "placed",
}

# Funnel stages in order, then the side exits.
FUNNEL = ("referred", "routed", "acknowledged", "interviewed", "placed")
EXITS = ("unmatched", "declined")
STAGES = FUNNEL + EXITS

# stage -> facts any one of which shows the stage was reached
EVIDENCE: dict[str, frozenset[str]] = {
    "referred": frozenset(FACT_OF_TYPE.values()),
    "routed": frozenset({"routed", "acknowledged", "declined", "interview_scheduled", "interview_completed", "placed"}),
    "acknowledged": frozenset({"acknowledged", "interview_scheduled", "interview_completed", "placed"}),
    "interviewed": frozenset({"interview_scheduled", "interview_completed"}),
    "placed": frozenset({"placed"}),
    "unmatched": frozenset({"unmatched"}),
    "declined": frozenset({"declined"}),
}

# Pairs of facts the lifecycle forbids together: flagged in the ledger, never dropped.
CONFLICTS: dict[tuple[str, str], str] = {
    ("declined", "placed"): "placement reported for a declined referral",
    ("placed", "unmatched"): "placement reported for an unmatched referral",
    ("routed", "unmatched"): "referral both routed and unmatched",
}


def fact_of(event_type: str) -> str | None:
    return FACT_OF_TYPE.get(event_type)


def stages_reached(facts: Iterable[str]) -> list[str]:
    seen = set(facts)
    return [stage for stage in STAGES if EVIDENCE[stage] & seen]


def anomalies(facts: Iterable[str]) -> list[str]:
    seen = set(facts)
    return [why for (a, b), why in CONFLICTS.items() if a in seen and b in seen]


def partner_status(facts: Iterable[str]) -> str:
    """The closed-loop status the referring partner sees (LIFECYCLE.md vocabulary)."""
    seen = set(facts)
    if "placed" in seen:
        return "hired"
    if "declined" in seen:
        return "declined"
    if seen & {"interview_scheduled", "interview_completed"}:
        return "interviewing"
    if seen & {"routed", "acknowledged"}:
        return "in_review"
    if "unmatched" in seen:
        return "not_matched"
    return "submitted"
