"""Event type name -> payload model, and the one way to build, write and read events.

`build` makes an `Envelope` through the model's validation. `encode` is what services emit
with (`plumbing.context`): it writes the same bytes as `build(...).to_bytes()` without
validating again what the payload's model has already validated, and serializes the payload
once, straight to JSON. tests/unit/test_envelope_encoding.py holds the two paths equal, byte
for byte, for every event type.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple, overload

from pydantic import ValidationError
from pydantic_core import from_json, to_json

from contracts import events
from contracts.bounds import ID_MAX, TRACE_ID_MAX, URI_MAX
from contracts.envelope import (
    SCHEMA_BASE,
    ContractError,
    Envelope,
    describe_exception,
    now,
    summarize_validation_error,
)
from contracts.ids import new_event_id
from contracts.upcasting import UPCASTERS

PAYLOADS: dict[str, type[events.Payload]] = {
    cls.event_type: cls
    for cls in (
        events.OpeningPostedV1,
        events.OpeningUpdatedV1,
        events.OpeningClosedV1,
        events.DemandForecastV1,
        events.HiringStandardsPublishedV1,
        events.HiringPublicationChosenV1,
        events.ReferralSubmittedV1,
        events.ReferralSubmittedV2,
        events.ReferralUpdatedV1,
        events.ReferralWithdrawnV1,
        events.CandidateErasedV1,
        events.ReferralRoutedV1,
        events.ReferralUnmatchedV1,
        events.ReferralAcknowledgedV1,
        events.ReferralDeclinedV1,
        events.InterviewScheduledV1,
        events.InterviewCompletedV1,
        events.PlacementReportedV1,
        events.PlacementReportedV2,
        events.PlacementConvertedV1,
        events.InterviewRescheduledV1,
        events.InterviewCancelledV1,
        events.OfferExtendedV1,
        events.OfferExtendedV2,
        events.OfferDeclinedV1,
        events.RetentionCheckedV1,
        events.SeparationReportedV1,
        events.ReferralStaleV1,
        events.ReferralStatusChangedV1,
        events.SkillsGapObservedV1,
        events.SkillsGapObservedV2,
        events.ProgramRegisteredV1,
        events.ProgramUpdatedV1,
        events.TrainingEnrolledV1,
        events.TrainingProgressedV1,
        events.TrainingCompletedV1,
        events.TrainingExitedV1,
        events.CredentialEarnedV1,
        events.ServiceProviderRegisteredV1,
        events.ServiceProviderUpdatedV1,
        events.ServiceRequestedV1,
        events.ServiceAcceptedV1,
        events.ServiceDeclinedV1,
        events.ServiceDeliveredV1,
        events.ServiceCancelledV1,
        events.ServiceStaleV1,
        events.ServiceStatusChangedV1,
        events.ParticipantStatusChangedV1,
    )
}


def latest_type(event_type: str) -> str:
    """The newest supported type of `event_type`'s family (itself if it is the newest)."""
    if event_type not in PAYLOADS:
        raise ContractError(f"unknown event type {event_type!r}")
    while event_type in UPCASTERS:
        event_type = UPCASTERS[event_type][0]
    return event_type


def latest_types() -> list[str]:
    return sorted({latest_type(t) for t in PAYLOADS})


def emitted_by(service: str) -> tuple[type[events.Payload], ...]:
    """The newest version of every event on the topics `service` writes (contracts.topics)."""
    return tuple(PAYLOADS[t] for t in latest_types() if PAYLOADS[t].topic.producer == service)


@cache
def dataschema(model: type[events.Payload]) -> str:
    return f"{SCHEMA_BASE}:{model.family()}:{model.schema_version}"


def build(
    payload: events.Payload,
    *,
    source: str,
    correlation_id: str,
    causation_id: str | None = None,
    partner_id: str | None = None,
    employer_id: str | None = None,
    time: datetime | None = None,
    event_id: uuid.UUID | None = None,
) -> Envelope:
    """The envelope of `payload`, every attribute validated by the Envelope model."""
    return Envelope(
        id=event_id or new_event_id(),
        source=source,
        type=payload.event_type,
        time=time or now(),
        subject=payload.subject(),
        dataschema=dataschema(type(payload)),
        correlationid=correlation_id,
        causationid=causation_id,
        # A model's fields live in its __dict__; getattr of a field the model lacks takes
        # pydantic's slow miss path (about 4 us, 8-9 % of routing's CPU on unmatched decisions).
        partnerid=partner_id if partner_id is not None else payload.__dict__.get("partner_id"),
        employerid=employer_id if employer_id is not None else payload.__dict__.get("employer_id"),
        data=payload.model_dump(mode="json"),
    )


