"""What intake decides about a partner's referral, without I/O.

A referral is the canonical shape every entry path produces (our JSON API directly; a
partner's webhook JSON, CSV rows and Kafka records through its adapter). Validation
normalizes what can be normalized (e-mail, phone to E.164, O*NET-SOC codes, skills to the
vocabulary) and refuses the rest with an error code a partner can act on.

Candidates are pseudonymous. The same person is recognized across referrals and partners
by keyed hashes (HMAC under a network secret) of their normalized e-mail and phone, so
one partner's data is never shown to another, and nothing in an id can be reversed.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from contracts import events, vocabulary

DEFAULT_PHONE_REGION = "US"


# --- normalization (each raises PydanticCustomError with the code partners see) -------


# The usual address (plain ASCII, no quoting, no internationalized or special-use domain)
# is checked by these patterns instead of email_validator, which costs ~40 µs a call; they
# accept only what email_validator accepts and normalize it the same way
# (tests/unit/test_intake_fast_paths.py compares them on generated addresses). Anything
# else takes the full validator, with its explanation.
_PLAIN_EMAIL = re.compile(r"[a-z0-9_%+=-]+(?:\.[a-z0-9_%+=-]+)*@((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})")
_SPECIAL_USE = tuple(SPECIAL_USE_DOMAIN_NAMES)
# The last labels of the special-use names: a domain ending in none of them (nearly every one)
# is none of them, known without comparing it with each name.
_SPECIAL_USE_LAST = frozenset(d.rsplit(".", 1)[-1] for d in _SPECIAL_USE)


def _plain_email(text: str) -> str | None:
    if not text.isascii() or len(text) > 254:
        return None
    low = text.lower()
    m = _PLAIN_EMAIL.fullmatch(low)
    if m is None or low.index("@") > 64:
        return None
    domain = m.group(1)
    if "--" in domain or (
        domain.rsplit(".", 1)[-1] in _SPECIAL_USE_LAST
        and any(domain == d or domain.endswith("." + d) for d in _SPECIAL_USE)
    ):
        return None  # IDNA labels (xn--) and reserved names: the full validator decides
    return low


def normalize_email(text: str) -> str:
    text = text.strip()
    if (plain := _plain_email(text)) is not None:
        return plain
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise PydanticCustomError("invalid_email", "not a valid e-mail address: {why}", {"why": str(exc)}) from None


# A US number written the usual ways ("(312) 555-0100", "312.555.0100", "+1 312 555 0100")
# is read by this pattern instead of phonenumbers.parse (~30 µs a call), with the same
# result (compared in tests/unit/test_intake_fast_paths.py); an area code starting 0 or 1,
# an extension, letters, anything else go through phonenumbers.
_PLAIN_US_PHONE = re.compile(r"(?:\+?1[ .-]?)?(?:\(([2-9]\d{2})\) ?|([2-9]\d{2})[ .-]?)(\d{3})[ .-]?(\d{4})")


def normalize_phone(text: str, region: str = DEFAULT_PHONE_REGION) -> str:
    """E.164 (+15551234567); numbers without a country code are read in `region`."""
    if region == "US" and (m := _PLAIN_US_PHONE.fullmatch(text.strip())):
        return f"+1{m.group(1) or m.group(2)}{m.group(3)}{m.group(4)}"
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        raise PydanticCustomError("invalid_phone", "not a possible phone number (region {region})", {"region": region})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_occupation(code: str) -> str:
    """An O*NET-SOC code the network routes to, in its full form (15-1252 -> 15-1252.00)."""
    code = code.strip()
    full = code if "." in code else f"{code}.00"
    if full not in vocabulary.occupations():
        raise PydanticCustomError(
            "unknown_occupation",
            "not an O*NET-SOC occupation this network routes to (see contracts/vocabulary/occupations.yaml)",
        )
    return full


def consent_time(value: datetime) -> datetime:
    """When consent was given, which must say its time zone (a referral's or an enrollment's)."""
    if value.tzinfo is None:
        raise PydanticCustomError("timezone_required", "consent.given_at needs a time zone")
    return value


# --- the canonical referral ------------------------------------------------------------


def _max_length(model: type[BaseModel], name: str) -> int | None:
    """The contract's bound on a text field, however it is declared (on the field, or in an
    annotated type, optional or not)."""
    prop = model.model_json_schema()["properties"][name]
    return next((o["maxLength"] for o in (prop, *prop.get("anyOf", ())) if "maxLength" in o), None)


# Each skill is published as a SkillRef's text: bounded here as there, so a partner hears
# about a too-long skill when it sends it (422, or its row's error), not when the event
# cannot be built.
SKILL_MAX_LENGTH = _max_length(events.SkillRef, "text") or 200
# `pattern` is documented only (json_schema_extra): _clean_skills drops blank skills in the
# same pass that collapses spaces, so a per-item regex would be extra work on every row.
Skill = Annotated[str, Field(max_length=SKILL_MAX_LENGTH, json_schema_extra={"pattern": r"\S"})]


def absent_not_null(schema: dict[str, Any]) -> None:
    """The document of an optional `X | None` field that is left out to say "none": null and
    the default null go from the document (the code still reads a null as absent). Document
    only: a SkipJsonSchema[None] union instead would change how the value is validated (a
    union's errors name its members, a bound beside it meets None) on the submission path."""
    schema.pop("default", None)
    branches = [b for b in schema.pop("anyOf", ()) if b != {"type": "null"}]
    if len(branches) == 1:
        schema.update(branches[0])
    elif branches:
        schema["anyOf"] = branches


def _contact_field(documented: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """An e-mail or phone field as documented: no null, and not empty (an empty one reads
    as absent, so it cannot be what makes a contact reachable). Document only: the field's
    validator is what checks, once."""

    def extra(schema: dict[str, Any]) -> None:
        absent_not_null(schema)
        schema.update({"minLength": 1, **documented})

    return extra


class Contact(BaseModel):
    """Personal data: stored and published only sealed with the candidate's key."""

    # The document says what `_reachable` checks: an e-mail or a phone (left out to say
    # "none": the document has no null).
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"anyOf": [{"required": ["email"]}, {"required": ["phone"]}]}
    )
    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    email: str | None = Field(
        default=None,
        max_length=320,
        description="An e-mail address (not at a special-use domain such as .test or .local); normalized to lower case.",
        json_schema_extra=_contact_field({"format": "email"}),
    )
    phone: str | None = Field(
        default=None,
        max_length=32,
        description="A possible phone number, in E.164 or in the national form of the partner's region;"
        " normalized to E.164, e.g. +13125550100.",
        json_schema_extra=_contact_field({}),
    )

    @field_validator("given_name", "family_name")
    @classmethod
    def _collapse_spaces(cls, value: str) -> str:
        return " ".join(value.split())

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return normalize_email(value) if value else None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None, info: ValidationInfo) -> str | None:
        region = (info.context or {}).get("phone_region", DEFAULT_PHONE_REGION)
        return normalize_phone(value, region) if value else None

    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        if not self.email and not self.phone:
            raise PydanticCustomError("contact_required", "an e-mail address or a phone number is required")
        return self


