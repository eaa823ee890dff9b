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
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from contracts import events


class State(StrEnum):
    routed = "routed"
    acknowledged = "acknowledged"
    interviewing = "interviewing"
    offered = "offered"
    placed = "placed"
    declined = "declined"  # by the employer (or because the opening closed)
    offer_declined = "offer_declined"  # the candidate turned the offer down
    separated = "separated"  # placed, then left the job
    withdrawn = "withdrawn"  # by the referring partner (or the candidate's erasure)


# Still with the employer, heading for a hire: what a withdrawal, an erasure or a closed
# opening ends.
IN_PROGRESS = frozenset({State.routed, State.acknowledged, State.interviewing, State.offered})
# The candidate's contact details (where they consented) are shown only in these.
SHOWS_CONTACT = IN_PROGRESS | {State.placed}
# No employer action leads out of these.
FINAL = frozenset({State.declined, State.offer_declined, State.separated, State.withdrawn})


class InvalidTransition(Exception):
    """An action the current state forbids (of a referral, or of an opening: `subject`)."""

    def __init__(
        self, action: str, current: StrEnum, detail: str | None = None, *, subject: str = "a referral"
    ) -> None:
        super().__init__(detail or f"cannot {action.replace('_', ' ')} {subject} that is {current.value}")
        self.action = action
        self.current = current


class UnknownInterview(Exception):
    pass


class UnknownOffer(Exception):
    pass


ALLOWED: dict[str, frozenset[State]] = {
    "acknowledge": frozenset({State.routed}),
    "decline": frozenset({State.routed, State.acknowledged, State.interviewing, State.offered}),
    "schedule_interview": frozenset({State.acknowledged, State.interviewing}),
    "reschedule_interview": frozenset({State.interviewing}),
    "cancel_interview": frozenset({State.interviewing}),
    "record_interview_outcome": frozenset({State.interviewing}),
    "extend_offer": frozenset({State.acknowledged, State.interviewing}),
    "record_offer_declined": frozenset({State.offered}),
    "report_placement": frozenset({State.acknowledged, State.interviewing, State.offered}),
    "check_retention": frozenset({State.placed}),
    "report_separation": frozenset({State.placed}),
    "convert": frozenset({State.placed}),
}


@dataclass
class Interview:
    interview_id: str
    scheduled_for: datetime
    mode: events.InterviewMode
    outcome: events.InterviewOutcome | None = None
    cancelled_by: events.CancelledBy | None = None

    @property
    def open(self) -> bool:
        return self.outcome is None and self.cancelled_by is None