# --- encode: the envelope's bytes without a second validation ---------------------------

# What the Envelope model refuses in its text attributes (contracts.bounds.TEXT_PATTERN), and
# lone surrogates, which its validation refuses too (they are not UTF-8).
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
# Text JSON writes as it is, between quotes: no quote, backslash or control character.
_PLAIN = re.compile('[^"\\\\\x00-\x1f\ud800-\udfff]*')
_TYPE = re.compile(r"[a-z_]+(\.[a-z_]+)+\.v[0-9]+")


def _text(value: object, limit: int) -> str | None:
    """`value` as JSON if the Envelope model takes it as it is for a text attribute of at most
    `limit` characters; None otherwise (even for what it would convert, such as a str subclass)."""
    if type(value) is not str or len(value) > limit:
        return None
    if _PLAIN.fullmatch(value):
        return '"' + value + '"'
    if _NOT_TEXT.search(value):
        return None
    return to_json(value).decode()


_STATIC: dict[tuple[str, type[events.Payload]], tuple[str, str] | None] = {}


def _static(source: str, model: type[events.Payload]) -> tuple[str, str] | None:
    """The envelope's JSON around `id` and `time`, and from `datacontenttype` to
    `correlationid`, for one source and payload type; None if the Envelope model would refuse
    the source or the type."""
    key = (source, model)
    if key not in _STATIC:
        written = _text(source, URI_MAX)
        ok = written is not None and len(model.event_type) <= URI_MAX and _TYPE.fullmatch(model.event_type)
        _STATIC[key] = (
            (
                '","source":' + written + ',"type":' + to_json(model.event_type).decode() + ',"time":',
                ',"datacontenttype":"application/json","dataschema":' + to_json(dataschema(model)).decode()
                + ',"correlationid":',
            )
            if ok
            else None
        )
    return _STATIC[key]


class Encoded(NamedTuple):
    """An event written for the outbox: its id, Kafka key and record value, and what its
    `Envelope` is made of (`envelope()`, only when someone asks: most emitters never do)."""

    id: uuid.UUID
    subject: str
    value: bytes  # == build(...).to_bytes()
    payload: events.Payload
    source: str
    time: datetime
    correlation_id: str
    causation_id: str | None
    partner_id: str | None
    employer_id: str | None
    data_at: int = 0  # where the payload's JSON starts in `value` (0: unknown)

    @property
    def topic(self) -> str:
        return self.payload.topic.name

    def envelope(self) -> Envelope:
        """The Envelope `build` would have made with the same id and time."""
        payload = self.payload
        # What Envelope.model_construct does (its Python loop over the fields cost as much as
        # validating them again): the values are the ones `build` would have validated.
        envelope = _new(Envelope)
        _set(envelope, "__dict__", {
            "specversion": "1.0",
            "id": self.id,
            "source": self.source,
            "type": payload.event_type,
            "time": self.time,
            "subject": self.subject,
            "datacontenttype": "application/json",
            "dataschema": dataschema(type(payload)),
            "correlationid": self.correlation_id,
            "causationid": self.causation_id,
            "partnerid": self.partner_id,
            "employerid": self.employer_id,
            # Parsing the payload's JSON back is faster than dumping the model again, and
            # gives the same values (JSON keeps a float's exact value, and the order of keys).
            "data": from_json(self.value[self.data_at : -1]) if self.data_at else payload.model_dump(mode="json"),
        })
        _set(envelope, "__pydantic_fields_set__", set(_BUILT_FIELDS))
        _set(envelope, "__pydantic_extra__", None)
        _set(envelope, "__pydantic_private__", None)
        return envelope


_new = object.__new__
_set = object.__setattr__
# The fields `build` passes to the Envelope (the others keep their defaults).
_BUILT_FIELDS = frozenset(Envelope.model_fields) - {"specversion", "datacontenttype"}


