"""The one envelope every TalentLoop event travels in.

CloudEvents 1.0 in *structured* mode (the Kafka protocol binding's
`application/cloudevents+json`): the whole event, attributes and `data`, is one JSON
document in the record value. We chose structured mode so that any client that can read
a Kafka value (kcat, confluent-kafka, a partner's own consumer) gets the full event
without knowing our header conventions. The record key is the event's `subject`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from contracts.bounds import TEXT_PATTERN, TRACE_ID_MAX, URI_MAX, Id

CONTENT_TYPE = "application/cloudevents+json"
SCHEMA_BASE = "urn:talentloop:schemas"


Uri = Annotated[str, Field(max_length=URI_MAX, pattern=TEXT_PATTERN)]
TraceId = Annotated[str, Field(max_length=TRACE_ID_MAX, pattern=TEXT_PATTERN)]


class ContractError(ValueError):
    """Bytes that are not a valid TalentLoop event; never worth retrying."""


class Envelope(BaseModel):
    """CloudEvents 1.0 attributes plus TalentLoop's extension attributes."""

    # Unknown extension attributes from newer producers are tolerated, not kept.
    model_config = ConfigDict(frozen=True, extra="ignore")

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID = Field(
        description="Unique per event; consumers de-duplicate on it. TalentLoop writes time-ordered UUIDs"
        " (version 7, RFC 9562; version 4 before 2026-11-30); readers take any UUID and never depend on its version."
    )
    source: Uri = Field(description="URI-reference of the emitting service, e.g. /talentloop/intake.")
    type: str = Field(
        pattern=r"^[a-z_]+(\.[a-z_]+)+\.v[0-9]+$",
        max_length=URI_MAX,
        description="Event type with its major version, e.g. referral.submitted.v1.",
    )
    time: AwareDatetime = Field(description="When the fact happened (UTC).")
    subject: Uri = Field(description="The referral id (opening id for opening events); also the Kafka key.")
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: Uri | None = Field(default=None, description="URI of the payload's JSON Schema.")
    correlationid: TraceId = Field(description="Shared by every event caused by one outside request.")
    causationid: TraceId | None = Field(default=None, description="Id of the event or request that caused this one.")
    partnerid: Id | None = Field(default=None, description="The referring partner, where there is one.")
    employerid: Id | None = Field(default=None, description="The employer concerned, where there is one.")
    # Bounded by the payload's own model (contracts.bounds), checked when it is read (payload_of).
    data: dict[str, Any]

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> Envelope:
        """The envelope in `raw`, or ContractError naming why not, whatever is wrong with the bytes.

        pydantic's JSON parser reads them: strict UTF-8 (no lone surrogates either), a nesting
        limit instead of Python's RecursionError, and numbers too long to convert refused as
        invalid JSON instead of a ValueError from `int()`. Any other failure is still the
        record's fault and becomes a ContractError; only MemoryError is the process's.
        """
        if not raw:
            raise ContractError("empty record value: expected a CloudEvents JSON document")
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise ContractError(_envelope_problem(exc)) from None
        except MemoryError:
            raise
        except Exception as exc:  # whatever the bytes do, they are the record's problem
            raise ContractError(f"record value cannot be read: {describe_exception(exc)}") from None


def _envelope_problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        return f"record value is not JSON: {first['msg'].removeprefix('Invalid JSON: ')}"
    if first["type"] == "model_type" and not first["loc"]:
        return "record value is JSON but not an object"
    return f"invalid envelope: {_summarize(exc)}"


def describe_exception(exc: BaseException, limit: int = 300) -> str:
    """`Type: message`, cut to `limit` characters: a reason must stay readable (and small)
    whatever the exception carries."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def now() -> datetime:
    return datetime.now(UTC)


def _summarize(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def summarize_validation_error(exc: ValidationError) -> str:
    """One line naming each bad field, for dead-letter reasons and problem details."""
    return _summarize(exc)
