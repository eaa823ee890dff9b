"""Payloads (the envelope's `data`) of the referral lifecycle, of training and of supportive services, every supported version.

Each class names its CloudEvents `type` (with the major version) and the topic it is
published on. Payloads carry a pseudonymous candidate id, never contact data or
demographics: those stay with intake.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar, Literal, Protocol

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from contracts import topics
from contracts.bounds import (
    ADVANCE_NOTICE_DAYS_MAX,
    BASE64URL_PATTERN,
    BENEFITS_OTHER_MAX,
    CHANGED_MAX,
    CIPHERTEXT_MAX,
    CREDENTIALS_MAX,
    ENGAGEMENT_HOURS_MAX,
    ENROLLMENTS_PER_CANDIDATE_MAX,
    FUNDING_SOURCES_MAX,
    HOURS_PER_WEEK_MAX,
    INT4_MAX,
    KID_MAX,
    NAME_MAX,
    NEAREST_MAX,
    NEAREST_MISSING_MAX,
    NONCE_MAX,
    PERCENT_MAX,
    PROGRAM_HOURS_MAX,
    PROGRAM_OCCUPATIONS_MAX,
    PROGRAM_WEEKS_MAX,
    REFERRALS_PER_CANDIDATE_MAX,
    REQUIRED_CREDENTIALS_MAX,
    SCORE_PARTS_MAX,
    SKILLS_MAX,
    TEXT_PATTERN,
    Detail,
    Explanation,
    Id,
    Label,
    Name,
    OnetSoc,
    Reason,
    Requirements,
    SkillKey,
    SkillKeys,
    Skills,
)
from contracts.bounds import ONET_SOC as ONET_SOC
from contracts.glossary import describe

SkillList = SkillKeys  # skills as matching compares them (vocabulary ids or normalized text)

# Every contract model. Tolerant reader: properties a newer minor version adds are ignored,
# which is what makes adding optional properties compatible in both directions (see
# compat.py). NaN and infinities are refused: JSON has no such numbers, and pydantic would
# write them as null, which no reader accepts.
CONTRACT_MODEL = ConfigDict(frozen=True, extra="ignore", json_schema_extra=describe, allow_inf_nan=False)


class Payload(BaseModel):
    model_config = CONTRACT_MODEL

    event_type: ClassVar[str]
    schema_version: ClassVar[str] = "1.0"  # major.minor; the major is also in event_type
    topic: ClassVar[topics.Topic]

    @classmethod
    def family(cls) -> str:
        return cls.event_type.rsplit(".", 1)[0]

    def subject(self) -> str:
        """The Kafka key and CloudEvents subject: the referral id unless overridden."""
        return str(self.referral_id)


# --- shared value objects -------------------------------------------------------------


class WageUnit(StrEnum):
    hour = "hour"
    week = "week"
    month = "month"
    year = "year"


CENT = Decimal("0.01")

# An amount of money, one definition for what the documents say and what is checked: written
# as a decimal string, "<up to 10 digits>[.<1 or 2 digits>]"; read as such a string, or as a
# JSON number from 0 to AMOUNT_MAX with at most two decimals (0.57 and 31.5 are amounts,
# 0.005 and 1e-7 are not). Anything else is refused (a 422 problem from an API), so the
# documents' example values and extremes are exactly what the code accepts
# (tests/unit/test_amount_schema.py checks both against a JSON Schema validator).
AMOUNT_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"
AMOUNT_MAX = Decimal("9999999999.99")
_AMOUNT_TEXT = re.compile(AMOUNT_PATTERN)
AMOUNT_WRITTEN = {"type": "string", "pattern": AMOUNT_PATTERN, "maxLength": 13}
AMOUNT_READ = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": float(AMOUNT_MAX), "multipleOf": float(CENT)},
        AMOUNT_WRITTEN,
    ]
}


def _amount(value: object) -> Decimal:
    if isinstance(value, str):
        if not _AMOUNT_TEXT.fullmatch(value):
            raise ValueError("an amount as text is up to 10 digits with up to two decimals, such as 31.50")
        return Decimal(value)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("an amount is a number or a decimal string")
    # A float as JSON wrote it (its shortest form): 0.57 has two decimals, though 0.57 / 0.01
    # is not a whole number in binary floating point.
    amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not amount.is_finite() or not 0 <= amount <= AMOUNT_MAX:
        raise ValueError(f"an amount is from 0 to {AMOUNT_MAX}")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError("an amount has at most two decimals")
    # Written plainly: -0 (which 0 <= lets through) as 0, an exponent (a Decimal built in
    # Python, such as 1E+3) as digits, trailing zeros beyond two decimals cut.
    amount = amount + 0
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        return amount.quantize(Decimal(1))
    return amount.quantize(CENT) if isinstance(exponent, int) and exponent < -2 else amount


Amount = Annotated[
    Decimal,
    BeforeValidator(_amount),
    WithJsonSchema(AMOUNT_READ, mode="validation"),
    WithJsonSchema(AMOUNT_WRITTEN, mode="serialization"),
]


class Wage(BaseModel):
    """Pay for a period."""

    model_config = CONTRACT_MODEL
    amount: Amount
    unit: WageUnit
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$", max_length=3)


class Credential(BaseModel):
    """A credential the candidate holds or is working toward."""

    model_config = CONTRACT_MODEL
    name: Name = Field(min_length=1)
    issuer: Name | None = None
    ctdl_id: Id | None = Field(default=None, description="Credential Engine CTID, where the partner has one.")
    status: str = Field(default="completed", pattern=r"^(completed|in_progress)$", max_length=11)
    awarded_on: date | None = None


class Training(BaseModel):
    """A training program the candidate took."""

    model_config = CONTRACT_MODEL
    program: Name = Field(min_length=1)
    provider: Name | None = None
    completed_on: date | None = None


class Consent(BaseModel):
    """The candidate's consent (v1: sharing with employers only)."""

    model_config = CONTRACT_MODEL
    share_with_employers: bool = Field(description="The candidate agreed that employers may see the referral.")
    given_at: AwareDatetime


class DeclineReason(StrEnum):
    position_filled = "position_filled"
    no_capacity = "no_capacity"
    requirements_not_met = "requirements_not_met"
    candidate_unreachable = "candidate_unreachable"
    candidate_withdrew = "candidate_withdrew"
    not_selected_after_interview = "not_selected_after_interview"
    other = "other"


# The kinds of employment of v1 offers and placements, frozen: a new value would be a new
# major. `EmploymentKind` is the newer list.
class EmploymentType(StrEnum):
    full_time = "full_time"
    part_time = "part_time"
    internship = "internship"
    apprenticeship = "apprenticeship"


class EmploymentKind(StrEnum):
    """What kind of employment a job is (offer.extended and placement.reported 2.0, openings)."""

    full_time = "full_time"
    part_time = "part_time"
    internship = "internship"
    micro_internship = "micro_internship"  # project-based: engagement_hours, maybe end_date
    apprenticeship = "apprenticeship"  # registered or not: apprenticeship_registered


KIND = "Full-time, part-time, internship, micro-internship or apprenticeship."


class PayBasis(StrEnum):
    """How the job is paid. `unpaid` (an unpaid internship) has no wage."""

    hourly = "hourly"
    salary = "salary"
    stipend = "stipend"
    project_fee = "project_fee"
    unpaid = "unpaid"


def v1_pay_basis(wage_unit: str) -> PayBasis:
    """The pay basis of v1 terms, which had none: a wage by the hour is hourly, any other salary
    (the upcasters, and the gateway's offers stored before 2.0)."""
    return PayBasis.hourly if wage_unit == WageUnit.hour else PayBasis.salary


class BasicBenefits(BaseModel):
    """Basic benefits of a placement."""

    # v1 offers and placements keep this shape (titled as it was published); 2.0 and the
    # check-ins, openings and statuses carry `Benefits`, which adds to it.
    model_config = ConfigDict(**CONTRACT_MODEL, title="Benefits")
    health: bool = False
    retirement: bool = False
    paid_leave: bool = False