class RaceEthnicity(StrEnum):
    """OMB SPD 15 (2024) minimum categories, self-identified; several may apply."""

    american_indian_or_alaska_native = "american_indian_or_alaska_native"
    asian = "asian"
    black_or_african_american = "black_or_african_american"
    hispanic_or_latino = "hispanic_or_latino"
    middle_eastern_or_north_african = "middle_eastern_or_north_african"
    native_hawaiian_or_pacific_islander = "native_hawaiian_or_pacific_islander"
    white = "white"


class Gender(StrEnum):
    female = "female"
    male = "male"
    nonbinary = "nonbinary"
    self_described = "self_described"


class Demographics(BaseModel):
    """Self-identified, optional; sealed at rest, never sent to employers, used only in
    suppressed aggregate reports when the candidate consented to them."""

    model_config = ConfigDict(extra="forbid")
    race_ethnicity: list[RaceEthnicity] = Field(default_factory=list, max_length=7)
    gender: Gender | None = None
    veteran_status: bool | None = None


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # `const` documents what `_must_share` checks; the validator stays for its named problem.
    share_with_employers: bool = Field(
        description="Required to be true: routing shows the referral to employers.", json_schema_extra={"const": True}
    )
    aggregate_reports: bool = Field(
        default=False, description="The candidate agreed to be counted in aggregate reports (default: not asked, so no)."
    )
    share_contact: bool = Field(
        default=False,
        description="The candidate agreed that employers the referral is routed to may see their contact details"
        " (default: no; employers then reach the candidate through the partner).",
    )
    notify_candidate: bool = Field(
        default=False,
        description="The candidate agreed that the network may e-mail them about this referral: when referred, when"
        " an interview is scheduled, when an offer is made (default: no). Not consent to employers.",
    )
    given_at: datetime = Field(description="When consent was given, with a time zone.")

    @field_validator("share_with_employers")
    @classmethod
    def _must_share(cls, value: bool) -> bool:
        if not value:
            raise PydanticCustomError(
                "consent_required", "the candidate has not consented to share the referral with employers"
            )
        return value

    @field_validator("given_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        # Whether it lies in the future depends on the clock: `refused` checks that.
        return consent_time(value)


def _clean_skills(value: list[str]) -> list[str]:
    cleaned = list(dict.fromkeys(" ".join(s.split()) for s in value if s.strip()))
    if not cleaned:
        raise PydanticCustomError("skills_required", "at least one non-blank skill is required")
    return cleaned


class Profile(BaseModel):
    """What a partner may change after submitting (PATCH /v1/referrals/{id}); absent means unchanged."""

    # minProperties documents `_something` (an empty update is refused).
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})
    candidate: Contact | None = None
    skills: list[Skill] | None = Field(default=None, min_length=1, max_length=100)
    credentials: list[events.Credential] | None = None
    training: events.Training | None = None
    demographics: Demographics | None = None
    highest_degree: events.DegreeLevel | None = None
    location: str | None = Field(default=None, max_length=200)

    @field_validator("skills")
    @classmethod
    def _skills(cls, value: list[str] | None) -> list[str] | None:
        return _clean_skills(value) if value is not None else None

    @model_validator(mode="after")
    def _something(self) -> Profile:
        if not self.model_fields_set:
            raise PydanticCustomError(
                "empty_update", "name at least one of candidate, skills, credentials, training, highest_degree, location"
            )
        return self


