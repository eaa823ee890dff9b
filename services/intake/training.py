"""What intake decides about a training provider's programs and enrollments, without I/O.

A training record states an enrollment as the provider now knows it (a CSV row, a webhook, a
record on its Kafka topic, our JSON API): enrolled, perhaps with progress, completed or
exited, with the credentials earned so far. `training_events` compares it with what intake
already holds (`TrainingState`) and gives only the events of what is new, so sending the same
record again, or a whole file again, changes nothing. An enrollment that ended (completed or
exited) does not change its ending: an exit after a completion, or a completion after an exit,
is refused (`training-ended`); a record that says less than is known (enrolled, of a completed
enrollment) adds what it has and takes nothing back.

The participant is the same pseudonymous candidate a referral names (the identity path is
`application.report_training`); contact and demographics are validated by the same models as
a referral's and leave intake only sealed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from contracts import events
from contracts.bounds import (
    CREDENTIALS_MAX,
    FUNDING_SOURCES_MAX,
    PERCENT_MAX,
    PROGRAM_HOURS_MAX,
    PROGRAM_OCCUPATIONS_MAX,
    PROGRAM_WEEKS_MAX,
    Detail,
    Id,
    Name,
)
from services.intake.domain import Contact, Demographics, consent_time, random_hex

# An O*NET-SOC code in its full or short form (51-4121.00 or 51-4121), as the document says:
# `_occupation` gives the full one.
OccupationCode = Annotated[str, Field(pattern=r"^[0-9]{2}-[0-9]{4}(\.[0-9]{2})?$", max_length=10,
                                      examples=["15-1252.00", "51-4121"])]


class TrainingStatus(StrEnum):
    enrolled = "enrolled"
    completed = "completed"
    exited = "exited"


class ProgramIn(BaseModel):
    """A program as its provider describes it (`POST /v1/programs`; PATCH names what changes)."""

    model_config = ConfigDict(extra="forbid")
    program_id: Id = Field(min_length=1, description="The provider's id of the program; unique in the network.")
    name: Name = Field(min_length=1)
    credential: events.CredentialRequirement | None = None
    onet_soc_codes: list[OccupationCode] = Field(default_factory=list, max_length=PROGRAM_OCCUPATIONS_MAX)
    modality: events.Modality
    length_weeks: int = Field(ge=1, le=PROGRAM_WEEKS_MAX)
    hours: int | None = Field(default=None, ge=1, le=PROGRAM_HOURS_MAX)
    cost_to_participant: events.Money
    funding_sources: list[events.FundingSource] = Field(default_factory=list, max_length=FUNDING_SOURCES_MAX)

    @field_validator("onet_soc_codes")
    @classmethod
    def _occupations(cls, value: list[str]) -> list[str]:
        # Any O*NET-SOC occupation, not only those the network routes to: a welding program
        # leads to welding jobs whether or not employers here post them.
        return list(dict.fromkeys(_occupation(c) for c in value))

    @field_validator("funding_sources")
    @classmethod
    def _sources(cls, value: list[events.FundingSource]) -> list[events.FundingSource]:
        return list(dict.fromkeys(value))


_ONET_SOC = re.compile(r"\d{2}-\d{4}\.\d{2}")


def _occupation(code: str) -> str:
    """An O*NET-SOC code in its full form (51-4121 -> 51-4121.00)."""
    code = code.strip()
    full = code if "." in code else f"{code}.00"
    if not _ONET_SOC.fullmatch(full):
        raise PydanticCustomError("invalid_occupation", "not an O*NET-SOC code such as 51-4121.00")
    return full


def program_event(
    previous: ProgramIn | None, program: ProgramIn, partner_id: str
) -> events.ProgramRegisteredV1 | events.ProgramUpdatedV1 | None:
    """`program.registered` for a new program, `program.updated` (all of it) for a changed one,
    nothing when the provider restated it as it was."""
    if previous == program:
        return None
    fields = {**program.model_dump(), "partner_id": partner_id}
    return events.ProgramRegisteredV1(**fields) if previous is None else events.ProgramUpdatedV1(**fields)


class TrainingConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    aggregate_reports: bool = Field(
        default=False, description="The participant agreed to be counted in aggregate reports (default: not asked, so no)."
    )
    share_outcomes_with_provider: bool = Field(
        default=False, description="The provider may hear what came of the participant later (default: no)."
    )
    given_at: datetime = Field(description="When consent was given, with a time zone.")

    @field_validator("given_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return consent_time(value)


class ProgressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of: date
    milestone: events.TrainingMilestone
    percent_complete: int | None = Field(default=None, ge=0, le=PERCENT_MAX)


class CredentialEarnedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name = Field(min_length=1)
    issuer: Name | None = None
    ctdl_id: Id | None = None
    awarded_on: date

    def key(self) -> str:
        """The same credential whatever its spelling: its CTDL id, else its compared name."""
        return f"ctdl:{self.ctdl_id}" if self.ctdl_id else f"name:{events.text_key(self.name)}"


class TrainingRecordIn(BaseModel):
    """One participant's enrollment in one program, as the provider now knows it."""

    model_config = ConfigDict(extra="forbid")
    external_id: Id | None = Field(
        default=None, min_length=1,
        description="The provider's own reference of the enrollment; unique per provider. Without one, the"
        " enrollment is the person's in the program.",
    )
    program_id: Id = Field(min_length=1)
    candidate: Contact
    demographics: Demographics | None = None
    status: TrainingStatus = TrainingStatus.enrolled
    enrolled_on: date
    completed_on: date | None = None
    exited_on: date | None = None
    exit_reason: events.TrainingExitReason | None = None
    exit_detail: Detail | None = None
    progress: ProgressIn | None = None
    credentials: list[CredentialEarnedIn] = Field(default_factory=list, max_length=CREDENTIALS_MAX)
    consent: TrainingConsentIn

    @model_validator(mode="after")
    def _consistent(self) -> TrainingRecordIn:
        # Every refusal at the field to change, so an adapter's error names the provider's column.
        found: list[InitErrorDetails] = []

        def no(field: str, code: str, message: str) -> None:
            found.append(InitErrorDetails(type=PydanticCustomError(code, message), loc=(field,), input=getattr(self, field)))

        completed, exited = self.status is TrainingStatus.completed, self.status is TrainingStatus.exited
        if completed and self.completed_on is None:
            no("completed_on", "completed_on_required", "a completed enrollment needs its completion date")
        if exited and self.exited_on is None:
            no("exited_on", "exit_required", "an exit needs its date")
        if exited and self.exit_reason is None:
            no("exit_reason", "exit_required", "an exit needs its reason")
        for name in ("exited_on", "exit_reason", "exit_detail"):
            if not exited and getattr(self, name) is not None:
                no(name, "status_mismatch", f"{name} is given only with status exited")
        if not completed and self.completed_on is not None:
            no("completed_on", "status_mismatch", "completed_on is given only with status completed")
        if self.exit_reason is events.TrainingExitReason.other and not self.exit_detail:
            no("exit_detail", "detail_required", "exit reason 'other' needs a detail")
        for name in ("completed_on", "exited_on"):
            ended = getattr(self, name)
            if ended is not None and ended < self.enrolled_on:
                no(name, "date_order", f"{name} is before enrolled_on")
        events.refuse(self, found)
        return self

    def enrollment_key(self, partner_candidate_id: str) -> str:
        """What "the same enrollment" means for the provider: its reference, else the person in the program."""
        if self.external_id:
            return f"ext:{self.external_id}"
        return f"person:{partner_candidate_id}:{self.program_id}"


