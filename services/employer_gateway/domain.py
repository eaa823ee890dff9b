"""A routed referral's life at the employer: the state machine the gateway enforces.

Pure: each method checks the transition against the current state, updates the state and
returns the event payload to publish; a forbidden transition raises InvalidTransition
naming the current state (the API turns it into a 409 problem).

The referring partner may withdraw a referral (intake's `referral.withdrawn`): it becomes
`withdrawn` unless it was placed or declined already, and no employer action is allowed on it. When
the candidate is erased, a referral still in progress is withdrawn and its stored routing
loses the personal parts (`without_personal_data`).

An employer's opening is open until they close it or mark it filled; only an open opening
may be updated, and its capacity not below the referrals already routed to it
(`update_opening`, `close_opening`). Closing declines the referrals still in progress there
(`decline_for_closed_opening`), and so does a referral that reaches an opening closed
meanwhile: routing then routes them again, to another employer. An employer should report a
placement before marking the opening filled.

One referral may be routed to several employers in turn (after a decline): each employer
has its own `Referral`, keyed by the referral id and the employer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from contracts import events


class State(StrEnum):
    routed = "routed"
    acknowledged = "acknowledged"
    interviewing = "interviewing"
    declined = "declined"
    placed = "placed"
    withdrawn = "withdrawn"


# No employer action leads out of these (ALLOWED names none of them).
FINAL = frozenset({State.declined, State.placed, State.withdrawn})


class InvalidTransition(Exception):
    """An action the current state forbids (of a referral, or of an opening: `subject`)."""

    def __init__(
        self, action: str, current: StrEnum, detail: str | None = None, *, subject: str = "a referral"
    ) -> None:
        super().__init__(detail or f"cannot {action} {subject} that is {current.value}")
        self.action = action
        self.current = current


class UnknownInterview(Exception):
    pass


ALLOWED: dict[str, frozenset[State]] = {
    "acknowledge": frozenset({State.routed}),
    "decline": frozenset({State.routed, State.acknowledged, State.interviewing}),
    "schedule_interview": frozenset({State.acknowledged, State.interviewing}),
    "record_interview_outcome": frozenset({State.interviewing}),
    "report_placement": frozenset({State.acknowledged, State.interviewing}),
}


@dataclass
class Interview:
    interview_id: str
    scheduled_for: datetime
    mode: events.InterviewMode
    outcome: events.InterviewOutcome | None = None


@dataclass
class Referral:
    referral_id: str
    employer_id: str
    opening_id: str
    state: State = State.routed
    interviews: dict[str, Interview] = field(default_factory=dict)
    decline_reason: events.DeclineReason | None = None

    def _check(self, action: str) -> None:
        if self.state not in ALLOWED[action]:
            raise InvalidTransition(action, self.state)

    def _ids(self) -> dict[str, str]:
        return {"referral_id": self.referral_id, "employer_id": self.employer_id, "opening_id": self.opening_id}

    def acknowledge(self) -> events.ReferralAcknowledgedV1:
        self._check("acknowledge")
        self.state = State.acknowledged
        return events.ReferralAcknowledgedV1(**self._ids())

    def decline(self, reason: events.DeclineReason, detail: str | None) -> events.ReferralDeclinedV1:
        self._check("decline")
        event = events.ReferralDeclinedV1(**self._ids(), reason=reason, detail=detail)
        self.state = State.declined
        self.decline_reason = reason
        return event

    def decline_for_closed_opening(self, closed_as: events.OpeningCloseReason) -> events.ReferralDeclinedV1 | None:
        """The opening closed (or filled) with this referral still in progress: it is declined,
        so routing can send it elsewhere. A final referral stays as it is (None)."""
        if self.state in FINAL:
            return None
        reason, detail = DECLINE_ON_CLOSE[closed_as]
        return self.decline(reason, detail)

    def schedule_interview(
        self, interview_id: str, scheduled_for: datetime, mode: events.InterviewMode
    ) -> events.InterviewScheduledV1:
        self._check("schedule_interview")
        self.interviews[interview_id] = Interview(interview_id, scheduled_for, mode)
        self.state = State.interviewing
        return events.InterviewScheduledV1(
            **self._ids(), interview_id=interview_id, scheduled_for=scheduled_for, mode=mode
        )

    def record_interview_outcome(
        self, interview_id: str, outcome: events.InterviewOutcome
    ) -> events.InterviewCompletedV1:
        interview = self.interviews.get(interview_id)
        if interview is None:
            raise UnknownInterview(interview_id)
        self._check("record_interview_outcome")
        if interview.outcome is not None:
            raise InvalidTransition(
                "record_interview_outcome", self.state, f"interview {interview_id} already has an outcome"
            )
        interview.outcome = outcome
        return events.InterviewCompletedV1(**self._ids(), interview_id=interview_id, outcome=outcome)

    def report_placement(
        self,
        *,
        job_title: str,
        onet_soc_code: str,
        wage: events.Wage,
        hours_per_week: float,
        employment_type: events.EmploymentType,
        benefits: events.Benefits,
        start_date: date,
    ) -> events.PlacementReportedV1:
        self._check("report_placement")
        event = events.PlacementReportedV1(
            **self._ids(),
            job_title=job_title,
            onet_soc_code=onet_soc_code,
            wage=wage,
            hours_per_week=hours_per_week,
            employment_type=employment_type,
            benefits=benefits,
            start_date=start_date,
        )
        self.state = State.placed
        return event

    def withdraw(self) -> bool:
        """The partner withdrew the referral: nobody may act on it any more. A placement, and an
        employer's decline, stand.

        Returns whether the state changed (a second withdrawal changes nothing).
        """
        if self.state in FINAL:
            return False
        self.state = State.withdrawn
        return True

    def close_on_erasure(self) -> bool:
        """The candidate was erased: a referral still in progress is withdrawn; a final one stays."""
        if self.state in FINAL:
            return False
        self.state = State.withdrawn
        return True


# --- what the inbox stores about the candidate -----------------------------------------

ERASED = "erased"
# Personal parts of the stored routing decision (a referral.routed payload) and of profiles.
PERSONAL_KEYS = ("candidate_skills", "credentials", "training", "contact_sealed")


def without_personal_data(routing: dict[str, Any]) -> dict[str, Any]:
    """The stored routing decision once the candidate is erased: no candidate id, skills,
    credentials or training; the opening's side (score, matched skills, explanation) stays."""
    out = {k: v for k, v in routing.items() if k not in PERSONAL_KEYS}
    out["candidate_id"] = ERASED
    return out