class ReferralIn(BaseModel):
    """A referral in TalentLoop's own shape (`POST /v1/referrals`); adapters produce the same."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "external_id": "crm-000123",
                    "candidate": {"given_name": "Ana", "family_name": "Diaz", "email": "ana@example.org"},
                    "skills": ["Python", "SQL", "Git"],
                    "training": {"program": "Full-stack web development", "provider": "Forge Coding Bootcamp"},
                    "credentials": [{"name": "AWS Certified Cloud Practitioner", "status": "completed"}],
                    "target_onet_soc_code": "15-1252.00",
                    "consent": {"share_with_employers": True, "given_at": "2026-11-01T15:00:00Z"},
                }
            ]
        },
    )
    external_id: str | None = Field(
        default=None, min_length=1, max_length=100, description="The partner's own reference; unique per partner."
    )
    candidate: Contact
    demographics: Demographics | None = None
    skills: list[Skill] = Field(min_length=1, max_length=100)
    credentials: list[events.Credential] = Field(default_factory=list, max_length=20)
    training: events.Training | None = None
    target_onet_soc_code: str | None = Field(
        default=None,
        description=(
            "O*NET-SOC code, e.g. 15-1252.00 (15-1252 means the same), of an occupation this network routes to"
            " (contracts/vocabulary/occupations.yaml); any other is refused with unknown_occupation."
        ),
    )
    target_opening_id: str | None = Field(default=None, max_length=100)
    highest_degree: events.DegreeLevel | None = Field(default=None, description="Highest degree completed, if any.")
    location: str | None = Field(default=None, max_length=200, description="Where the candidate can work (city, region).")
    preferred_language: events.LanguageTag | None = Field(
        default=None, description="The language the candidate prefers to be written to in (BCP 47: es, en-US)."
    )
    consent: ConsentIn

    @field_validator("skills")
    @classmethod
    def _skills(cls, value: list[str]) -> list[str]:
        return _clean_skills(value)

    @field_validator("target_onet_soc_code")
    @classmethod
    def _occupation(cls, value: str | None) -> str | None:
        return normalize_occupation(value) if value else None

    def target_key(self) -> str:
        """What "the same target" means for duplicate detection."""
        if self.target_opening_id:
            return f"opening:{self.target_opening_id}"
        if self.target_onet_soc_code:
            return f"occupation:{self.target_onet_soc_code}"
        return "any"


def validate_referral(data: Any, phone_region: str = DEFAULT_PHONE_REGION) -> ReferralIn:
    """Raises pydantic.ValidationError; `error_code` turns each error into a partner-facing code."""
    return ReferralIn.model_validate(data, context={"phone_region": phone_region})


# --- what can be published and stored ------------------------------------------------------
#
# `ReferralIn` repeats the bounds partners should see in the OpenAPI document; the event's
# contract is what decides. Checking each published field against the contract's own
# field (the same model the outbox will build) means a bound added to the contract is
# enforced at every entry path at once, and anything intake accepts can be published.

_PUBLISHED = (
    "skills",
    "credentials",
    "training",
    "target_onet_soc_code",
    "target_opening_id",
    "highest_degree",
    "location",
)


@functools.cache
def _published() -> type[BaseModel]:
    """The event's own fields (annotations and bounds) that come from the referral."""
    fields = events.ReferralSubmittedV2.model_fields
    return create_model(
        "PublishedReferral",
        __config__=ConfigDict(extra="ignore"),
        **{name: (fields[name].annotation, fields[name]) for name in _PUBLISHED},  # type: ignore[call-overload]
    )