@dataclass
class Terms:
    """A job's terms, as an offer states them and a placement reports them (the fields of
    offer.extended and placement.reported 2.0, which check that they agree: a wage exactly
    when paid, engagement hours only for a micro-internship, and so on)."""

    job_title: str
    onet_soc_code: str
    wage: events.Wage | None  # None exactly when unpaid
    hours_per_week: float | None
    employment_type: events.EmploymentKind
    benefits: events.Benefits
    start_date: date
    pay_basis: events.PayBasis
    apprenticeship_registered: bool | None = None
    engagement_hours: int | None = None
    end_date: date | None = None
    schedule: events.Schedule | None = None

    def fields(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@dataclass
class Offer:
    offer_id: str
    terms: Terms
    expires_on: date | None = None
    declined: events.OfferDeclineReason | None = None


@dataclass
class Employment:
    """The placement, and what is known since: retention check-ins, a conversion and the
    separation. `terms` are the job's terms now (the placement's, or the conversion's after
    one); None for a placement stored before they were kept (gateway migration 006), which
    cannot be converted."""

    start_date: date
    checked: dict[int, bool] = field(default_factory=dict)  # milestone days -> still employed
    separated_on: date | None = None
    terms: Terms | None = None
    converted_on: date | None = None


@dataclass
class Referral:
    referral_id: str
    employer_id: str
    opening_id: str
    state: State = State.routed
    interviews: dict[str, Interview] = field(default_factory=dict)
    decline_reason: events.DeclineReason | None = None
    offers: dict[str, Offer] = field(default_factory=dict)
    employment: Employment | None = None

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
        so routing can send it elsewhere. Any other referral stays as it is (None)."""
        if self.state not in IN_PROGRESS:
            return None
        reason, detail = DECLINE_ON_CLOSE[closed_as]
        return self.decline(reason, detail)

    # --- interviews

    def schedule_interview(
        self, interview_id: str, scheduled_for: datetime, mode: events.InterviewMode
    ) -> events.InterviewScheduledV1:
        self._check("schedule_interview")
        self.interviews[interview_id] = Interview(interview_id, scheduled_for, mode)
        self.state = State.interviewing
        return events.InterviewScheduledV1(
            **self._ids(), interview_id=interview_id, scheduled_for=scheduled_for, mode=mode
        )

    def _open_interview(self, action: str, interview_id: str) -> Interview:
        interview = self.interviews.get(interview_id)
        if interview is None:
            raise UnknownInterview(interview_id)
        self._check(action)
        if interview.outcome is not None:
            raise InvalidTransition(action, self.state, f"interview {interview_id} already has an outcome")
        if interview.cancelled_by is not None:
            raise InvalidTransition(action, self.state, f"interview {interview_id} was cancelled")
        return interview

    def reschedule_interview(
        self, interview_id: str, scheduled_for: datetime, mode: events.InterviewMode | None
    ) -> events.InterviewRescheduledV1:
        interview = self._open_interview("reschedule_interview", interview_id)
        interview.scheduled_for = scheduled_for
        interview.mode = mode or interview.mode
        return events.InterviewRescheduledV1(
            **self._ids(), interview_id=interview_id, scheduled_for=scheduled_for, mode=interview.mode
        )

    def cancel_interview(
        self, interview_id: str, cancelled_by: events.CancelledBy, detail: str | None
    ) -> events.InterviewCancelledV1:
        interview = self._open_interview("cancel_interview", interview_id)
        interview.cancelled_by = cancelled_by
        return events.InterviewCancelledV1(
            **self._ids(), interview_id=interview_id, cancelled_by=cancelled_by, detail=detail
        )

    def record_interview_outcome(
        self, interview_id: str, outcome: events.InterviewOutcome
    ) -> events.InterviewCompletedV1:
        interview = self._open_interview("record_interview_outcome", interview_id)
        interview.outcome = outcome
        return events.InterviewCompletedV1(**self._ids(), interview_id=interview_id, outcome=outcome)

    # --- offer and hire

    def extend_offer(self, offer_id: str, terms: Terms, expires_on: date | None) -> events.OfferExtendedV2:
        self._check("extend_offer")
        event = events.OfferExtendedV2(**self._ids(), offer_id=offer_id, **terms.fields(), expires_on=expires_on)
        self.offers[offer_id] = Offer(offer_id, terms, expires_on)
        self.state = State.offered
        return event

    def record_offer_declined(
        self, offer_id: str, reason: events.OfferDeclineReason, detail: str | None
    ) -> events.OfferDeclinedV1:
        offer = self.offers.get(offer_id)
        if offer is None:
            raise UnknownOffer(offer_id)
        self._check("record_offer_declined")
        offer.declined = reason
        self.state = State.offer_declined
        return events.OfferDeclinedV1(**self._ids(), offer_id=offer_id, reason=reason, detail=detail)

    def report_placement(self, terms: Terms) -> events.PlacementReportedV2:
        self._check("report_placement")
        event = events.PlacementReportedV2(**self._ids(), **terms.fields())
        self.state = State.placed
        self.employment = Employment(terms.start_date, terms=terms)
        return event

    def convert(self, terms: Terms, converted_on: date) -> events.PlacementConvertedV1:
        """The placed intern, micro-intern or apprentice becomes a full-time or part-time hire
        here, on `terms` from `converted_on` (not before the start date; the caller checks it is
        not in the future). Once per employment. The employment's first day stays its start:
        `terms.start_date` is replaced by it, and retention check-ins keep counting from it."""
        self._check("convert")
        employment = self.employment
        assert employment is not None  # placed
        current = employment.terms
        if employment.converted_on is not None:
            raise InvalidTransition(
                "convert", self.state, f"the placement was converted already, on {employment.converted_on.isoformat()}"
            )
        if current is None:
            raise InvalidTransition(
                "convert", self.state, "the placement's terms were not kept (it was reported before conversions were)"
            )
        if current.employment_type not in events.CONVERTS_FROM:
            raise InvalidTransition(
                "convert", self.state,
                f"only an internship, micro-internship or apprenticeship converts; this placement is"
                f" {current.employment_type.value}",
            )
        if terms.employment_type not in events.CONVERTS_TO:
            raise InvalidTransition(
                "convert", self.state, f"a conversion is to full_time or part_time, not {terms.employment_type.value}"
            )
        if converted_on < employment.start_date:
            raise InvalidTransition(
                "convert", self.state, f"converted_on is before the start date {employment.start_date.isoformat()}"
            )
        if terms.end_date is not None and terms.end_date < converted_on:
            raise InvalidTransition("convert", self.state, "end_date is before converted_on")
        terms = replace(terms, start_date=employment.start_date)
        event = events.PlacementConvertedV1(
            **self._ids(), **terms.fields(), converted_on=converted_on, from_employment_type=current.employment_type
        )
        employment.terms = terms
        employment.converted_on = converted_on
        return event

    # --- after the hire

    def check_retention(
        self,
        milestone_days: int,
        still_employed: bool,
        checked_on: date,
        wage: events.Wage | None = None,
        hours_per_week: float | None = None,
        *,
        job_title: str | None = None,
        promoted: bool | None = None,
        pay_basis: events.PayBasis | None = None,
        benefits: events.Benefits | None = None,
        schedule: events.Schedule | None = None,
    ) -> events.RetentionCheckedV1:
        """A check-in for one milestone (30, 90 or 180 days after the start date), once, not
        before the milestone, with what is known of the job by then (each None: not said).
        Not employed any more ends the employment (`separated`)."""
        self._check("check_retention")
        assert self.employment is not None  # placed
        if milestone_days in self.employment.checked:
            raise InvalidTransition(
                "check_retention", self.state, f"the {milestone_days}-day check-in was reported already"
            )
        due = self.employment.start_date + timedelta(days=milestone_days)
        if checked_on < due:
            raise InvalidTransition(
                "check_retention", self.state, f"the {milestone_days}-day check-in is due on {due.isoformat()}"
            )
        event = events.RetentionCheckedV1(
            **self._ids(),
            milestone_days=milestone_days,
            still_employed=still_employed,
            checked_on=checked_on,
            wage=wage,
            hours_per_week=hours_per_week,
            job_title=job_title,
            promoted=promoted,
            pay_basis=pay_basis,
            benefits=benefits,
            schedule=schedule,
        )
        self.employment.checked[milestone_days] = still_employed
        if not still_employed:
            self.state = State.separated
        return event

    def report_separation(
        self, separated_on: date, reason: events.SeparationReason, detail: str | None
    ) -> events.SeparationReportedV1:
        self._check("report_separation")
        assert self.employment is not None  # placed
        if separated_on < self.employment.start_date:
            raise InvalidTransition(
                "report_separation", self.state, f"the separation date is before the start date {self.employment.start_date}"
            )
        self.employment.separated_on = separated_on
        self.state = State.separated
        return events.SeparationReportedV1(**self._ids(), separated_on=separated_on, reason=reason, detail=detail)

    # --- the partner's side

    def stale(self, routed_at: datetime, business_days: int) -> events.ReferralStaleV1:
        """Routed at `routed_at` and not acknowledged within `business_days`: the event saying so
        (the sweeper, `stale.py`, finds those due; nothing changes here)."""
        return events.ReferralStaleV1(**self._ids(), routed_at=routed_at, business_days=business_days)

    def withdraw(self) -> bool:
        """The partner withdrew the referral: nobody may act on it any more. A placement, and an
        employer's decline, stand (only a referral in progress is withdrawn).

        Returns whether the state changed (a second withdrawal changes nothing).
        """
        if self.state not in IN_PROGRESS:
            return False
        self.state = State.withdrawn
        return True

    def close_on_erasure(self) -> bool:
        """The candidate was erased: a referral still in progress is withdrawn; any other stays."""
        return self.withdraw()


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


def post_opening(opening_id: str, employer_id: str, posting: Mapping[str, Any]) -> events.OpeningPostedV1:
    """A new opening of the employer: the event that posts it (`posting`: its posting fields)."""
    return events.OpeningPostedV1(opening_id=opening_id, employer_id=employer_id, **posting)


def _check_opening(action: str, opening: Opening) -> None:
    if opening.state not in OPENING_ALLOWED[action]:
        raise InvalidTransition(action, opening.state, subject="an opening")


def update_opening(
    opening: Opening, changes: Mapping[str, Any], routed: int
) -> tuple[Opening, events.OpeningUpdatedV1]:
    """The opening with `changes` (some posting fields) applied, and the event carrying the whole posting.

    `routed` is how many referrals routed to the opening are still in play (not withdrawn or
    declined): a new capacity may not be below it. A capacity left as it is is not checked.
    Changes that contradict the rest of the posting (engagement hours on an opening that is no
    micro-internship, unpaid with a wage) raise the contract's ValidationError, at the field.
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
