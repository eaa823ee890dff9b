"""A routed referral's life at the employer: the state machine the gateway enforces.

Pure: each method checks the transition against the current state, updates the state and
returns the event payload to publish; a forbidden transition raises InvalidTransition
naming the current state (the API turns it into a 409 problem).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from contracts import events


class State(StrEnum):
    routed = "routed"
    acknowledged = "acknowledged"
    interviewing = "interviewing"
    declined = "declined"
    placed = "placed"


class InvalidTransition(Exception):
    def __init__(self, action: str, current: State, detail: str | None = None) -> None:
        super().__init__(detail or f"cannot {action} a referral that is {current.value}")
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
        return event

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