def refused(referral: ReferralIn | Profile, now: datetime, *, storable: bool = False) -> list[dict[str, Any]]:
    """Why a valid referral (or profile change) cannot be accepted at `now`: consent given in
    the future, or `unpublishable`; pydantic-shaped errors, empty when it can."""
    found: list[dict[str, Any]] = []
    consent = getattr(referral, "consent", None)
    if consent is not None and consent.given_at > now:
        found.append({"loc": ("consent", "given_at"), "msg": "consent cannot be given in the future", "type": "future_date"})
    return found + unpublishable(referral, storable=storable)


def unpublishable(referral: ReferralIn | Profile, *, storable: bool = False) -> list[dict[str, Any]]:
    """Why the referral (or a profile change) cannot be published or stored: pydantic-shaped
    errors (`loc`, `msg`, `type`) located in the referral, empty when it can.

    `storable`: the caller knows every text the referral was made from is `storable_text`
    (a CSV row's cells, `csv_import._translate`), so its characters are not looked at again:
    validation and the mapping make no character that cannot be stored from ones that can.

    `referral` as its validation made it (`validate_referral`, or the API's validation of
    the body): its credentials and training are instances of the contract's own models
    (`events.Credential`, `events.Training`), made by that validation, so their fields
    were checked by the contract then and only their number is checked here (validating
    them again could refuse nothing: tests/unit/test_intake_contract_check.py). An
    instance of those models is taken as it is, as the event's own constructor takes it;
    values of any other kind are checked field by field."""
    found: list[dict[str, Any]] = []
    values: dict[str, Any] = {}
    checked: list[tuple[str, Any] | None] = []
    fields = referral.__dict__  # a model's fields; getattr of one a Profile lacks is pydantic's slow miss
    for name in _PUBLISHED:
        value = fields.get(name)
        if value is None:  # not in this kind of change, or left as it is
            continue
        key = _published_key(name, value)
        if key is not None and key in _PUBLISHABLE:
            continue
        checked.append(key)
        if name == "skills":
            value = [{"id": None, "text": text} for text in value]
        elif key is not None and key[0] in _VALIDATED:
            pass  # the contract's instances: pydantic takes them as they are and counts them
        elif name in ("credentials", "training"):
            # Dumped, so the contract's bounds are checked (instances would be trusted).
            value = [c.model_dump() for c in value] if isinstance(value, list) else value.model_dump()
        values[name] = value
    bad = [] if storable or _storable(referral) else list(_bad_characters(referral.model_dump(), ()))
    found.extend({"loc": loc, "msg": BAD_CHARACTER, "type": "invalid_character"} for loc in bad)
    if not values:  # every value was one the contract accepted before
        return found
    if "skills" not in values:
        values["skills"] = [{"id": None, "text": "-"}]  # required by the event, unchanged by this change
    try:
        _published().model_validate(values)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            loc = err["loc"]
            if loc[0] == "skills" and loc[-1] == "text":
                loc = loc[:-1]  # the skill itself: the partner sent text, not a SkillRef
            if loc not in bad:  # the contract's text pattern says the same, less plainly
                found.append({"loc": loc, "msg": err["msg"], "type": err["type"]})
        return found
    if len(_PUBLISHABLE) > _PUBLISHABLE_MAX:
        _PUBLISHABLE.clear()
    _PUBLISHABLE.update(k for k in checked if k is not None)
    return found