class Benefits(BasicBenefits):
    """Benefits of a job: the basic three (health, retirement, paid leave) and others."""

    model_config = ConfigDict(**CONTRACT_MODEL, title="Benefits")
    dental: bool = False
    vision: bool = False
    tuition: bool = Field(default=False, description="Tuition assistance.")
    childcare: bool = Field(default=False, description="Childcare, or help paying for it.")
    other: list[Label] = Field(
        default_factory=list, max_length=BENEFITS_OTHER_MAX, description="Other benefits, in a few words each."
    )


HoursPerWeek = Annotated[float, Field(gt=0, le=HOURS_PER_WEEK_MAX)]
EngagementHours = Annotated[int, Field(ge=1, le=ENGAGEMENT_HOURS_MAX)]


class Schedule(BaseModel):
    """When the work happens: whether the hours are regular and known ahead (fair scheduling)."""

    model_config = CONTRACT_MODEL
    predictable: bool = Field(description="Regular hours, known ahead and not changed at short notice.")
    advance_notice_days: int | None = Field(
        default=None, ge=0, le=ADVANCE_NOTICE_DAYS_MAX, description="How many days ahead the schedule is given."
    )
    variable_hours: bool = Field(default=False, description="The hours worked vary from week to week.")
    min_hours_per_week: float | None = Field(default=None, ge=0, le=HOURS_PER_WEEK_MAX)
    max_hours_per_week: float | None = Field(default=None, ge=0, le=HOURS_PER_WEEK_MAX)

    @model_validator(mode="after")
    def _range(self) -> Schedule:
        low, high = self.min_hours_per_week, self.max_hours_per_week
        if low is not None and high is not None and high < low:
            refuse(self, [inconsistent("max_hours_per_week", "max_hours_per_week is below min_hours_per_week", high)])
        return self


# --- rules across fields --------------------------------------------------------------


class _TermsFields(Protocol):
    @property
    def employment_type(self) -> EmploymentKind: ...
    @property
    def apprenticeship_registered(self) -> bool | None: ...
    @property
    def engagement_hours(self) -> int | None: ...
    @property
    def pay_basis(self) -> PayBasis: ...
    @property
    def wage(self) -> Wage | None: ...
    @property
    def start_date(self) -> date: ...
    @property
    def end_date(self) -> date | None: ...


class _PostingFields(Protocol):
    @property
    def employment_type(self) -> EmploymentKind | None: ...
    @property
    def apprenticeship_registered(self) -> bool | None: ...
    @property
    def engagement_hours(self) -> int | None: ...
    @property
    def paid(self) -> bool: ...
    @property
    def wage(self) -> Wage: ...

# Each refusal names the field to change (its `loc`, and its message starts with it), so an
# entry point's 422 names it too: the gateway's request models apply these same functions.
# Their error type, INCONSISTENT, tells a refusal of a combination from that of one value.
INCONSISTENT = "inconsistent"


def inconsistent(field: str | tuple[str | int, ...], message: str, value: object) -> InitErrorDetails:
    loc = (field,) if isinstance(field, str) else field
    return InitErrorDetails(type=PydanticCustomError(INCONSISTENT, message), loc=loc, input=value)


def refuse(model: object, errors: list[InitErrorDetails]) -> None:
    """Raise the refusals (if any) as one ValidationError, each at its field."""
    if errors:
        raise ValidationError.from_exception_data(type(model).__name__, errors)


def pay_refusals(pay_basis: PayBasis | None, wage: Wage | None, *, wage_required: bool) -> list[InitErrorDetails]:
    """A wage and its pay basis agree: none when unpaid (and one otherwise, if required), by the
    hour when hourly, by a longer period when a salary."""
    if pay_basis is PayBasis.unpaid:
        return [] if wage is None else [inconsistent("wage", "wage must be null when pay_basis is unpaid", wage.amount)]
    if wage is None:
        return [inconsistent("wage", "wage is required unless pay_basis is unpaid", None)] if wage_required else []
    if pay_basis is PayBasis.hourly and wage.unit is not WageUnit.hour:
        return [inconsistent(("wage", "unit"), "wage.unit must be hour when pay_basis is hourly", wage.unit.value)]
    if pay_basis is PayBasis.salary and wage.unit is WageUnit.hour:
        return [inconsistent(("wage", "unit"), "wage.unit must be week, month or year when pay_basis is salary", "hour")]
    return []


def kind_refusals(
    employment_type: EmploymentKind | None, apprenticeship_registered: bool | None, engagement_hours: int | None
) -> list[InitErrorDetails]:
    """Fields that belong to one kind of employment appear only with it."""
    found = []
    if apprenticeship_registered is not None and employment_type is not EmploymentKind.apprenticeship:
        found.append(inconsistent(
            "apprenticeship_registered", "apprenticeship_registered is only for employment_type apprenticeship",
            apprenticeship_registered,
        ))
    if engagement_hours is not None and employment_type is not EmploymentKind.micro_internship:
        found.append(inconsistent(
            "engagement_hours", "engagement_hours is only for employment_type micro_internship", engagement_hours
        ))
    return found


def terms_refusals(terms: _TermsFields) -> list[InitErrorDetails]:
    """What is inconsistent in a job's terms (`_Terms`, or a request with the same fields)."""
    found = kind_refusals(terms.employment_type, terms.apprenticeship_registered, terms.engagement_hours)
    found += pay_refusals(terms.pay_basis, terms.wage, wage_required=True)
    if terms.end_date is not None and terms.end_date < terms.start_date:
        found.append(inconsistent("end_date", "end_date is before start_date", terms.end_date.isoformat()))
    return found


def posting_refusals(posting: _PostingFields) -> list[InitErrorDetails]:
    """What is inconsistent in an opening's posting: kind-specific fields, and an unpaid
    opening's wage (which stays required: it is 0)."""
    found = kind_refusals(posting.employment_type, posting.apprenticeship_registered, posting.engagement_hours)
    if not posting.paid and posting.wage.amount != 0:
        found.append(inconsistent("paid", "paid false needs wage.amount 0 (an unpaid opening has no wage)", False))
    return found


class DegreeLevel(StrEnum):
    """Highest degree completed (a requirement only when the employer marks it mandatory)."""

    associate = "associate"
    bachelor = "bachelor"
    master = "master"
    doctorate = "doctorate"

    @property
    def rank(self) -> int:
        return list(DegreeLevel).index(self) + 1


class CredentialRequirement(BaseModel):
    """A credential an opening requires: met by a completed credential with the same CTDL id, or
    the same name when the opening gives no id."""

    model_config = CONTRACT_MODEL
    name: Name = Field(min_length=1)
    ctdl_id: Id | None = Field(default=None, description="Credential Engine CTID, where known.")


class MatchDetails(BaseModel):
    """Why routing chose this opening, part by part (the score adds these up)."""

    model_config = CONTRACT_MODEL
    required_matched: SkillList = Field(description="Required skills of the opening the candidate has (all of them).")
    preferred_matched: SkillList
    preferred_missing: SkillList
    credentials_matched: list[Name] = Field(
        default_factory=list,
        max_length=REQUIRED_CREDENTIALS_MAX,
        description="Required credentials the candidate holds.",
    )
    location: Label = Field(description="remote, same_location, or different_location.")
    score_parts: dict[Label, float] = Field(
        max_length=SCORE_PARTS_MAX, description="Each weighted part of the score: skills, preferred, location."
    )
    alternatives: int = Field(
        ge=0, le=INT4_MAX, description="How many other open openings the candidate was eligible for."
    )
    fairness: Reason | None = Field(default=None, description="Set when the fair-share rule changed the choice.")


class OpeningCloseReason(StrEnum):
    closed = "closed"
    filled = "filled"


class InterviewMode(StrEnum):
    in_person = "in_person"
    video = "video"
    phone = "phone"


class InterviewOutcome(StrEnum):
    advanced = "advanced"
    not_selected = "not_selected"
    no_show = "no_show"


class NearestOpening(BaseModel):
    """An opening the candidate came close to, and the required skills missing for it."""

    model_config = CONTRACT_MODEL
    opening_id: Id
    employer_id: Id
    missing_skills: SkillList
    missing_requirements: Requirements = Field(
        default_factory=list, description="Mandatory credentials or degree the candidate lacks for it (1.1)."
    )


