"""What the reports read: one record per referral, and the skills-gap observations.

The outcomes service derives these from its ledger (`store.report_records`,
`store.gap_records`); report functions (`services/outcomes/reports/`) are pure functions of
them, so each figure can be tested on a known dataset without a database.

Demographics are present only for candidates who consented to aggregate reports and were
not erased (they arrive sealed with the candidate's key and are opened for the report only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

# Funnel stages a referral may reach, in order (cumulative: a later stage implies the earlier).
FUNNEL = ("referred", "routed", "acknowledged", "interviewed", "offered", "placed", "retained_90_days")


@dataclass(frozen=True)
class Demographics:
    race_ethnicity: tuple[str, ...] = ()  # OMB SPD 15 (2024) categories; several may apply
    gender: str | None = None  # female | male | nonbinary | self_described
    veteran_status: bool | None = None


@dataclass(frozen=True)
class Placement:
    """A hire's terms as the placement reported them (placement.reported v1 or v2).

    Fields after `start_date` came with v2 (issue 15); they have defaults so that records
    stored before them still load (records_json), and a v1 placement gives what its upcast
    v2 form would (`pay_basis` hourly or salary by the wage's unit, no schedule)."""

    employer_id: str
    job_title: str
    onet_soc_code: str
    wage_amount: Decimal  # 0 when unpaid (v2's wage is null then)
    wage_unit: str  # hour | week | month | year
    currency: str
    hours_per_week: float | None  # None: not stated (v2, e.g. a micro-internship or variable hours)
    employment_type: str  # full_time | part_time | internship | micro_internship | apprenticeship
    health: bool
    retirement: bool
    paid_leave: bool
    start_date: date
    pay_basis: str | None = None  # hourly | salary | stipend | project_fee | unpaid; None: stored before v2
    paid: bool = True
    apprenticeship_registered: bool | None = None  # only for an apprenticeship; None: not said
    engagement_hours: int | None = None  # a micro-internship's whole length in hours
    end_date: date | None = None
    dental: bool = False
    vision: bool = False
    tuition: bool = False
    childcare: bool = False
    other_benefits: tuple[str, ...] = ()
    # The schedule, when the employer stated one (None: not stated, which is not "unpredictable").
    predictable_schedule: bool | None = None
    advance_notice_days: int | None = None
    variable_hours: bool | None = None
    min_hours_per_week: float | None = None
    max_hours_per_week: float | None = None

    @property
    def hourly_wage(self) -> Decimal | None:
        """The wage per hour: 0 when unpaid; None when it cannot be told (a weekly, monthly or
        yearly wage without the hours it pays for)."""
        if not self.paid:
            return Decimal(0)
        if self.pay_basis == "project_fee" and self.wage_unit != "hour" and self.engagement_hours:
            return (self.wage_amount / Decimal(self.engagement_hours)).quantize(Decimal("0.01"))
        return hourly_wage(self.wage_amount, self.wage_unit, self.hours_per_week)


def hourly_wage(amount: Decimal, unit: str, hours_per_week: float | None) -> Decimal | None:
    """The wage per hour (a weekly, monthly or yearly amount over the contracted hours); None
    for such an amount without hours."""
    weeks = {"hour": None, "week": Decimal(1), "month": Decimal(52) / Decimal(12), "year": Decimal(52)}[unit]
    if weeks is None:
        return amount
    if not hours_per_week:
        return None
    return (amount / weeks / Decimal(str(hours_per_week))).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class Checkin:
    """One retention check-in (retention.checked) with the hire's employer, as reported.

    What a check-in does not state is None (its wage, hours, benefits, schedule): not stated is
    not "none" (a check-in reports what changed or is known)."""

    milestone_days: int  # 30 | 90 | 180
    still_employed: bool
    checked_on: date
    wage_amount: Decimal | None = None
    wage_unit: str | None = None
    currency: str | None = None
    hours_per_week: float | None = None
    job_title: str | None = None
    promoted: bool | None = None
    pay_basis: str | None = None
    health: bool | None = None
    paid_leave: bool | None = None
    retirement: bool | None = None
    predictable_schedule: bool | None = None
    advance_notice_days: int | None = None
    variable_hours: bool | None = None

    @property
    def hourly_wage(self) -> Decimal | None:
        """The wage per hour over the hours this check-in states (`hourly_wage_over` for a
        placement's hours); 0 when unpaid, None when no wage was stated."""
        return self.hourly_wage_over(self.hours_per_week)

    def hourly_wage_over(self, hours_per_week: float | None) -> Decimal | None:
        """The wage per hour over the hours the check-in states, else over `hours_per_week`."""
        if self.pay_basis == "unpaid":
            return Decimal(0)
        if self.wage_amount is None or self.wage_unit is None:
            return None
        return hourly_wage(self.wage_amount, self.wage_unit, self.hours_per_week or hours_per_week)


@dataclass(frozen=True)
class Conversion:
    """Work-based learning (an internship, micro-internship or apprenticeship) converted into a
    full-time or part-time hire at the same employer (placement.converted): when, from and to
    which kind, and the job's terms from then on (their `start_date` is the placement's)."""

    converted_on: date
    from_employment_type: str
    to_employment_type: str
    terms: Placement


# Field metadata: a field left out of the stored JSON while it is None or empty (records_json),
# so a record without it is written byte for byte as before the field existed.
OMITTED_WHEN_EMPTY = "omitted_when_empty"


@dataclass(frozen=True)
class Credential:
    name: str
    status: str  # completed | in_progress
    awarded_on: date | None = None


@dataclass(frozen=True)
class ReferralRecord:
    referral_id: str
    partner_id: str
    referred_at: datetime
    # The training program (as the partner names it) and its provider; completion is the
    # "exit" date the WIOA indicators count quarters from.
    program: str | None = None
    provider: str | None = None
    training_completed_on: date | None = None
    # The occupation the referral is about: the placement's, else the routed opening's,
    # else the target the partner named.
    occupation: str | None = None
    employer_id: str | None = None  # the employer of the current routing (or the hire)
    # When each funnel stage was first reached (FUNNEL names; "referred" is referred_at).
    reached: dict[str, datetime] = field(default_factory=dict)
    status: str = "submitted"  # the partner-facing status (docs/lifecycle.md)
    exit: str | None = None  # unmatched | declined | withdrawn | offer_declined | separated, when it ended there
    placement: Placement | None = None
    retention: dict[int, bool] = field(default_factory=dict)  # 30/90/180 days -> still employed
    separated_on: date | None = None
    highest_degree: str | None = None  # associate | bachelor | master | doctorate
    credentials: tuple[Credential, ...] = ()
    skills_added: int = 0  # skills gained in updates after the referral (measurable skill gains)
    aggregate_consent: bool = False
    demographics: Demographics | None = None  # only with aggregate consent, never after erasure
    # Every retention check-in with the hire's employer, in the ledger's order (`retention`
    # keeps the last word per milestone, which the WIOA indicators read).
    checkins: tuple[Checkin, ...] = field(default=(), metadata={OMITTED_WHEN_EMPTY: True})
    # A conversion at the hire's employer (`placement` keeps the terms as placed); omitted from the
    # stored JSON when there is none, so the rows of hires without one (and the rebuild's hash of
    # them) stay as they were.
    conversion: Conversion | None = field(default=None, metadata={OMITTED_WHEN_EMPTY: True})
    # Where the referral stands now (services/outcomes/pipeline.py OUTCOMES, exclusive), the
    # employers that ever declined it, and its flags (pipeline.FLAGS): docs/pipeline.md. Every
    # projection sets the outcome (None: a record made otherwise, `pipeline.outcome_of_record`).
    outcome: str | None = field(default=None, metadata={OMITTED_WHEN_EMPTY: True})
    declined_by: tuple[str, ...] = field(default=(), metadata={OMITTED_WHEN_EMPTY: True})
    flags: tuple[str, ...] = field(default=(), metadata={OMITTED_WHEN_EMPTY: True})
    # Who the referral is about, for counting people (pipeline.person_key): never stored in the
    # record (an erasure changes it without changing the record); the store sets it on reading.
    person_key: str | None = field(default=None, metadata={OMITTED_WHEN_EMPTY: True})

    @property
    def current_placement(self) -> Placement | None:
        """The job's terms now: the conversion's after one, else the placement's."""
        return self.conversion.terms if self.conversion is not None else self.placement


@dataclass(frozen=True)
class GapRecord:
    """One opening a decision compared the candidate with (a skills.gap_observed v1 event, or
    one comparison of a v2 one): what the candidate lacked, for one occupation."""

    onet_soc_code: str
    outcome: str  # routed | unmatched
    held: tuple[str, ...]
    missing_required: tuple[str, ...]
    missing_preferred: tuple[str, ...]
    observed_at: datetime
    referral_id: str | None = None
    partner_id: str | None = None
    declined: bool = False  # routed, and that employer then declined the referral


@dataclass(frozen=True)
class OpeningRecord:
    """An opening as posted (or last updated): what employers demand."""

    opening_id: str
    employer_id: str
    onet_soc_code: str
    required_skills: tuple[str, ...]
    preferred_skills: tuple[str, ...]
    posted_at: datetime


# The name of a credential whose details an erasure removed (plumbing.scrub strips
# `credential`): that one was earned is kept, as every count of an erased person is.
ERASED_CREDENTIAL = "erased"


@dataclass(frozen=True)
class EarnedCredentialRecord:
    """A credential a participant earned through a program (credential.earned)."""

    name: str
    issuer: str | None
    ctdl_id: str | None
    awarded_on: date

    @property
    def erased(self) -> bool:
        """Earned, but which credential was erased with the person: in no credential's row."""
        return self.name == ERASED_CREDENTIAL and self.issuer is None and self.ctdl_id is None


@dataclass(frozen=True)
class EnrollmentRecord:
    """One participant's enrollment in one training program, as its training events tell it
    (`projection.project_enrollment`). `candidate_id` is the network's pseudonymous id the
    person's referrals carry ("erased" after an erasure), so training and hiring join."""

    enrollment_id: str
    provider: str  # the training provider (a partner)
    program: str
    candidate_id: str | None = None  # None: no training.enrolled seen yet
    enrolled_on: date | None = None
    status: str = "enrolled"  # enrolled | in_training | completed | exited
    completed_on: date | None = None
    exited_on: date | None = None
    exit_reason: str | None = None
    credentials: tuple[EarnedCredentialRecord, ...] = ()
    percent_complete: int | None = None  # the latest progress reported with a percentage
    milestones: tuple[str, ...] = ()  # every progress milestone reported, in order
    aggregate_consent: bool = False
    # The participant agreed that the provider may hear what came of them later
    # (training.enrolled consent.share_outcomes_with_provider): without it the provider's funnel
    # counts only its own referrals of the person, never another partner's.
    outcomes_shared: bool = False


def gap_records_of(data: dict, observed_at: datetime, partner_id: str | None,
                   declined: Callable[[str | None], bool]) -> list[GapRecord]:
    """The records of one skills.gap_observed event's data as the ledger keeps it (v1: one
    opening compared with, in the data; v2: each of its `comparisons`). `declined(opening_id)`:
    whether that opening's employer declined the referral."""
    held = tuple(data.get("held", []))
    return [
        GapRecord(
            onet_soc_code=c["onet_soc_code"], outcome=data["outcome"], held=held,
            missing_required=tuple(c.get("missing_required", [])), missing_preferred=tuple(c.get("missing_preferred", [])),
            observed_at=observed_at, referral_id=data.get("referral_id"),
            partner_id=partner_id or data.get("partner_id"), declined=declined(c.get("opening_id")),
        )
        for c in data.get("comparisons") or (data,)
    ]