# Field values the contract accepted, so a file whose people share skill sets, trainings and
# target codes validates each of them once (the published fields are validated one by one:
# `_published` has no validator across fields). Bounded: cleared when full.
_PUBLISHABLE: set[tuple[str, Any]] = set()
_PUBLISHABLE_MAX = 20_000  # a few MB at most


def _published_key(name: str, value: Any) -> tuple[str, Any] | None:
    """A hashable stand-in for the value (equal values validate alike), or None."""
    try:
        if name == "skills":
            key: Any = tuple(value)
        elif name == "credentials":
            if type(value) is list and all(type(c) is events.Credential for c in value):
                return (_CREDENTIALS_VALIDATED, len(value))  # the contract checks only how many
            key = tuple((type(c), tuple(c.__dict__.items())) for c in value)
        elif name == "training":
            if type(value) is events.Training:
                return (_TRAINING_VALIDATED, None)  # nothing left for the contract to check
            key = (type(value), tuple(value.__dict__.items()))
        else:
            key = value
        hash(key)
    except (TypeError, AttributeError):
        return None
    return (name, key)


# Keys of credentials and training that are the contract's own model instances (see
# `unpublishable`): validated as they are, by their number.
_CREDENTIALS_VALIDATED = "credentials:instances"
_TRAINING_VALIDATED = "training:instance"
_VALIDATED = (_CREDENTIALS_VALIDATED, _TRAINING_VALIDATED)


BAD_CHARACTER = "contains a character that cannot be stored (a control character, or an unpaired surrogate)"
# C0 controls other than tab, line feed and carriage return: PostgreSQL cannot store NUL,
# and the contracts refuse the rest in text (contracts/bounds.py); a lone surrogate (JSON's
# "\ud800" decodes to one) cannot be encoded as UTF-8. Each would fail the transaction, or
# the event, after validation said yes.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def storable_text(text: str) -> bool:
    """No character in the text that `unpublishable` refuses."""
    return CONTROL_CHARACTER.search(text) is None and not _unencodable(text)