def validate_training(data: Any, phone_region: str = "US") -> TrainingRecordIn:
    """Raises pydantic.ValidationError; `domain.error_code` names each error for the provider."""
    return TrainingRecordIn.model_validate(data, context={"phone_region": phone_region})


def new_enrollment_id() -> str:
    return f"enr_{random_hex()}"


@dataclass(frozen=True)
class TrainingState:
    """What intake holds of an enrollment: what its events have said so far."""

    status: TrainingStatus = TrainingStatus.enrolled
    progress: tuple[tuple[str, str, int | None], ...] = ()
    credentials: tuple[str, ...] = ()
    ended_on: date | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "progress": [list(p) for p in self.progress],
            "credentials": list(self.credentials),
            "ended_on": self.ended_on.isoformat() if self.ended_on else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainingState:
        return cls(
            status=TrainingStatus(data["status"]),
            progress=tuple((p[0], p[1], p[2]) for p in data.get("progress", [])),
            credentials=tuple(data.get("credentials", [])),
            ended_on=date.fromisoformat(data["ended_on"]) if data.get("ended_on") else None,
        )


class TrainingRefused(Exception):
    """The record contradicts what the enrollment already said (an ending changed)."""

    def __init__(self, code: str, message: str, loc: tuple[str, ...]) -> None:
        super().__init__(message)
        self.code = code
        self.loc = loc