# --- events ---------------------------------------------------------------------------


class _Posting(Payload):
    """The fields of an opening's posting, shared by posted and updated."""

    opening_id: Id
    employer_id: Id
    title: Name = Field(min_length=1)
    onet_soc_code: OnetSoc
    required_skills: Skills = Field(min_length=1)
    preferred_skills: Skills = Field(default_factory=list)
    capacity: int = Field(ge=1, le=10_000, description="How many referrals the employer will take.")
    wage: Wage
    location: Name = Field(min_length=1)
    remote: bool = False
    required_credentials: list[CredentialRequirement] = Field(
        default_factory=list,
        max_length=REQUIRED_CREDENTIALS_MAX,
        description="Credentials a candidate must hold (opening.posted 1.1).",
    )
    degree_required: DegreeLevel | None = Field(
        default=None, description="Minimum degree, only when the employer marks a degree mandatory (opening.posted 1.1)."
    )
    # opening.posted 1.3, opening.updated 1.2: what kind of job, and on what terms. `wage` stays
    # required (making it optional would break readers of earlier versions): unpaid is 0.
    employment_type: EmploymentKind | None = Field(default=None, description=f"{KIND} Null: not said (1.3).")
    apprenticeship_registered: bool | None = Field(
        default=None, description="Apprenticeships only: whether the program is registered (1.3)."
    )
    paid: bool = Field(default=True, description="false: unpaid (an unpaid internship), with wage.amount 0 (1.3).")
    engagement_hours: EngagementHours | None = Field(
        default=None, description="Micro-internships only: the project's hours in all (1.3)."
    )
    schedule: Schedule | None = Field(default=None, description="When the work happens (1.3).")
    benefits: Benefits | None = Field(default=None, description="Benefits offered (1.3); null: not said.")

    @model_validator(mode="after")
    def _consistent(self) -> _Posting:
        refuse(self, posting_refusals(self))
        return self

    def subject(self) -> str:
        return self.opening_id


class OpeningPostedV1(_Posting):
    """An employer posted an opening (key: opening id)."""

    event_type: ClassVar[str] = "opening.posted.v1"
    schema_version: ClassVar[str] = "1.3"
    topic: ClassVar[topics.Topic] = topics.OPENINGS


class OpeningUpdatedV1(_Posting):
    """The employer changed an opening; carries the whole posting as it now is."""

    event_type: ClassVar[str] = "opening.updated.v1"
    schema_version: ClassVar[str] = "1.2"
    topic: ClassVar[topics.Topic] = topics.OPENINGS


class OpeningClosedV1(Payload):
    """The employer closed the opening, or marked it filled: no more referrals go there."""

    event_type: ClassVar[str] = "opening.closed.v1"
    schema_version: ClassVar[str] = "1.1"
    topic: ClassVar[topics.Topic] = topics.OPENINGS

    opening_id: Id
    employer_id: Id
    reason: OpeningCloseReason
    closed_at: AwareDatetime

    def subject(self) -> str:
        return self.opening_id


# --- demand and hiring standards (issue 16 items 3 and 4) ---------------------------------
# On talentloop.openings, keyed by the employer id: one employer's declarations stay in order, so
# a newer one replaces an older one the same way live and in a rebuild.

FORECAST_HORIZONS = (6, 12)


class DemandForecastV1(Payload):
    """An employer declared how many people it expects to hire, in the coming 6 or 12 months, for an
    occupation and kind of job, and with which skills and credentials. Replaces the employer's
    earlier forecast for the same occupation, employment type and horizon (0 slots: none expected)."""

    event_type: ClassVar[str] = "demand.forecast.v1"
    topic: ClassVar[topics.Topic] = topics.OPENINGS

    forecast_id: Id = Field(description="This declaration, created once by the employer gateway.")
    employer_id: Id
    onet_soc_code: OnetSoc
    employment_type: EmploymentKind = Field(description=KIND)
    horizon_months: Literal[6, 12] = Field(description="The coming 6 or 12 months, from the declaration's time.")
    slots_expected: int = Field(ge=0, le=10_000, description="How many people it expects to hire (0: none).")
    skills: Skills = Field(default_factory=list, description="Skills it expects to ask for.")
    credentials: list[CredentialRequirement] = Field(
        default_factory=list, max_length=REQUIRED_CREDENTIALS_MAX, description="Credentials it expects to ask for."
    )

    def subject(self) -> str:
        return self.employer_id


class InterviewStage(StrEnum):
    screening_call = "screening_call"
    technical_interview = "technical_interview"
    behavioral_interview = "behavioral_interview"
    take_home = "take_home"
    work_sample = "work_sample"
    panel = "panel"
    background_check = "background_check"
    other = "other"


class HiringFormat(StrEnum):
    remote = "remote"
    in_person = "in_person"
    hybrid = "hybrid"


HIRING_STAGES_MAX = len(InterviewStage) + 2  # a stage may come twice (two technical interviews)


class HiringStandardsPublishedV1(Payload):
    """An employer published how it hires for an occupation, or (1.1, `opening_id`) for one of its
    openings, under its name: public (the demand board shows it with the name). Replaces its
    earlier standards for the same occupation, or for the same opening."""

    event_type: ClassVar[str] = "hiring_standards.published.v1"
    schema_version: ClassVar[str] = "1.1"
    topic: ClassVar[topics.Topic] = topics.OPENINGS

    employer_id: Id
    opening_id: Id | None = Field(
        default=None,
        description="1.1: the opening these standards are for (an opening of this employer and occupation);"
        " absent: every opening of the occupation that has no standards of its own.",
    )
    employer_name: Name = Field(min_length=1, description="The name the employer publishes its standards under.")
    onet_soc_code: OnetSoc
    stages: list[InterviewStage] = Field(
        min_length=1, max_length=HIRING_STAGES_MAX,
        description="The interview stages in order: screening_call, technical_interview, behavioral_interview,"
        " take_home, work_sample, panel, background_check, other.",
    )
    interview_format: HiringFormat = Field(description="remote, in_person or hybrid.")
    portfolio_expected: bool = Field(description="Whether a portfolio is expected.")
    assessment_expected: bool = Field(description="Whether an assessment (a test, a take-home) is expected.")
    degree_requirement_dropped: bool = Field(description="Whether the employer dropped degree requirements.")
    accepted_equivalents: list[CredentialRequirement] = Field(
        default_factory=list, max_length=REQUIRED_CREDENTIALS_MAX,
        description="Credentials the employer accepts as equivalent to a degree.",
    )

    def subject(self) -> str:
        return self.employer_id


# Issue 16 item 5: whether the coalition may publish an employer's hiring for a year (the annual
# release's "hiring by employer with demographics"). On talentloop.openings, keyed by the employer id.
PUBLICATION_YEAR_MIN, PUBLICATION_YEAR_MAX = 2000, 2999


class HiringPublicationChosenV1(Payload):
    """An employer chose whether the coalition may publish its hiring data (its hires by race,
    gender, educational background and training, suppressed) for a calendar year: opted in or out.
    Its last choice for the year before the release's ledger position counts."""

    event_type: ClassVar[str] = "hiring_publication.chosen.v1"
    topic: ClassVar[topics.Topic] = topics.OPENINGS

    employer_id: Id
    employer_name: Name = Field(min_length=1, description="The name the employer's hiring is published under.")
    year: int = Field(
        ge=PUBLICATION_YEAR_MIN, le=PUBLICATION_YEAR_MAX, description="The calendar year (UTC) the choice is about."
    )
    opted_in: bool = Field(description="True: the coalition may publish the year's hiring; false: it may not.")

    def subject(self) -> str:
        return self.employer_id


class ReferralSubmittedV1(Payload):
    """A partner referred a candidate and intake accepted it (v1: skills as free text). Superseded by v2; still accepted through the upcaster."""

    event_type: ClassVar[str] = "referral.submitted.v1"
    schema_version: ClassVar[str] = "1.1"
    topic: ClassVar[topics.Topic] = topics.REFERRALS

    referral_id: Id
    partner_id: Id
    candidate_id: Id = Field(description="Pseudonymous; links one person's referrals without identifying them.")
    skills: Skills = Field(min_length=1)
    credentials: list[Credential] = Field(default_factory=list, max_length=CREDENTIALS_MAX)
    training: Training | None = None
    target_onet_soc_code: OnetSoc | None = None
    target_opening_id: Id | None = None
    consent: Consent


