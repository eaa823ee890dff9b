"""A referral's stage and status follow from the set of facts seen, not arrival order.

Events of one referral travel on different topics, so a placement may arrive before its
acknowledgement. The ledger keeps every fact; the funnel stage a referral has reached is
derived from the facts with the lifecycle's implications (a placement implies an
acknowledgement and a routing), so a late or missing event never makes counts go wrong.
"""

from __future__ import annotations

from collections.abc import Iterable

# event family (the type without its version: every version states the same fact) -> fact
FACT_OF_FAMILY: dict[str, str] = {
    "referral.submitted": "submitted",
    "referral.routed": "routed",
    "referral.unmatched": "unmatched",
    "referral.acknowledged": "acknowledged",
    "referral.declined": "declined",
    "interview.scheduled": "interview_scheduled",
    "interview.completed": "interview_completed",
    "placement.reported": "placed",
}

# Funnel stages in order, then the side exits.
FUNNEL = ("referred", "routed", "acknowledged", "interviewed", "placed")
EXITS = ("unmatched", "declined")
STAGES = FUNNEL + EXITS

# stage -> facts any one of which shows the stage was reached
EVIDENCE: dict[str, frozenset[str]] = {
    "referred": frozenset(FACT_OF_FAMILY.values()),
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
    return FACT_OF_FAMILY.get(event_type.rsplit(".", 1)[0])


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
