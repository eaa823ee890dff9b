"""A referral's stage and status follow from the set of facts seen, not arrival order.

Events of one referral travel on different topics, so a placement may arrive before its
acknowledgement. The ledger keeps every fact; the funnel stage a referral has reached is
derived from the facts with the lifecycle's implications (a placement implies an
acknowledgement and a routing), so a late or missing event never makes counts go wrong.

A withdrawal is a side exit like unmatched and declined. An update adds no stage, but it
explains a referral both unmatched and routed: routing decides an unmatched referral again
when its skills change, so once routed it no longer counts as unmatched.

When a candidate is erased, the ledger keeps every event of their referrals (counts stay)
but `redact` takes the personal parts out of each one's data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# event family (the type without its version: every version states the same fact) -> fact
FACT_OF_FAMILY: dict[str, str] = {
    "referral.submitted": "submitted",
    "referral.updated": "updated",
    "referral.withdrawn": "withdrawn",
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
EXITS = ("unmatched", "declined", "withdrawn")
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
    "withdrawn": frozenset({"withdrawn"}),
}

# Pairs of facts the lifecycle forbids together: flagged in the ledger, never dropped.
CONFLICTS: dict[tuple[str, str], str] = {
    ("declined", "placed"): "placement reported for a declined referral",
    ("placed", "unmatched"): "placement reported for an unmatched referral",
    ("routed", "unmatched"): "referral both routed and unmatched",
}


def fact_of(event_type: str) -> str | None:
    return FACT_OF_FAMILY.get(event_type.rsplit(".", 1)[0])


# A routed event whose `attempt` is above 1 also records this fact: routing decided again
# (a new opening fitted a waiting referral), so an earlier "unmatched" is history, not a conflict.
REROUTED = "rerouted"


def _rerouted(seen: set[str]) -> bool:
    """Unmatched, then routed after an update or as a later routing attempt: the second
    decision supersedes the first."""
    return "unmatched" in seen and bool(seen & {"updated", REROUTED}) and bool(seen & EVIDENCE["routed"])


def stages_reached(facts: Iterable[str]) -> list[str]:
    seen = set(facts)
    return [stage for stage in STAGES if EVIDENCE[stage] & seen and not (stage == "unmatched" and _rerouted(seen))]


def anomalies(facts: Iterable[str]) -> list[str]:
    seen = set(facts)
    return [
        why
        for (a, b), why in CONFLICTS.items()
        if a in seen and b in seen and not ("unmatched" in (a, b) and _rerouted(seen))
    ]


def partner_status(facts: Iterable[str]) -> str:
    """The closed-loop status the referring partner sees (LIFECYCLE.md vocabulary)."""
    seen = set(facts)
    if "placed" in seen:
        return "hired"
    if "withdrawn" in seen:
        return "withdrawn"
    if "declined" in seen:
        return "declined"
    if seen & {"interview_scheduled", "interview_completed"}:
        return "interviewing"
    if seen & {"routed", "acknowledged"}:
        return "in_review"
    if "unmatched" in seen:
        return "not_matched"
    return "submitted"


# --- erasure ----------------------------------------------------------------------------

ERASED = "erased"
# Personal parts of an event's data: sealed contact, the candidate's skills as routed, and
# their credentials and training. Skills keep only their vocabulary ids.
PERSONAL_KEYS = frozenset({"contact_sealed", "candidate_skills", "credentials", "training"})


def redact(data: dict[str, Any]) -> dict[str, Any]:
    """An event's data without the erased candidate's personal parts.

    The candidate id becomes "erased"; `skills` keep their vocabulary ids only (the text the
    partner wrote goes; v1's free-text skills go entirely). Nothing is added, so the result
    is never larger than the original, and redacting twice gives the same result.
    """
    out = {k: v for k, v in data.items() if k not in PERSONAL_KEYS}
    if "candidate_id" in out:
        out["candidate_id"] = ERASED
    if isinstance(out.get("skills"), list):
        out["skills"] = [{"id": s.get("id")} for s in out["skills"] if isinstance(s, dict)]
    return out