class Sealed(BaseModel):
    """Personal data encrypted with the candidate's own key (AES-256-GCM).

    Only a service allowed to read the candidate's key can open it; erasing the candidate
    deletes the key, which makes every copy (on every topic, in every replica) unreadable.
    """

    model_config = CONTRACT_MODEL
    alg: str = Field(
        default="A256GCM", pattern=r"^A256GCM$", max_length=7, description="Encryption algorithm (JWA name)."
    )
    kid: str = Field(
        max_length=KID_MAX, pattern=TEXT_PATTERN, description="Which key: the candidate id and the key's version."
    )
    nonce: str = Field(
        max_length=NONCE_MAX, pattern=BASE64URL_PATTERN, description="96-bit nonce, base64url without padding."
    )
    ciphertext: str = Field(
        max_length=CIPHERTEXT_MAX,
        pattern=BASE64URL_PATTERN,
        description="Ciphertext and tag, base64url without padding.",
    )


class SkillRef(BaseModel):
    """One skill: the vocabulary id and the text it came from."""

    model_config = CONTRACT_MODEL
    id: Id | None = Field(description="Id in the skills vocabulary; null when the text matched no skill.")
    text: Name = Field(min_length=1, description="The skill as the partner wrote it.")


class ConsentScope(BaseModel):
    """The candidate's consent and its scope."""

    model_config = CONTRACT_MODEL
    share_with_employers: bool = Field(description="Employers may see the referral (needed for routing).")
    aggregate_reports: bool = Field(description="The referral may be counted in aggregate reports.")
    given_at: AwareDatetime
    share_contact: bool = Field(
        default=False,
        description="Employers the referral is routed to may see the candidate's contact details (2.3).",
    )
    notify_candidate: bool = Field(
        default=False,
        description="The network may e-mail the candidate about this referral: when they are referred, when an"
        " interview is scheduled and when an offer is made, and nothing else (2.6). Not consent to employers:"
        " `share_contact` is that.",
    )