def _storable(referral: BaseModel) -> bool:
    """The fast answer for the usual case: serialized in one go, no escaped control character."""
    try:
        # `model_dump_json`'s bytes, without its per-call arguments and decoding.
        text = type(referral).__pydantic_serializer__.to_json(referral)
    except ValueError:  # pydantic-core cannot serialize a lone surrogate
        return False
    # JSON writes a control character as \u00XX, or \b and \f (a backslash the partner
    # typed is written \\ and only costs the slow look).
    return not (b"\\u00" in text or b"\\b" in text or b"\\f" in text)


def _bad_characters(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[str | int, ...]]:
    if isinstance(value, str):
        if CONTROL_CHARACTER.search(value) or _unencodable(value):
            yield loc
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _bad_characters(item, (*loc, key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _bad_characters(item, (*loc, i))


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# pydantic's built-in error types, as the codes in problem details and CSV error reports
_CODES = {
    "missing": "missing-value",
    "string_too_short": "missing-value",
    "too_short": "missing-value",
    "string_too_long": "too-long",
    "too_long": "too-many",
    "extra_forbidden": "unknown-field",
    "enum": "invalid-value",
    "literal_error": "invalid-value",
    "string_pattern_mismatch": "invalid-value",
    "bool_parsing": "invalid-boolean",
    "bool_type": "invalid-boolean",
    "date_parsing": "bad-date",
    "date_from_datetime_parsing": "bad-date",
    "date_from_datetime_inexact": "bad-date",
    "datetime_parsing": "bad-date",
    "datetime_from_date_parsing": "bad-date",
    "invalid_character": "invalid-character",
    "string_unicode": "invalid-character",
}


def error_code(error_type: str) -> str:
    return _CODES.get(error_type, error_type.replace("_", "-"))


# --- identities and ids ----------------------------------------------------------------


def identity_hashes(contact: Contact, secret: bytes) -> list[str]:
    """Keyed hashes of the normalized e-mail and phone: what links one person's referrals."""
    found = []
    if contact.email:
        found.append("email:" + hmac.new(secret, contact.email.encode(), hashlib.sha256).hexdigest())
    if contact.phone:
        found.append("phone:" + hmac.new(secret, contact.phone.encode(), hashlib.sha256).hexdigest())
    return found



def partner_candidates(
    submissions: list[tuple[str, list[str]]], held: list[tuple[str, str, list[str]]]
) -> list[str]:
    """Each submission's (partner, identity hashes) id of the person as its partner knows them.

    A partner is told its own id of a person, linked only by what it supplied itself, never
    the network's candidate id (which would tell it what other partners supplied: docs/intake.md).
    `held` is the partner's earlier referrals of the person, oldest first, as (partner, its id
    of the person, the referral's hashes): a submission sharing a hash with one takes its id,
    else a new one; a later submission sees an earlier one of the same batch."""
    by_hash: dict[tuple[str, str], str] = {}
    for partner, known_as, hashes in held:
        for h in hashes:
            by_hash.setdefault((partner, h), known_as)
    chosen = []
    for partner, hashes in submissions:
        known_as = next((by_hash[(partner, h)] for h in hashes if (partner, h) in by_hash), None) or new_candidate_id()
        for h in hashes:
            by_hash.setdefault((partner, h), known_as)
        chosen.append(known_as)
    return chosen

_RANDOM_IDS: list[str] = []
_VERSION_4 = (0xF000 << 64, 0x4000 << 64)  # the version nibble, and 4
_VARIANT = (0xC000 << 48, 0x8000 << 48)  # the variant bits, and RFC 4122's


def random_hex() -> str:
    """A random uuid4 as 32 hex digits, as `uuid.uuid4().hex`: an import needs one per row, and
    one os.urandom call for 256 of them costs a fraction of 256 calls (and of 256 UUIDs)."""
    if not _RANDOM_IDS:
        raw = os.urandom(16 * 256)
        for i in range(0, len(raw), 16):
            n = int.from_bytes(raw[i : i + 16])
            n = (n & ~_VERSION_4[0]) | _VERSION_4[1]
            _RANDOM_IDS.append(f"{(n & ~_VARIANT[0]) | _VARIANT[1]:032x}")
    return _RANDOM_IDS.pop()


def new_candidate_id() -> str:
    # Random, not derived from the identity: after an erasure nothing can re-create it.
    return f"cand_{random_hex()}"


def new_referral_id() -> str:
    return f"ref_{random_hex()}"


def skill_refs(texts: list[str]) -> list[events.SkillRef]:
    """Each skill as the vocabulary's id (null when unknown) with the partner's own text kept."""
    vocab = vocabulary.skills()
    return [_skill_ref(t, vocab) for t in texts]


@functools.lru_cache(maxsize=16_384)
def _skill_ref(text: str, vocab: vocabulary.SkillsVocabulary) -> events.SkillRef:
    # A file's people share a few hundred skill texts: each is normalized, looked up and
    # validated once (the refs are never changed, so events may share them).
    return events.SkillRef(id=(found.id if (found := vocab.lookup(text)) else None), text=text)


def unknown_skills(refs: list[events.SkillRef]) -> list[str]:
    return [r.text for r in refs if r.id is None]


# --- events ----------------------------------------------------------------------------


def submitted(
    referral: ReferralIn,
    referral_id: str,
    partner_id: str,
    candidate_id: str,
    contact_sealed: events.Sealed,
    demographics_sealed: events.Sealed | None = None,
) -> events.ReferralSubmittedV2:
    """The event: demographics only with the candidate's consent to aggregate reports."""
    return events.ReferralSubmittedV2(
        referral_id=referral_id,
        partner_id=partner_id,
        candidate_id=candidate_id,
        skills=skill_refs(referral.skills),
        skills_vocabulary=vocabulary.skills().version,
        credentials=referral.credentials,
        training=referral.training,
        target_onet_soc_code=referral.target_onet_soc_code,
        target_opening_id=referral.target_opening_id,
        consent=events.ConsentScope(
            share_with_employers=referral.consent.share_with_employers,
            aggregate_reports=referral.consent.aggregate_reports,
            given_at=referral.consent.given_at,
            share_contact=referral.consent.share_contact,
            notify_candidate=referral.consent.notify_candidate,
        ),
        contact_sealed=contact_sealed,
        highest_degree=referral.highest_degree,
        location=referral.location,
        demographics_sealed=demographics_sealed if referral.consent.aggregate_reports else None,
        preferred_language=referral.preferred_language,
    )


def apply_update(current: ReferralIn, change: Profile) -> tuple[ReferralIn, list[str]]:
    """The referral after the update, and which parts actually changed."""
    fields = {name: getattr(change, name) for name in change.model_fields_set}
    updated = current.model_copy(update=fields)
    # Demographics never leave intake, so not even the fact that they changed is published.
    changed = [
        "contact" if name == "candidate" else name
        for name in sorted(fields)
        if getattr(current, name) != fields[name] and name != "demographics"
    ]
    return updated, changed


def updated_event(
    referral: ReferralIn, referral_id: str, partner_id: str, candidate_id: str, changed: list[str], contact_sealed: events.Sealed
) -> events.ReferralUpdatedV1:
    """The whole profile as it now is (the same fields `submitted` publishes), and what changed."""
    now = submitted(referral, referral_id, partner_id, candidate_id, contact_sealed)
    profile = {name: getattr(now, name) for name in events.ReferralUpdatedV1.model_fields if name != "changed"}
    return events.ReferralUpdatedV1(**profile, changed=changed)