def encode(
    payload: events.Payload,
    *,
    source: str,
    correlation_id: str,
    causation_id: str | None = None,
    partner_id: str | None = None,
    employer_id: str | None = None,
    time: datetime | None = None,
    event_id: uuid.UUID | None = None,
) -> Encoded:
    """`payload` in a new envelope, written: the same bytes as `build(...).to_bytes()` with
    the same arguments, raising what `build` raises.

    The payload's data was validated when its model was made, and the source and type once
    per process; only the attributes a caller passes (and the subject) are checked here, by
    the rules the Envelope model applies. Anything these checks are unsure of goes through
    `build` itself, so that its validation decides (and words the error).
    """
    model = type(payload)
    fields = payload.__dict__
    subject = payload.subject()
    # A model's fields live in its __dict__; getattr of a field the model lacks takes
    # pydantic's slow miss path.
    if partner_id is None:
        partner_id = fields.get("partner_id")
    if employer_id is None:
        employer_id = fields.get("employer_id")
    if time is None:
        time = now()
    static = _static(source, model)
    written_subject = _text(subject, URI_MAX)
    written_correlation = _text(correlation_id, TRACE_ID_MAX)
    written_causation = None if causation_id is None else _text(causation_id, TRACE_ID_MAX)
    written_partner = None if partner_id is None else _text(partner_id, ID_MAX)
    written_employer = None if employer_id is None else _text(employer_id, ID_MAX)
    if (
        static is None
        or type(time) is not datetime
        or time.utcoffset() is None
        or written_subject is None
        or written_correlation is None
        or (causation_id is not None and written_causation is None)
        or (partner_id is not None and written_partner is None)
        or (employer_id is not None and written_employer is None)
    ):
        envelope = build(payload, source=source, correlation_id=correlation_id, causation_id=causation_id,
                         partner_id=partner_id, employer_id=employer_id, time=time, event_id=event_id)
        return Encoded(envelope.id, envelope.subject, envelope.to_bytes(), payload, envelope.source, envelope.time,
                       envelope.correlationid, envelope.causationid, envelope.partnerid, envelope.employerid)
    if event_id is None:
        event_id = new_event_id()
    around_id, before_correlation = static
    head = [
        '{"specversion":"1.0","id":"', str(event_id), around_id, to_json(time).decode(),
        ',"subject":', written_subject, before_correlation, written_correlation,
    ]
    if written_causation is not None:
        head += ',"causationid":', written_causation
    if written_partner is not None:
        head += ',"partnerid":', written_partner
    if written_employer is not None:
        head += ',"employerid":', written_employer
    head.append(',"data":')
    written_head = "".join(head).encode()
    value = b"".join((written_head, model.__pydantic_serializer__.to_json(payload), b"}"))
    return Encoded(event_id, subject, value, payload, source, time, correlation_id, causation_id, partner_id,
                   employer_id, len(written_head))


class Envelopes(Sequence[Envelope]):
    """The envelopes of encoded events, each made when first looked at."""

    __slots__ = ("_encoded", "_made")

    def __init__(self, encoded: Sequence[Encoded]) -> None:
        self._encoded = encoded
        self._made: dict[int, Envelope] = {}

    def __len__(self) -> int:
        return len(self._encoded)

    @overload
    def __getitem__(self, index: int) -> Envelope: ...

    @overload
    def __getitem__(self, index: slice) -> list[Envelope]: ...

    def __getitem__(self, index: int | slice) -> Envelope | list[Envelope]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = range(len(self._encoded))[index]  # IndexError as a list's, negative indexes too
        made = self._made.get(i)
        if made is None:
            made = self._made[i] = self._encoded[i].envelope()
        return made

    def __iter__(self) -> Iterator[Envelope]:
        for i in range(len(self._encoded)):
            yield self[i]

    def __repr__(self) -> str:
        return f"Envelopes({list(self)!r})"

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


def payload_of(envelope: Envelope) -> events.Payload:
    """The payload as the newest version of its type (upcast step by step).

    Raises ContractError (never worth retrying) for an unknown type or data that does not
    fit its own version's model.
    """
    event_type = envelope.type
    model = PAYLOADS.get(event_type)
    if model is None:
        raise ContractError(f"unknown event type {event_type!r}")
    try:
        payload = model.model_validate(envelope.data)
        while event_type in UPCASTERS:
            event_type, upcast = UPCASTERS[event_type]
            payload = PAYLOADS[event_type].model_validate(upcast(payload.model_dump(mode="json")))
    except ValidationError as exc:
        raise ContractError(f"invalid {event_type} data: {summarize_validation_error(exc)}") from None
    except ContractError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # an upcaster or validator tripping on odd data: still the record's
        raise ContractError(f"cannot read {event_type} data: {describe_exception(exc)}") from None
    return payload
