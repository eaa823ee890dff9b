"""A referral's stage and status follow from the set of facts seen, not arrival order.

Events of one referral travel on different topics, so a placement may arrive before its
acknowledgement. The ledger keeps every fact; the funnel stage a referral has reached is
derived from the facts with the lifecycle's implications (a placement implies an
acknowledgement and a routing), so a late or missing event never makes counts go wrong.

A withdrawal is a side exit like unmatched and declined. Routing decides a referral again
(a new attempt) when an unmatched one's skills change or a new opening fits it, and when an
employer declines it: the newest decision is the current one (`derive`), so a referral
unmatched and then routed no longer counts as unmatched, and one declined and routed to
another employer is in review again. Beside the stages and the status, each referral has
one outcome (`outcome_of`): where it stands now, exclusive, so the outcomes of all referrals
add up to the referrals made (services/outcomes/pipeline.py counts them; docs/pipeline.md
defines them).

When a candidate is erased, the ledger keeps every event of their referrals (counts stay)
but `redact` takes the personal parts out of each one's data.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from contracts import events
from plumbing import scrub
from services.outcomes import records

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
    "placement.converted": "converted",  # work-based learning turned into a hire at the same employer
    "interview.rescheduled": "interview_rescheduled",
    "interview.cancelled": "interview_cancelled",
    "offer.extended": "offered",
    "offer.declined": "offer_declined",
    "retention.checked": "retention_checked",
    "separation.reported": "separated",
    "referral.stale": "stale",
}
INTERVIEW_FACTS = frozenset({"interview_scheduled", "interview_rescheduled", "interview_cancelled", "interview_completed"})
# A retention check-in is one of three facts, by what it says (`fact_of`).
RETAINED_90 = "retained_90_days"
# A conversion is a fact of the hire: it shows the placement, and the partner still sees `hired`.
HIRE_FACTS = frozenset({"placed", "converted", "retention_checked", RETAINED_90, "separated"})

# Funnel stages in order, then the side exits (`closed`: the candidate turned the offer down).
FUNNEL = records.FUNNEL
EXITS = ("unmatched", "declined", "withdrawn", "closed")
STAGES = FUNNEL + EXITS

# stage -> facts any one of which shows the stage was reached
EVIDENCE: dict[str, frozenset[str]] = {
    "referred": frozenset(FACT_OF_FAMILY.values()),
    "routed": frozenset(
        {"routed", "acknowledged", "declined", "stale", "offered", "offer_declined"} | INTERVIEW_FACTS | HIRE_FACTS
    ),
    "acknowledged": frozenset({"acknowledged", "offered", "offer_declined"} | INTERVIEW_FACTS | HIRE_FACTS),
    "interviewed": INTERVIEW_FACTS,
    "offered": frozenset({"offered", "offer_declined"}) | HIRE_FACTS,
    "placed": HIRE_FACTS,
    "retained_90_days": frozenset({RETAINED_90}),
    "unmatched": frozenset({"unmatched"}),
    "declined": frozenset({"declined"}),
    "withdrawn": frozenset({"withdrawn"}),
    "closed": frozenset({"offer_declined"}),
}

# Pairs of facts the lifecycle forbids together: flagged in the ledger, never dropped.
CONFLICTS: dict[tuple[str, str], str] = {
    ("declined", "placed"): "placement reported for a declined referral",
    ("placed", "unmatched"): "placement reported for an unmatched referral",
    ("routed", "unmatched"): "referral both routed and unmatched",
}


def fact_of(event_type: str, data: dict[str, Any] | None = None) -> str | None:
    """The fact an event states; a retention check-in's depends on what it says."""
    return fact_of_family(event_type.rsplit(".", 1)[0], data)


def fact_of_family(family: str, data: dict[str, Any] | None = None) -> str | None:
    """`fact_of` for the type without its version."""
    fact = FACT_OF_FAMILY.get(family)
    if fact == "retention_checked" and data is not None:
        if not data.get("still_employed", True):
            return "separated"
        if data.get("milestone_days", 0) >= 90:
            return RETAINED_90
    return fact


DECISIONS = frozenset({"routed", "unmatched"})
NO_EMPLOYER = "-"  # an employer's fact that names none (never an employer id: those are slugs)


@dataclass(frozen=True, order=True)
class Fact:
    """One fact about a referral and whose it is: the employer it happened at (routing
    decisions and employer actions) and, for a routing decision, its attempt.

    A declined referral is routed again, to another employer, as a new attempt: facts of
    several employers may then belong to one referral. Routing never sends a referral back
    to an employer, so the employer tells which routing an employer's action belongs to.
    """

    name: str
    employer_id: str | None = None
    attempt: int | None = None


@dataclass(frozen=True)
class Derived:
    stages: list[str]
    status: str
    anomalies: list[str]
    employer_id: str | None  # the employer of the current routing, if routed
    attempt: int  # the current routing decision's attempt (0: none yet)
    # Where the referral stands now, one of pipeline.OUTCOMES (exclusive: docs/pipeline.md).
    outcome: str = "pending"
    # Every employer that declined it, at any attempt (NO_EMPLOYER for a decline naming none).
    declined_by: tuple[str, ...] = ()