def profile_of(event: events.ReferralUpdatedV1) -> dict[str, Any]:
    """The parts of an updated referral the inbox shows, in the routing decision's terms."""
    return {
        "candidate_skills": sorted(set(event.skill_keys())),
        "credentials": [c.model_dump(mode="json") for c in event.credentials],
    }


@dataclass(frozen=True)
class Notice:
    """What arrived about a referral before its routing decision did (other topics)."""

    withdrawn: bool = False
    erased: bool = False
    profile: dict[str, Any] | None = None  # the latest referral.updated profile


@dataclass(frozen=True)
class InboxEntry:
    state: State
    candidate_id: str
    routing: dict[str, Any]


def inbox_entry(routing: dict[str, Any], notice: Notice) -> InboxEntry:
    """A routed referral as it enters the inbox, with what arrived before it applied.

    An update's profile is newer than the one routing decided on, so it wins; an erased
    candidate's referral enters without personal data and withdrawn, as a withdrawn one does.
    """
    if notice.profile is not None and not notice.erased:
        routing = {**routing, **notice.profile}
    if notice.erased:
        routing = without_personal_data(routing)
    state = State.withdrawn if notice.withdrawn or notice.erased else State.routed
    return InboxEntry(state, routing["candidate_id"], routing)


# --- an employer's opening ----------------------------------------------------------------


class OpeningState(StrEnum):
    open = "open"
    closed = "closed"
    filled = "filled"


OPENING_ALLOWED: dict[str, frozenset[OpeningState]] = {
    "update": frozenset({OpeningState.open}),
    "close": frozenset({OpeningState.open}),
}
# The decline a referral in progress gets when its opening closes (the codes of LIFECYCLE.md).
DECLINE_ON_CLOSE = {
    events.OpeningCloseReason.filled: (events.DeclineReason.position_filled, "the employer marked the opening filled"),
    events.OpeningCloseReason.closed: (events.DeclineReason.no_capacity, "the employer closed the opening"),
}
CLOSED_AS = {
    events.OpeningCloseReason.closed: OpeningState.closed,
    events.OpeningCloseReason.filled: OpeningState.filled,
}
# What an employer may change: the whole posting but its ids.
POSTING_FIELDS = frozenset(events.OpeningUpdatedV1.model_fields) - {"opening_id", "employer_id"}


class CapacityBelowRouted(Exception):
    def __init__(self, capacity: int, routed: int) -> None:
        super().__init__(f"capacity {capacity} is below the {routed} referral(s) already routed to this opening")
        self.capacity = capacity
        self.routed = routed


@dataclass(frozen=True)
class Opening:
    posting: events.OpeningUpdatedV1  # the whole posting as it now is
    state: OpeningState = OpeningState.open
    closed_at: datetime | None = None


def _check_opening(action: str, opening: Opening) -> None:
    if opening.state not in OPENING_ALLOWED[action]:
        raise InvalidTransition(action, opening.state, subject="an opening")


def update_opening(
    opening: Opening, changes: Mapping[str, Any], routed: int
) -> tuple[Opening, events.OpeningUpdatedV1]:
    """The opening with `changes` (some posting fields) applied, and the event carrying the whole posting.

    `routed` is how many referrals routed to the opening are still in play (not withdrawn or
    declined): a new capacity may not be below it. A capacity left as it is is not checked.
    """
    _check_opening("update", opening)
    if unknown := set(changes) - POSTING_FIELDS:
        raise ValueError(f"not part of a posting: {', '.join(sorted(unknown))}")
    posting = events.OpeningUpdatedV1.model_validate({**opening.posting.model_dump(), **changes})
    if "capacity" in changes and posting.capacity < routed:
        raise CapacityBelowRouted(posting.capacity, routed)
    return replace(opening, posting=posting), posting


def close_opening(
    opening: Opening, reason: events.OpeningCloseReason, at: datetime
) -> tuple[Opening, events.OpeningClosedV1]:
    """The opening closed (`closed`) or filled (`filled`), for good, and the event saying so."""
    _check_opening("close", opening)
    event = events.OpeningClosedV1(
        opening_id=opening.posting.opening_id, employer_id=opening.posting.employer_id, reason=reason, closed_at=at
    )
    return replace(opening, state=CLOSED_AS[reason], closed_at=at), event