@dataclass(frozen=True)
class Enrollment:
    """Who the events are about: the ids every training event carries."""

    enrollment_id: str
    program_id: str
    partner_id: str
    candidate_id: str

    def fields(self) -> dict[str, str]:
        return {"enrollment_id": self.enrollment_id, "program_id": self.program_id, "partner_id": self.partner_id,
                "candidate_id": self.candidate_id}


def training_events(
    previous: TrainingState | None,
    record: TrainingRecordIn,
    enrollment: Enrollment,
    *,
    contact_sealed: events.Sealed | None = None,
    demographics_sealed: events.Sealed | None = None,
) -> tuple[TrainingState, list[events.Payload]]:
    """The enrollment's state after `record`, and the events of what it adds to `previous`
    (None: a new enrollment), in the order they happened: enrolled, progress, credentials,
    then the ending. Pure: the same previous state and record give the same answer, and
    feeding the new state back with the same record gives no events."""
    ids = enrollment.fields()
    out: list[events.Payload] = []
    state = previous or TrainingState()
    if previous is None:
        out.append(
            events.TrainingEnrolledV1(
                **ids,
                enrolled_on=record.enrolled_on,
                consent=events.TrainingConsent(**record.consent.model_dump()),
                contact_sealed=contact_sealed,
                demographics_sealed=demographics_sealed if record.consent.aggregate_reports else None,
            )
        )
    ending = {TrainingStatus.completed: record.completed_on, TrainingStatus.exited: record.exited_on}
    if state.status is not TrainingStatus.enrolled and record.status is not TrainingStatus.enrolled:
        if record.status is not state.status:
            raise TrainingRefused(
                "training-ended",
                f"the enrollment already {state.status.value}; it cannot be {record.status.value} too",
                ("status",),
            )
    progress = state.progress
    if record.progress is not None:
        seen = (record.progress.as_of.isoformat(), record.progress.milestone.value, record.progress.percent_complete)
        if seen not in progress:
            progress = (*progress, seen)
            out.append(events.TrainingProgressedV1(**ids, **record.progress.model_dump()))
    held = list(state.credentials)
    for credential in record.credentials:
        if credential.key() in held:
            continue
        held.append(credential.key())
        out.append(
            events.CredentialEarnedV1(
                **ids,
                credential=events.EarnedCredential(name=credential.name, issuer=credential.issuer, ctdl_id=credential.ctdl_id),
                awarded_on=credential.awarded_on,
            )
        )
    status, ended_on = state.status, state.ended_on
    if status is TrainingStatus.enrolled and record.status is not TrainingStatus.enrolled:
        status, ended_on = record.status, ending[record.status]
        if status is TrainingStatus.completed:
            out.append(events.TrainingCompletedV1(**ids, completed_on=record.completed_on))
        else:
            out.append(
                events.TrainingExitedV1(
                    **ids, exited_on=record.exited_on, reason=record.exit_reason, detail=record.exit_detail
                )
            )
    return TrainingState(status=status, progress=progress, credentials=tuple(held), ended_on=ended_on), out