def scoped(name: str, employer_id: str | None, attempt: int | None) -> Fact:
    """A fact as recorded: the employer for an employer's action or a routing, the attempt
    for a routing decision (older versions without one are attempt 1).

    Remembered: every projection makes the facts of all its referral's events again, and a
    Fact is an immutable value, so one object serves every equal one (`typed`: 1 and True
    are equal keys, not equal facts to write)."""
    try:
        return _scoped(name, employer_id, attempt)
    except TypeError:  # an unhashable value in odd data: made, not remembered
        return _scoped.__wrapped__(name, employer_id, attempt)


@functools.lru_cache(maxsize=65_536, typed=True)
def _scoped(name: str, employer_id: str | None, attempt: int | None) -> Fact:
    return Fact(
        name,
        employer_id if name in EMPLOYER_FACTS or name == "routed" else None,
        (attempt or 1) if name in DECISIONS else None,
    )


def _fact(f: Fact | str) -> Fact:
    return Fact(f) if isinstance(f, str) else f


def derive(facts: Iterable[Fact | str]) -> Derived:
    """Stages, partner status and anomalies from the facts seen, in any order.

    The current routing is the decision with the highest attempt (routed before unmatched at
    the same attempt: before attempts were counted, an update's new decision had the same
    one). The funnel stages count what happened at any employer (declined by one, hired by
    the next: it was acknowledged, and placed); the side exits and the status follow the
    current routing.
    """
    seen = {f if type(f) is Fact else _fact(f) for f in facts}
    names = {f.name for f in seen}
    decisions = sorted(
        ((f.attempt or 1, f.name == "routed", f) for f in seen if f.name in DECISIONS), key=lambda d: d[:2]
    )
    current = decisions[-1][2] if decisions else None
    attempt = (current.attempt or 1) if current else 0
    at_employer = _facts_by_employer(seen)
    employer: str | None = None
    if current is not None and current.name == "routed":
        employer = current.employer_id
    elif current is None and at_employer:
        employer = max(at_employer, key=str)  # no decision seen yet, but an employer acted: that is the routing
    mine = at_employer.get(employer, set()) if current is None or current.name == "routed" else set()
    tie = _tie(decisions)
    status = _status(names, mine, current is not None and current.name == "unmatched")
    unmatched_now = current is not None and (current.name == "unmatched" or (tie and "updated" not in names))
    stages = [s for s in FUNNEL if EVIDENCE[s] & names]
    exits = {
        "unmatched": unmatched_now and not names & HIRE_FACTS,
        "declined": status == "declined",
        "withdrawn": "withdrawn" in names,
        "closed": "offer_declined" in mine and not names & HIRE_FACTS,
    }
    stages += [s for s in EXITS if exits[s]]
    declined_by = tuple(sorted(e or NO_EMPLOYER for e, facts in at_employer.items() if "declined" in facts))
    return Derived(stages, status, _anomalies(names, at_employer, current, tie), employer, attempt,
                   outcome_of(status, names), declined_by)


# partner status -> outcome (docs/pipeline.md); "not_matched" splits by whether it was ever routed.
_OUTCOME_OF_STATUS = {
    "hired": "placed", "retained_90_days": "placed", "withdrawn": "withdrawn", "declined": "declined",
    "offered": "in_progress", "interviewing": "in_progress", "in_review": "in_progress", "submitted": "pending",
}


def outcome_of(status: str, names: set[str]) -> str:
    """The referral's one outcome, from its partner status and the facts' names: the status
    already says where it stands now (a hire wins over everything, a withdrawal over a
    routing); "closed" is a hire that ended or an offer turned down, and "not_matched" is
    split by whether any employer ever had the referral."""
    if status == "closed":
        return "placed" if names & HIRE_FACTS else "offer_declined"
    if status == "not_matched":
        return "not_matched_after_decline" if names & EVIDENCE["routed"] else "not_matched_never_routed"
    return _OUTCOME_OF_STATUS[status]


def _facts_by_employer(seen: set[Fact]) -> dict[str | None, set[str]]:
    out: dict[str | None, set[str]] = {}
    for f in seen:
        if f.name in EMPLOYER_FACTS or f.name == "routed":
            out.setdefault(f.employer_id, set()).add(f.name)
    return out


def _tie(decisions: list[tuple[int, bool, Fact]]) -> bool:
    """Routed and unmatched at the same (newest) attempt."""
    return len(decisions) > 1 and decisions[-1][0] == decisions[-2][0] and decisions[-1][1] != decisions[-2][1]


EMPLOYER_FACTS = frozenset({"acknowledged", "declined", "stale", "offered", "offer_declined"} | INTERVIEW_FACTS | HIRE_FACTS)