# A BCP 47 language tag as people's records carry it ("es", "es-MX", "en-US"); what a service
# does not speak it falls back from (intake's e-mails: English).
LanguageTag = Annotated[str, Field(max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")]


class ReferralSubmittedV2(Payload):
    """v2: skills as vocabulary ids with the original text kept, and an explicit consent scope.

    2.1 adds `contact_sealed`: the candidate's contact details, encrypted with the
    candidate's key, for the services that may show them to a consenting employer.
    2.2 adds `highest_degree` and `location` for matching.
    2.3 adds `consent.share_contact`: whether employers may see the contact details.
    2.4 adds `demographics_sealed`, for the outcomes service's suppressed aggregate reports.
    2.5 bounds every text and list (contracts.bounds), like every event's next minor version.
    2.6 adds `consent.notify_candidate` and `preferred_language`, for intake's e-mails to the candidate.
    """

    event_type: ClassVar[str] = "referral.submitted.v2"
    schema_version: ClassVar[str] = "2.6"
    topic: ClassVar[topics.Topic] = topics.REFERRALS

    referral_id: Id
    partner_id: Id
    candidate_id: Id = Field(description="Pseudonymous; links one person's referrals without identifying them.")
    skills: list[SkillRef] = Field(min_length=1, max_length=SKILLS_MAX)
    skills_vocabulary: Id = Field(description="Version of the skills vocabulary the ids come from.")
    credentials: list[Credential] = Field(default_factory=list, max_length=CREDENTIALS_MAX)
    training: Training | None = None
    target_onet_soc_code: OnetSoc | None = None
    target_opening_id: Id | None = None
    consent: ConsentScope
    contact_sealed: Sealed | None = Field(
        default=None, description="Contact details (name, e-mail, phone), sealed with the candidate's key."
    )
    highest_degree: DegreeLevel | None = Field(default=None, description="Highest degree completed, if any (2.2).")
    location: Name | None = Field(default=None, description="Where the candidate can work (2.2).")
    demographics_sealed: Sealed | None = Field(
        default=None,
        description="Self-identified race/ethnicity, gender and veteran status, sealed with the candidate's key; only"
        " when the candidate consented to aggregate reports. Opened only by the outcomes service, for reports that"
        " suppress small cells; never shown to employers (2.4).",
    )
    preferred_language: LanguageTag | None = Field(
        default=None,
        description="The language the candidate prefers to be written to in, a BCP 47 tag (2.6); absent: not said.",
    )

    def skill_keys(self) -> list[str]:
        return skill_keys(self.skills)


def text_key(text: str) -> str:
    """How free text (an unknown skill, a credential's name, a place) is compared: casefolded,
    spaces collapsed, at most NAME_MAX characters.

    Casefolding can lengthen text (one "ß" becomes "ss", some characters become three), so
    the key is cut to the bound of the text it came from: events carry keys, and a key longer
    than any name could make an event that no topic takes.
    """
    return " ".join(text.casefold().split())[:NAME_MAX]


def skill_keys(skills: list[SkillRef]) -> list[str]:
    """What matching compares: the vocabulary id, or the normalized text of an unknown skill."""
    return [s.id or text_key(s.text) for s in skills]


class ReferralUpdatedV1(Payload):
    """The referring partner updated the referral's profile; carries the whole profile as it now is."""

    event_type: ClassVar[str] = "referral.updated.v1"
    schema_version: ClassVar[str] = "1.2"
    topic: ClassVar[topics.Topic] = topics.REFERRALS

    referral_id: Id
    partner_id: Id
    candidate_id: Id
    changed: list[Label] = Field(
        min_length=1, max_length=CHANGED_MAX, description="Which parts changed: skills, credentials, training, contact."
    )
    skills: list[SkillRef] = Field(min_length=1, max_length=SKILLS_MAX)
    skills_vocabulary: Id
    credentials: list[Credential] = Field(default_factory=list, max_length=CREDENTIALS_MAX)
    training: Training | None = None
    contact_sealed: Sealed | None = Field(default=None, description="The contact details as they now are, sealed.")
    highest_degree: DegreeLevel | None = Field(default=None, description="Highest degree completed, if any (1.1).")
    location: Name | None = Field(default=None, description="Where the candidate can work (1.1).")

    def skill_keys(self) -> list[str]:
        return skill_keys(self.skills)


class WithdrawalReason(StrEnum):
    candidate_request = "candidate_request"
    found_employment = "found_employment"
    no_longer_available = "no_longer_available"
    submitted_in_error = "submitted_in_error"
    candidate_erased = "candidate_erased"
    other = "other"


class ReferralWithdrawnV1(Payload):
    """The referring partner (or an erasure) withdrew the referral; no one may act on it any more."""

    event_type: ClassVar[str] = "referral.withdrawn.v1"
    schema_version: ClassVar[str] = "1.1"
    topic: ClassVar[topics.Topic] = topics.REFERRALS

    referral_id: Id
    partner_id: Id
    candidate_id: Id
    reason: WithdrawalReason
    withdrawn_at: AwareDatetime


class ErasureRequester(StrEnum):
    partner = "partner"
    operator = "operator"


class CandidateErasedV1(Payload):
    """A candidate's personal data was erased: their key is destroyed and every service drops what it
    holds about them. Counts in the ledger remain; nothing links them to the person any more.
    Since 1.2 a partner's erasure of its own referrals of the person names the partner (`partner_id`).
    1.3 adds `enrollment_ids`: the person's training enrollments, dropped like the referrals."""

    event_type: ClassVar[str] = "candidate.erased.v1"
    schema_version: ClassVar[str] = "1.3"
    topic: ClassVar[topics.Topic] = topics.CANDIDATES

    candidate_id: Id
    referral_ids: list[Id] = Field(
        max_length=REFERRALS_PER_CANDIDATE_MAX,
        description="Every referral of the candidate, so services can find what to drop"
        " (with `partner_id`: that partner's referrals of the candidate only).",
    )
    requested_by: ErasureRequester
    erased_at: AwareDatetime
    partner_id: Id | None = Field(
        default=None,
        description="Set when a partner erased only what it holds: its own referrals of the candidate, listed in"
        " `referral_ids`. The person's key and other partners' referrals remain, so services drop what these"
        " referrals carry and nothing else. Absent: the person is erased network-wide.",
    )
    enrollment_ids: list[Id] = Field(
        default_factory=list,
        max_length=ENROLLMENTS_PER_CANDIDATE_MAX,
        description="Every training enrollment of the candidate (with `partner_id`: that training provider's"
        " enrollments of the candidate only), dropped like the referrals (1.3). Empty before 1.3.",
    )

    def subject(self) -> str:
        return self.candidate_id


class ReferralRoutedV1(Payload):
    """Routing matched the referral to an opening; `missing_skills` are preferred skills the candidate lacks."""

    event_type: ClassVar[str] = "referral.routed.v1"
    schema_version: ClassVar[str] = "1.2"
    topic: ClassVar[topics.Topic] = topics.ROUTING

    referral_id: Id
    partner_id: Id
    candidate_id: Id
    opening_id: Id
    employer_id: Id
    score: float = Field(ge=0, le=1)
    matched_skills: SkillList
    missing_skills: SkillList = Field(description="Preferred skills the candidate lacks (required ones all match).")
    candidate_skills: SkillList
    credentials: list[Credential] = Field(default_factory=list, max_length=CREDENTIALS_MAX)
    explanation: Explanation
    attempt: int = Field(default=1, ge=1, le=INT4_MAX, description="Which routing attempt this is (1.1).")
    details: MatchDetails | None = Field(default=None, description="The explanation part by part (1.1).")


class ReferralUnmatchedV1(Payload):
    """No open opening fits; `missing_skills` are required skills lacking for the nearest openings."""

    event_type: ClassVar[str] = "referral.unmatched.v1"
    schema_version: ClassVar[str] = "1.2"
    topic: ClassVar[topics.Topic] = topics.ROUTING

    referral_id: Id
    partner_id: Id
    candidate_id: Id
    reason: Reason
    missing_skills: list[SkillKey] = Field(
        max_length=NEAREST_MISSING_MAX, description="Required skills missing for the nearest openings."
    )
    nearest: list[NearestOpening] = Field(default_factory=list, max_length=NEAREST_MAX)
    attempt: int = Field(default=1, ge=1, le=INT4_MAX, description="Which routing attempt this is (1.1).")


class _EmployerAction(Payload):
    """What an employer did with (or what happened at an employer to) a referral routed to it,
    on `talentloop.employer-actions`: every such event names the referral, the employer and
    the opening."""

    topic: ClassVar[topics.Topic] = topics.EMPLOYER_ACTIONS

    referral_id: Id
    employer_id: Id
    opening_id: Id


class ReferralAcknowledgedV1(_EmployerAction):
    """The employer acknowledged the routed referral."""

    event_type: ClassVar[str] = "referral.acknowledged.v1"
    schema_version: ClassVar[str] = "1.1"


class ReferralDeclinedV1(_EmployerAction):
    """The employer declined the referral; `reason` is a decline code."""

    event_type: ClassVar[str] = "referral.declined.v1"
    schema_version: ClassVar[str] = "1.1"
    reason: DeclineReason
    detail: Detail | None = None

    @model_validator(mode="after")
    def _other_needs_detail(self) -> ReferralDeclinedV1:
        if self.reason is DeclineReason.other and not self.detail:
            raise ValueError("reason 'other' needs a detail")
        return self


class InterviewScheduledV1(_EmployerAction):
    """The employer scheduled an interview."""

    event_type: ClassVar[str] = "interview.scheduled.v1"
    schema_version: ClassVar[str] = "1.1"
    interview_id: Id
    scheduled_for: AwareDatetime
    mode: InterviewMode


class InterviewCompletedV1(_EmployerAction):
    """The employer recorded an interview's outcome."""

    event_type: ClassVar[str] = "interview.completed.v1"
    schema_version: ClassVar[str] = "1.1"
    interview_id: Id
    outcome: InterviewOutcome


class PlacementReportedV1(_EmployerAction):
    """The employer hired the candidate."""

    event_type: ClassVar[str] = "placement.reported.v1"
    schema_version: ClassVar[str] = "1.1"
    job_title: Name = Field(min_length=1)
    onet_soc_code: OnetSoc
    wage: Wage
    hours_per_week: float = Field(gt=0, le=80)
    employment_type: EmploymentType
    benefits: BasicBenefits
    start_date: date


class _Terms(_EmployerAction):
    """A job's terms, as an offer (2.0) states them and a placement (2.0) reports them."""

    job_title: Name = Field(min_length=1)
    onet_soc_code: OnetSoc
    employment_type: EmploymentKind = Field(description=KIND)
    apprenticeship_registered: bool | None = Field(
        default=None, description="Apprenticeships only: whether it is a registered apprenticeship."
    )
    pay_basis: PayBasis
    wage: Wage | None = Field(description="Pay, with its unit; null exactly when pay_basis is unpaid.")
    hours_per_week: HoursPerWeek | None = Field(default=None, description="Contracted hours per week, if set.")
    engagement_hours: EngagementHours | None = Field(
        default=None, description="Micro-internships only: the project's hours in all."
    )
    schedule: Schedule | None = None
    benefits: Benefits
    start_date: date
    end_date: date | None = Field(default=None, description="Last day, for work that ends (an internship, a project).")

    @model_validator(mode="after")
    def _consistent(self) -> _Terms:
        refuse(self, terms_refusals(self))
        return self


class PlacementReportedV2(_Terms):
    """The employer hired the candidate. v2: any kind of employment (micro-internships too),
    paid or not (`pay_basis`), with its schedule and more benefits. v1 upcasts with
    `pay_basis` hourly for a wage by the hour, salary otherwise."""

    event_type: ClassVar[str] = "placement.reported.v2"
    schema_version: ClassVar[str] = "2.0"


# A conversion: work-based learning (an internship, micro-internship or apprenticeship) turned
# into a hire at the same employer. Only these kinds convert, and only to these.
CONVERTS_FROM = frozenset({EmploymentKind.internship, EmploymentKind.micro_internship, EmploymentKind.apprenticeship})
CONVERTS_TO = frozenset({EmploymentKind.full_time, EmploymentKind.part_time})


def conversion_refusals(
    from_employment_type: EmploymentKind, employment_type: EmploymentKind, start_date: date, converted_on: date,
    end_date: date | None,
) -> list[InitErrorDetails]:
    """What is inconsistent in a conversion: its kinds, and its date against the employment's."""
    found = []
    if from_employment_type not in CONVERTS_FROM:
        found.append(inconsistent(
            "from_employment_type", "from_employment_type must be internship, micro_internship or apprenticeship",
            from_employment_type.value,
        ))
    if employment_type not in CONVERTS_TO:
        found.append(inconsistent(
            "employment_type", "employment_type must be full_time or part_time after a conversion", employment_type.value
        ))
    if converted_on < start_date:
        found.append(inconsistent("converted_on", "converted_on is before start_date", converted_on.isoformat()))
    if end_date is not None and end_date < converted_on:
        found.append(inconsistent("end_date", "end_date is before converted_on", end_date.isoformat()))
    return found


class PlacementConvertedV1(_Terms):
    """The employer converted a placed intern, micro-intern or apprentice into a full-time or
    part-time hire, at the same employer: the job's terms from `converted_on` on. `start_date`
    stays the employment's first day (retention check-ins still count from it);
    `from_employment_type` is the kind of job before. A hire at another employer is a new
    placement there, not a conversion."""

    event_type: ClassVar[str] = "placement.converted.v1"
    schema_version: ClassVar[str] = "1.0"
    converted_on: date = Field(description="First day on the new terms; not before start_date.")
    from_employment_type: EmploymentKind = Field(
        description="The kind of job before: internship, micro_internship or apprenticeship."
    )

    @model_validator(mode="after")
    def _a_conversion(self) -> PlacementConvertedV1:
        refuse(self, conversion_refusals(
            self.from_employment_type, self.employment_type, self.start_date, self.converted_on, self.end_date
        ))
        return self


class InterviewRescheduledV1(_EmployerAction):
    """The employer moved an interview to another time (or changed how it is held)."""

    event_type: ClassVar[str] = "interview.rescheduled.v1"
    schema_version: ClassVar[str] = "1.1"
    interview_id: Id
    scheduled_for: AwareDatetime
    mode: InterviewMode


class CancelledBy(StrEnum):
    employer = "employer"
    candidate = "candidate"


class InterviewCancelledV1(_EmployerAction):
    """An interview will not take place; the referral stays with the employer."""

    event_type: ClassVar[str] = "interview.cancelled.v1"
    schema_version: ClassVar[str] = "1.1"
    interview_id: Id
    cancelled_by: CancelledBy
    detail: Detail | None = None


class OfferExtendedV1(_EmployerAction):
    """The employer offered the candidate the job, on these terms."""

    event_type: ClassVar[str] = "offer.extended.v1"
    schema_version: ClassVar[str] = "1.1"
    offer_id: Id
    job_title: Name = Field(min_length=1)
    onet_soc_code: OnetSoc
    wage: Wage
    hours_per_week: float = Field(gt=0, le=80)
    employment_type: EmploymentType
    benefits: BasicBenefits
    start_date: date
    expires_on: date | None = None


class OfferExtendedV2(_Terms):
    """The employer offered the candidate the job, on these terms (v2: as placement.reported.v2
    states them; v1 upcasts the same way)."""

    event_type: ClassVar[str] = "offer.extended.v2"
    schema_version: ClassVar[str] = "2.0"
    offer_id: Id
    expires_on: date | None = None


class OfferDeclineReason(StrEnum):
    compensation = "compensation"
    schedule = "schedule"
    location = "location"
    accepted_other_offer = "accepted_other_offer"
    no_longer_interested = "no_longer_interested"
    other = "other"


class OfferDeclinedV1(_EmployerAction):
    """The candidate turned the offer down (the employer reports it). The referral ends there."""

    event_type: ClassVar[str] = "offer.declined.v1"
    schema_version: ClassVar[str] = "1.1"
    offer_id: Id
    reason: OfferDeclineReason
    detail: Detail | None = None


RETENTION_MILESTONES = (30, 90, 180)


class RetentionCheckedV1(_EmployerAction):
    """A retention check-in, 30, 90 or 180 days after the start date: still employed or not.
    1.2 adds what the job is by then, where known: title, promotion, pay basis, benefits and
    schedule (advancement and job quality since the placement)."""

    event_type: ClassVar[str] = "retention.checked.v1"
    schema_version: ClassVar[str] = "1.2"
    milestone_days: int = Field(json_schema_extra={"enum": list(RETENTION_MILESTONES)})
    still_employed: bool
    checked_on: date
    wage: Wage | None = Field(default=None, description="Pay at the check-in, if it changed or is known.")
    hours_per_week: float | None = Field(default=None, gt=0, le=80)
    job_title: Name | None = Field(default=None, min_length=1, description="The job's title by now, if known (1.2).")
    promoted: bool | None = Field(default=None, description="Promoted since the placement; null: not known (1.2).")
    pay_basis: PayBasis | None = Field(default=None, description="How the job is paid by now, if known (1.2).")
    benefits: Benefits | None = Field(default=None, description="Benefits by now, if known (1.2).")
    schedule: Schedule | None = Field(default=None, description="The schedule by now, if known (1.2).")

    @model_validator(mode="after")
    def _known_milestone(self) -> RetentionCheckedV1:
        if self.milestone_days not in RETENTION_MILESTONES:
            raise ValueError(f"milestone_days must be one of {RETENTION_MILESTONES}")
        refuse(self, pay_refusals(self.pay_basis, self.wage, wage_required=False))
        return self


class SeparationReason(StrEnum):
    resigned = "resigned"
    dismissed = "dismissed"
    laid_off = "laid_off"
    contract_ended = "contract_ended"
    other = "other"


class SeparationReportedV1(_EmployerAction):
    """The placed candidate left the job."""

    event_type: ClassVar[str] = "separation.reported.v1"
    schema_version: ClassVar[str] = "1.1"
    separated_on: date
    reason: SeparationReason
    detail: Detail | None = None


class ReferralStaleV1(_EmployerAction):
    """The employer has not acknowledged the routed referral within the configured number of
    business days: the loop must not silently stay open."""

    event_type: ClassVar[str] = "referral.stale.v1"
    schema_version: ClassVar[str] = "1.1"
    routed_at: AwareDatetime
    business_days: int = Field(ge=1, le=INT4_MAX, description="Business days without an acknowledgement.")


class PartnerStatus(StrEnum):
    """What the referring partner sees (docs/lifecycle.md maps them to findhelp and FHIR)."""

    submitted = "submitted"
    in_review = "in_review"
    not_matched = "not_matched"
    declined = "declined"
    interviewing = "interviewing"
    offered = "offered"
    hired = "hired"
    retained_90_days = "retained_90_days"
    closed = "closed"
    withdrawn = "withdrawn"


class StatusDetail(BaseModel):
    """Why, with the status: what the partner needs to act on it."""

    model_config = CONTRACT_MODEL
    missing_skills: list[SkillKey] | None = Field(
        default=None, max_length=NEAREST_MISSING_MAX, description="not_matched: required skills lacking."
    )
    reason: Reason | None = Field(default=None, description="declined, closed, withdrawn: the reason code or words.")
    job_title: Name | None = Field(default=None, description="hired: the job.")
    wage_band: Label | None = Field(default=None, description="hired: the hourly wage's range, not the exact wage.")
    benefits: Benefits | None = Field(default=None, description="hired: basic benefits.")
    start_date: date | None = Field(default=None, description="hired: first day of work.")
    employment_type: EmploymentKind | None = Field(default=None, description=f"offered, hired: {KIND} (1.2).")


class ReferralStatusChangedV1(Payload):
    """The closed loop: the referral's partner-facing status changed (derived by outcomes from
    the ledger). Every status change of a referral reaches its referring partner."""

    event_type: ClassVar[str] = "referral.status_changed.v1"
    schema_version: ClassVar[str] = "1.2"
    topic: ClassVar[topics.Topic] = topics.PARTNER_STATUS

    referral_id: Id
    partner_id: Id
    status: PartnerStatus
    previous_status: PartnerStatus | None = Field(description="null for the first status.")
    detail: StatusDetail = Field(default_factory=StatusDetail)


class GapOutcome(StrEnum):
    routed = "routed"
    unmatched = "unmatched"


class SkillsGapObservedV1(Payload):
    """One routing decision seen as skills demand and supply for one occupation: what the
    opening (the one routed to, or one of the nearest) asks, what the candidate holds, and
    what is missing. Superseded by v2 (one event per decision, not per opening); still
    accepted through the upcaster. Key: the occupation's O*NET-SOC code."""

    event_type: ClassVar[str] = "skills.gap_observed.v1"
    schema_version: ClassVar[str] = "1.1"
    topic: ClassVar[topics.Topic] = topics.SKILLS_GAP

    referral_id: Id
    partner_id: Id
    onet_soc_code: OnetSoc
    opening_id: Id | None = Field(description="The opening compared with; null when no opening was near.")
    outcome: GapOutcome
    held: SkillList = Field(description="The candidate's skills (vocabulary ids, or normalized text).")
    demanded_required: SkillList
    demanded_preferred: SkillList
    missing_required: SkillList
    missing_preferred: SkillList
    missing_requirements: Requirements = Field(
        default_factory=list, description="Mandatory credentials or degree lacking."
    )

    def subject(self) -> str:
        return self.onet_soc_code


class GapComparison(BaseModel):
    """One opening a decision compared the candidate's skills with (the one routed to, or one of
    the nearest; none when no opening was near and the referral named an occupation), and what
    the candidate lacks for it. What it asks is its posting on talentloop.openings."""

    model_config = CONTRACT_MODEL
    onet_soc_code: OnetSoc
    opening_id: Id | None = Field(description="The opening compared with; null when no opening was near.")
    missing_required: SkillList = Field(description="Its required skills the candidate lacks.")
    missing_preferred: SkillList = Field(description="Its preferred skills the candidate lacks.")
    missing_requirements: Requirements = Field(
        default_factory=list, description="Mandatory credentials or degree lacking."
    )


class SkillsGapObservedV2(Payload):
    """One routing decision seen as skills demand and supply: the candidate's skills once, and
    for each opening it was compared with (the one routed to, or the nearest ones) its occupation
    and what is missing. Outcomes sums these into the skills-gap report; trainers read it, with
    the openings' postings on talentloop.openings (what they ask), to change curricula. Key: the
    referral id (a decision's comparisons may name several occupations).

    Supersedes v1, one event per opening compared with: v1 upcasts to one comparison, without
    v1's `demanded_required` and `demanded_preferred` (the opening's posting as it was)."""

    event_type: ClassVar[str] = "skills.gap_observed.v2"
    schema_version: ClassVar[str] = "2.0"
    topic: ClassVar[topics.Topic] = topics.SKILLS_GAP

    referral_id: Id
    partner_id: Id
    outcome: GapOutcome
    held: SkillList = Field(description="The candidate's skills (vocabulary ids, or normalized text).")
    comparisons: list[GapComparison] = Field(
        min_length=1, max_length=NEAREST_MAX,
        description="The openings compared with: the one routed to, or the nearest ones (at most three).",
    )

    def subject(self) -> str:
        return self.referral_id


# --- training (issue 15): programs on talentloop.programs, enrollments on talentloop.training ---


class Modality(StrEnum):
    in_person = "in_person"
    online = "online"
    hybrid = "hybrid"


class FundingSource(StrEnum):
    wioa = "wioa"
    good_jobs_challenge = "good_jobs_challenge"
    employer = "employer"
    pell = "pell"
    scholarship = "scholarship"
    self_pay = "self_pay"
    other = "other"


class Money(BaseModel):
    """An amount of money in a currency (not for a period: see Wage)."""

    model_config = CONTRACT_MODEL
    amount: Amount
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$", max_length=3)


class _Program(Payload):
    """A training program as its provider describes it; registered and updated carry all of it."""

    topic: ClassVar[topics.Topic] = topics.PROGRAMS

    program_id: Id = Field(description="The program, as the provider (a partner) identifies it within its own programs.")
    partner_id: Id = Field(description="The training provider that runs the program (a partner of the network).")
    name: Name = Field(min_length=1, description="The program's name, as the provider publishes it.")
    credential: CredentialRequirement | None = Field(
        default=None, description="The credential the program leads to, with its Credential Engine CTID when there is one."
    )
    onet_soc_codes: list[OnetSoc] = Field(
        default_factory=list,
        max_length=PROGRAM_OCCUPATIONS_MAX,
        description="O*NET-SOC codes of the occupations the program prepares for.",
    )
    modality: Modality = Field(description="How the program is taught: in_person, online or hybrid.")
    length_weeks: int = Field(ge=1, le=PROGRAM_WEEKS_MAX, description="How many weeks the program lasts.")
    hours: int | None = Field(default=None, ge=1, le=PROGRAM_HOURS_MAX, description="Hours of instruction in all.")
    cost_to_participant: Money = Field(description="What a participant pays, after any funding (0 when free).")
    funding_sources: list[FundingSource] = Field(
        default_factory=list,
        max_length=FUNDING_SOURCES_MAX,
        description="Who pays for the program: wioa, good_jobs_challenge, employer, pell, scholarship, self_pay, other.",
    )

    def subject(self) -> str:
        return self.program_id


class ProgramRegisteredV1(_Program):
    """A training provider registered a program participants can enroll in."""

    event_type: ClassVar[str] = "program.registered.v1"


class ProgramUpdatedV1(_Program):
    """A training provider changed a program; carries the whole program as it now is."""

    event_type: ClassVar[str] = "program.updated.v1"


class _Enrollment(Payload):
    """Every training event is about one enrollment: one participant in one program."""

    topic: ClassVar[topics.Topic] = topics.TRAINING

    enrollment_id: Id = Field(description="The enrollment, created once by intake; the Kafka key of its events.")
    program_id: Id = Field(description="The program enrolled in.")
    partner_id: Id = Field(description="The training provider that reports the enrollment (a partner of the network).")
    candidate_id: Id = Field(
        description="Pseudonymous; the same id referrals of the person carry, so training and hiring join."
    )

    def subject(self) -> str:
        return self.enrollment_id


class TrainingConsent(BaseModel):
    """What the participant agreed to when enrolling."""

    model_config = CONTRACT_MODEL
    aggregate_reports: bool = Field(description="The participant may be counted in aggregate reports.")
    share_outcomes_with_provider: bool = Field(
        description="The training provider may hear what came of the participant later (referrals, placements)."
    )
    given_at: AwareDatetime


class TrainingEnrolledV1(_Enrollment):
    """A participant enrolled in a program. Contact details and demographics travel sealed with the
    participant's key, as a referral's do."""

    event_type: ClassVar[str] = "training.enrolled.v1"

    enrolled_on: date = Field(description="First day of the enrollment.")
    consent: TrainingConsent
    contact_sealed: Sealed | None = Field(
        default=None, description="Contact details (name, e-mail, phone), sealed with the candidate's key."
    )
    demographics_sealed: Sealed | None = Field(
        default=None,
        description="Self-identified race/ethnicity, gender and veteran status, sealed with the candidate's key; only"
        " when the participant consented to aggregate reports.",
    )


class TrainingMilestone(StrEnum):
    skills_gain = "skills_gain"
    module_completed = "module_completed"
    exam_passed = "exam_passed"
    other = "other"


class TrainingProgressedV1(_Enrollment):
    """Measurable progress (a WIOA measurable skill gain, a module, an exam), when the provider reports it."""

    event_type: ClassVar[str] = "training.progressed.v1"

    as_of: date = Field(description="The day the progress was made.")
    milestone: TrainingMilestone = Field(description="What was reached: skills_gain, module_completed, exam_passed, other.")
    percent_complete: int | None = Field(
        default=None, ge=0, le=PERCENT_MAX, description="How much of the program is done, in percent."
    )


class TrainingCompletedV1(_Enrollment):
    """The participant completed the program."""

    event_type: ClassVar[str] = "training.completed.v1"

    completed_on: date


class TrainingExitReason(StrEnum):
    employment = "employment"
    personal = "personal"
    financial = "financial"
    transportation = "transportation"
    childcare = "childcare"
    health = "health"
    dismissed = "dismissed"
    transferred = "transferred"
    other = "other"


class TrainingExitedV1(_Enrollment):
    """The participant left the program without completing it."""

    event_type: ClassVar[str] = "training.exited.v1"

    exited_on: date = Field(description="Last day in the program.")
    reason: TrainingExitReason = Field(
        description="Why: employment, personal, financial, transportation, childcare, health, dismissed, transferred"
        " or other (with a detail)."
    )
    detail: Detail | None = None

    @model_validator(mode="after")
    def _other_needs_detail(self) -> TrainingExitedV1:
        if self.reason is TrainingExitReason.other and not self.detail:
            refuse(self, [inconsistent("detail", "detail: reason 'other' needs a detail", self.detail)])
        return self


class EarnedCredential(BaseModel):
    """A credential a participant earned through a program."""

    model_config = CONTRACT_MODEL
    name: Name = Field(min_length=1)
    issuer: Name | None = None
    ctdl_id: Id | None = Field(default=None, description="Credential Engine CTID, where the credential has one.")


class CredentialEarnedV1(_Enrollment):
    """The participant earned a credential through the enrolled program (before or after completing it)."""

    event_type: ClassVar[str] = "credential.earned.v1"

    credential: EarnedCredential = Field(description="The credential earned, with its Credential Engine CTID when it has one.")
    awarded_on: date


# --- supportive services (issue 15): requests and the providers' directory on talentloop.services ---


class ServiceType(StrEnum):
    """What kind of support a request asks for, and a provider offers."""

    transportation = "transportation"
    childcare = "childcare"
    technology = "technology"
    housing = "housing"
    food = "food"
    legal = "legal"
    financial_coaching = "financial_coaching"
    other = "other"


SERVICE_TYPES = "transportation, childcare, technology, housing, food, legal, financial_coaching or other"


class _ServiceProvider(Payload):
    """A service provider (a partner of the network) as it describes itself in the directory."""

    topic: ClassVar[topics.Topic] = topics.SERVICES

    provider_id: Id = Field(description="The service provider: a partner of the network, by its partner id.")
    name: Name = Field(min_length=1, description="The provider's name, as it presents itself to requesters.")
    service_types: list[ServiceType] = Field(
        min_length=1, max_length=len(ServiceType), description=f"The services it offers: {SERVICE_TYPES}."
    )

    def subject(self) -> str:
        return self.provider_id


class ServiceProviderRegisteredV1(_ServiceProvider):
    """A partner registered itself as a service provider; requesters may now address requests to it."""

    event_type: ClassVar[str] = "service_provider.registered.v1"


class ServiceProviderUpdatedV1(_ServiceProvider):
    """A service provider changed its entry; carries the whole entry as it now is."""

    event_type: ClassVar[str] = "service_provider.updated.v1"


class _ServiceRequest(Payload):
    """Every event of a service request names it, who asked and whom."""

    topic: ClassVar[topics.Topic] = topics.SERVICES

    request_id: Id = Field(description="The service request, created once by the support service; the Kafka key of its events.")
    requester_id: Id = Field(description="The partner that asked (a referring partner or a training provider).")
    provider_id: Id = Field(description="The service provider asked (a partner registered in the directory).")

    def subject(self) -> str:
        return self.request_id


class ServiceRequestedV1(_ServiceRequest):
    """A partner asked a service provider to support a person it referred or enrolled: named through
    exactly one of its own referral or enrollment ids, and by the person's pseudonymous candidate id."""

    event_type: ClassVar[str] = "service.requested.v1"

    candidate_id: Id = Field(description="Pseudonymous; the same id the person's referrals and enrollments carry.")
    referral_id: Id | None = Field(default=None, description="The requester's referral of the person (or an enrollment).")
    enrollment_id: Id | None = Field(
        default=None, description="The requester's enrollment of the person (or a referral)."
    )
    service_type: ServiceType = Field(description=f"What is asked for: {SERVICE_TYPES}.")
    reason: Reason = Field(min_length=1, description="Why the person needs it, in the requester's words.")
    amount_requested: Money | None = Field(
        default=None, description="How much, when the service is money (a grant, a voucher); null otherwise."
    )

    @model_validator(mode="after")
    def _one_person_reference(self) -> ServiceRequestedV1:
        if (self.referral_id is None) == (self.enrollment_id is None):
            refuse(self, [inconsistent(
                "enrollment_id", "enrollment_id: name exactly one of referral_id and enrollment_id", self.enrollment_id
            )])
        return self


class ServiceAcceptedV1(_ServiceRequest):
    """The service provider took the request on."""

    event_type: ClassVar[str] = "service.accepted.v1"


class ServiceDeclineReason(StrEnum):
    not_eligible = "not_eligible"
    no_capacity = "no_capacity"
    out_of_area = "out_of_area"
    unreachable = "unreachable"
    duplicate = "duplicate"
    other = "other"


class ServiceDeclinedV1(_ServiceRequest):
    """The service provider will not deliver the service (before or after accepting it). The request ends."""

    event_type: ClassVar[str] = "service.declined.v1"

    reason_code: ServiceDeclineReason = Field(
        description="Why: not_eligible, no_capacity, out_of_area, unreachable, duplicate or other (with a detail)."
    )
    detail: Detail | None = None

    @model_validator(mode="after")
    def _other_needs_detail(self) -> ServiceDeclinedV1:
        if self.reason_code is ServiceDeclineReason.other and not self.detail:
            refuse(self, [inconsistent("detail", "detail: reason_code 'other' needs a detail", self.detail)])
        return self


class ServiceDeliveredV1(_ServiceRequest):
    """The service provider delivered the service. The request ends."""

    event_type: ClassVar[str] = "service.delivered.v1"

    delivered_on: date = Field(description="The day the service was delivered (or its delivery completed).")
    value: Money | None = Field(default=None, description="What was delivered, when the service is money; null otherwise.")


class ServiceCancelledV1(_ServiceRequest):
    """The requester withdrew the request (before it was delivered or declined). The request ends."""

    event_type: ClassVar[str] = "service.cancelled.v1"

    reason: Reason = Field(min_length=1, description="Why the requester withdrew it, in its words.")


class ServiceWaitingIn(StrEnum):
    requested = "requested"  # not answered by the provider
    accepted = "accepted"  # accepted, not delivered


class ServiceStaleV1(_ServiceRequest):
    """The request has waited in one state longer than the configured number of business days (not
    answered, or accepted and not delivered): flagged once per state, so the loop does not silently stay open."""

    event_type: ClassVar[str] = "service.stale.v1"

    waiting_in: ServiceWaitingIn = Field(description="requested: not answered; accepted: not delivered.")
    waiting_since: AwareDatetime = Field(description="When the request entered that state (UTC).")
    business_days: int = Field(
        ge=1,
        le=INT4_MAX,
        description="The limit it waited past: the configured business days (Monday to Friday, holidays"
        " excluded) allowed in that state (TALENTLOOP_STALE_BUSINESS_DAYS to be answered,"
        " TALENTLOOP_SERVICE_DELIVERY_BUSINESS_DAYS to be delivered).",
    )


# --- the closed loops of services and participants (written by outcomes on talentloop.partner-status) ---


class ServiceStatus(StrEnum):
    """What the requester of a service sees."""

    requested = "requested"
    accepted = "accepted"
    declined = "declined"
    delivered = "delivered"
    cancelled = "cancelled"
    stale = "stale"


class ServiceStatusDetail(BaseModel):
    """What the requester needs to act on a service request's status."""

    model_config = CONTRACT_MODEL
    service_type: ServiceType | None = Field(default=None, description=f"What was asked for: {SERVICE_TYPES}.")
    reason: Reason | None = Field(
        default=None, description="declined: the provider's reason code; cancelled: the requester's words."
    )
    delivered_on: date | None = Field(default=None, description="delivered: the day it was delivered.")
    value: Money | None = Field(default=None, description="delivered: what was delivered, when the service is money.")


class ServiceStatusChangedV1(Payload):
    """The closed loop of a service request: its status changed (derived by outcomes from
    talentloop.services). Every change reaches the requester. Key: request id."""

    event_type: ClassVar[str] = "service.status_changed.v1"
    topic: ClassVar[topics.Topic] = topics.PARTNER_STATUS

    request_id: Id = Field(description="The service request (talentloop.services' key).")
    partner_id: Id = Field(description="The partner told: the request's requester.")
    status: ServiceStatus
    previous_status: ServiceStatus | None = Field(description="null for the first status.")
    detail: ServiceStatusDetail = Field(default_factory=ServiceStatusDetail)

    def subject(self) -> str:
        return self.request_id


class ParticipantStatusChangedV1(Payload):
    """The closed loop for a training provider: the partner-facing status of a referral of one of its
    participants changed, the referral being another partner's. Sent only when the participant agreed
    at enrollment that the provider may hear what came of them (share_outcomes_with_provider); the
    provider's own referrals reach it as referral.status_changed. Key: enrollment id."""

    event_type: ClassVar[str] = "participant.status_changed.v1"
    topic: ClassVar[topics.Topic] = topics.PARTNER_STATUS

    partner_id: Id = Field(description="The partner told: the training provider of the enrollment.")
    enrollment_id: Id = Field(description="The provider's enrollment of the participant.")
    program_id: Id = Field(description="The program of that enrollment.")
    referral_id: Id = Field(description="The referral whose status changed (another partner's).")
    status: PartnerStatus
    previous_status: PartnerStatus | None = Field(description="null for the first status.")
    detail: StatusDetail = Field(default_factory=StatusDetail)

    def subject(self) -> str:
        return self.enrollment_id