def _status(names: set[str], mine: set[str], unmatched_now: bool) -> str:
    """The closed-loop status the referring partner sees (LIFECYCLE.md vocabulary)."""
    if "separated" in names:
        return "closed"
    if RETAINED_90 in names:
        return "retained_90_days"
    if names & HIRE_FACTS:
        return "hired"
    if "withdrawn" in names:
        return "withdrawn"
    if unmatched_now:
        return "not_matched"
    if "declined" in mine:
        return "declined"
    if "offer_declined" in mine:
        return "closed"
    if "offered" in mine:
        return "offered"
    if mine & INTERVIEW_FACTS:
        return "interviewing"
    if mine & {"routed", "acknowledged"}:
        return "in_review"
    if "unmatched" in names:
        return "not_matched"
    return "submitted"


def _anomalies(
    names: set[str], at_employer: dict[str | None, set[str]], current: Fact | None, tie: bool
) -> list[str]:
    out = []
    if any("declined" in facts and facts & HIRE_FACTS for facts in at_employer.values()):
        out.append(CONFLICTS[("declined", "placed")])
    if names & HIRE_FACTS and current is not None and current.name == "unmatched":
        out.append(CONFLICTS[("placed", "unmatched")])
    if tie and "updated" not in names:
        out.append(CONFLICTS[("routed", "unmatched")])
    return out


def stages_reached(facts: Iterable[Fact | str]) -> list[str]:
    return derive(facts).stages


def anomalies(facts: Iterable[Fact | str]) -> list[str]:
    return derive(facts).anomalies


def partner_status(facts: Iterable[Fact | str]) -> str:
    return derive(facts).status


# --- erasure ----------------------------------------------------------------------------

# What is personal in an event's data is defined once, for every service's erasure
# (plumbing/scrub.py): the ledger is redacted with the same `strip` that cleans the rows kept
# for operations. Live and rebuild both call `redact`, so their ledgers stay hash-equal.
ERASED = scrub.ERASED
PERSONAL_KEYS = scrub.PERSONAL_KEYS
redact = scrub.strip
# A service request's words about the person (why it is needed, why it was withdrawn, a
# provider's detail of a decline) go with the person too; codes, types, dates and amounts stay.
SERVICE_FREE_TEXT = frozenset({"reason", "detail"})


def redact_service(data: dict[str, Any]) -> dict[str, Any]:
    """`redact` for a service request's event: its free text goes as well."""
    return {k: v for k, v in redact(data).items() if k not in SERVICE_FREE_TEXT}


def status_changed(
    referral_id: str, partner_id: str, status: str, detail: dict[str, Any], before: str | None
) -> events.ReferralStatusChangedV1 | None:
    """What the referring partner is told when a referral's status is now `status` (with why,
    `detail`) and was `before` (None: never told); None when there is nothing to tell: the
    status did not change, or no event that names the partner has arrived yet (they hear once
    one has)."""
    if status == before or not partner_id:
        return None
    return events.ReferralStatusChangedV1(referral_id=referral_id, partner_id=partner_id,
                                          **_partner_status(status, detail, before))


def _partner_status(status: str, detail: dict[str, Any], before: str | None) -> dict[str, Any]:
    """A referral's partner-facing status as the closed loops' events carry it, with why."""
    return {
        "status": events.PartnerStatus(status),
        "previous_status": events.PartnerStatus(before) if before else None,
        "detail": events.StatusDetail.model_validate(detail),
    }


@dataclass(frozen=True)
class Shared:
    """An enrollment whose participant agreed that its training provider may hear what came of
    them (`share_outcomes_with_provider`), and the person it is about."""

    enrollment_id: str
    provider: str
    program_id: str
    person_key: str


def participant_status_changed(
    told: Shared, referral_id: str, status: str, detail: dict[str, Any], before: str | None
) -> events.ParticipantStatusChangedV1 | None:
    """What a training provider is told of another partner's referral of its participant (an
    enrollment `told` whose consent lets it hear what came of them): as the referring partner
    is, None when the status did not move."""
    if status == before:
        return None
    return events.ParticipantStatusChangedV1(partner_id=told.provider, enrollment_id=told.enrollment_id,
                                             program_id=told.program_id, referral_id=referral_id,
                                             **_partner_status(status, detail, before))


def participants_to_tell(shared: Iterable[Shared], person_key: str, referring_partner: str) -> list[Shared]:
    """The providers told of a referral of `person_key` by `referring_partner`: each enrollment of
    the person with consent, except the referring partner's own (it hears as the referrer)."""
    return [s for s in shared if s.person_key == person_key and s.provider != referring_partner]


def service_status_changed(
    request_id: str, requester_id: str, status: str, detail: dict[str, Any], before: str | None
) -> events.ServiceStatusChangedV1 | None:
    """What a service request's requester is told when its status is now `status` and was
    `before` (None: never told); None when it did not move."""
    if status == before:
        return None
    return events.ServiceStatusChangedV1(
        request_id=request_id,
        partner_id=requester_id,
        status=events.ServiceStatus(status),
        previous_status=events.ServiceStatus(before) if before else None,
        detail=events.ServiceStatusDetail.model_validate(detail),
    )
