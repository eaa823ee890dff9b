"""Partner adapters: a declarative mapping from a partner's own records to our referral.

Each partner gets a YAML file in the adapters folder (`TALENTLOOP_ADAPTERS`, default
`deploy/adapters/`), validated when it is loaded, so a wrong mapping fails at start with
the file and the field named, never row by row in production. Adding a partner is a data
change: no code. See docs/intake.md ("Adapters") for the format; the pieces are:

- `format`: `json` (webhook bodies and records on the partner's Kafka topic) or `csv`.
- `fields`: target (a path in the referral: `candidate.email`, `credentials[0].status`)
  -> rule: `from` a source path (JSON: dotted, `[]` walks a list; CSV: the column name),
  or `const`; then optionally `default`, `transform`, `split`, `map`, `date_format`.
- A list of objects (credentials from a JSON array) uses `each` (the source list) and
  `fields` (rules relative to each element).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contracts import events
from contracts.topics import partner_inbound
from services.intake import domain, training

# --- what can be mapped, and to which kind of value ------------------------------------

TEXT, DATE, DATETIME, BOOL, LIST = "text", "date", "datetime", "bool", "list"
Kind = str | tuple[str, ...]  # a tuple is an enumeration of allowed values

CREDENTIAL_FIELDS: dict[str, Kind] = {
    "name": TEXT,
    "issuer": TEXT,
    "ctdl_id": TEXT,
    "status": ("completed", "in_progress"),
    "awarded_on": DATE,
}
TARGETS: dict[str, Kind] = {
    "external_id": TEXT,
    "candidate.given_name": TEXT,
    "candidate.family_name": TEXT,
    "candidate.email": TEXT,
    "candidate.phone": TEXT,
    "skills": LIST,
    "training.program": TEXT,
    "training.provider": TEXT,
    "training.completed_on": DATE,
    "target_onet_soc_code": TEXT,
    "target_opening_id": TEXT,
    "highest_degree": tuple(events.DegreeLevel),
    "location": TEXT,
    "preferred_language": TEXT,
    "consent.share_with_employers": BOOL,
    "consent.aggregate_reports": BOOL,
    "consent.share_contact": BOOL,
    "consent.notify_candidate": BOOL,
    "consent.given_at": DATETIME,
    "demographics.race_ethnicity": tuple(domain.RaceEthnicity),
    "demographics.gender": tuple(domain.Gender),
    "demographics.veteran_status": BOOL,
}
LIST_TARGETS = {"skills", "demographics.race_ethnicity"}
REQUIRED = ("candidate.given_name", "candidate.family_name", "skills", "consent.share_with_employers", "consent.given_at")

# A training provider's enrollment records (`record: training`): what a row states of one
# participant in one program (services/intake/training.py, TrainingRecordIn).
TRAINING_CREDENTIAL_FIELDS: dict[str, Kind] = {"name": TEXT, "issuer": TEXT, "ctdl_id": TEXT, "awarded_on": DATE}
TRAINING_TARGETS: dict[str, Kind] = {
    "external_id": TEXT,
    "program_id": TEXT,
    "candidate.given_name": TEXT,
    "candidate.family_name": TEXT,
    "candidate.email": TEXT,
    "candidate.phone": TEXT,
    "status": ("enrolled", "completed", "exited"),
    "enrolled_on": DATE,
    "completed_on": DATE,
    "exited_on": DATE,
    "exit_reason": tuple(events.TrainingExitReason),
    "exit_detail": TEXT,
    "progress.as_of": DATE,
    "progress.milestone": tuple(events.TrainingMilestone),
    "progress.percent_complete": TEXT,
    "consent.aggregate_reports": BOOL,
    "consent.share_outcomes_with_provider": BOOL,
    "consent.given_at": DATETIME,
    "demographics.race_ethnicity": tuple(domain.RaceEthnicity),
    "demographics.gender": tuple(domain.Gender),
    "demographics.veteran_status": BOOL,
}
TRAINING_REQUIRED = ("program_id", "candidate.given_name", "candidate.family_name", "enrolled_on", "consent.given_at")
Record = Literal["referral", "training"]
_INDEXED_CREDENTIAL = re.compile(r"^credentials\[(\d)\]\.(\w+)$")
_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}
Transform = Literal["strip", "lower", "upper", "title", "collapse_spaces"]


def kind_of(target: str, record: Record = "referral") -> Kind | None:
    targets, credential = (TARGETS, CREDENTIAL_FIELDS) if record == "referral" else (TRAINING_TARGETS, TRAINING_CREDENTIAL_FIELDS)
    if target in targets:
        return targets[target]
    if m := _INDEXED_CREDENTIAL.match(target):
        return credential.get(m.group(2))
    return None


# --- errors ------------------------------------------------------------------------------


class FieldError(BaseModel):
    """One thing wrong with one record: where in the partner's record, a code, and why.

    Messages never repeat the partner's value except for coded (mapped) fields, so error
    reports and dead letters do not copy personal data around.
    """

    model_config = ConfigDict(frozen=True)
    field: str = Field(description="The partner's field (CSV column or JSON path); empty for the whole record.")
    code: str
    message: str
    target: str | None = Field(default=None, exclude=True)  # the referral field, to relate causes


class Unmappable(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- the mapping file ----------------------------------------------------------------------


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    source: str | list[str] | None = Field(default=None, alias="from", description="Path(s); the first non-blank wins.")
    const: Any = None
    default: Any = None
    transform: list[Transform] = Field(default_factory=list)
    split: str | None = Field(default=None, description="Separator that turns one text into a list.")
    map: dict[str, Any] | None = Field(default=None, description="Partner value -> our value (case-insensitive).")
    unmapped: Literal["error", "keep", "drop"] = "error"
    date_format: str | None = Field(default=None, description="strptime format of the partner's dates.")
    each: str | None = Field(default=None, description="For `credentials`: the source list of objects.")
    fields: dict[str, Rule] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Rule:
        given = [n for n in ("source", "const", "each") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `from`, `const` or `each`")
        if (self.each is None) != (self.fields is None):
            raise ValueError("`each` and `fields` go together")
        if self.date_format:
            sample = datetime(2026, 1, 31, 13, 45, 7)
            try:
                datetime.strptime(sample.strftime(self.date_format), self.date_format)
            except ValueError:
                raise ValueError(f"date_format {self.date_format!r} cannot read its own output") from None
        return self

    def model_post_init(self, _context: Any) -> None:
        # Looked up for every row: build the case-insensitive table once.
        self._lookup = {str(k).strip().casefold(): v for k, v in (self.map or {}).items()}

    def sources(self) -> list[str]:
        if self.source is None:
            return [self.each] if self.each else []
        return [self.source] if isinstance(self.source, str) else list(self.source)


class Adapter(BaseModel):
    """One partner's mapping for one kind of input."""

    model_config = ConfigDict(extra="forbid")
    partner_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    description: str = ""
    format: Literal["json", "csv"]
    record: Record = Field(
        default="referral", description="What a record is: a referral, or a training provider's enrollment."
    )
    kafka: bool = Field(
        default=False,
        description="json only: also read talentloop.inbound.<partner_id> (talentloop.inbound.<partner_id>.training"
        " for training records).",
    )
    phone_region: str = Field(default=domain.DEFAULT_PHONE_REGION, pattern=r"^[A-Z]{2}$")
    timezone: str = Field(default="UTC", description="For dates without a time zone (IANA name).")
    csv_delimiter: str = Field(default=",", min_length=1, max_length=1)
    fields: dict[str, Rule]

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _targets(self) -> Adapter:
        targets, credential = self.target_table()
        for target, rule in self.fields.items():
            if target == "credentials":
                if rule.each is None:
                    raise ValueError("`credentials` needs `each` and `fields` (or map credentials[N].name etc.)")
                for sub, subrule in (rule.fields or {}).items():
                    if sub not in credential:
                        raise ValueError(f"credentials.{sub}: not a credential field ({', '.join(credential)})")
                    _check_values(f"credentials.{sub}", credential[sub], subrule)
                continue
            kind = kind_of(target, self.record)
            if kind is None:
                raise ValueError(f"{target}: not a {self.record} field; mappable: {', '.join(targets)}, credentials")
            if rule.each is not None:
                raise ValueError(f"{target}: `each` is only for credentials")
            _check_values(target, kind, rule)
            if self.format == "csv" and any("[]" in s for s in rule.sources()):
                raise ValueError(f"{target}: CSV columns are plain names; `[]` is for JSON")
        missing = [t for t in (REQUIRED if self.record == "referral" else TRAINING_REQUIRED) if t not in self.fields]
        if not {"candidate.email", "candidate.phone"} & set(self.fields):
            missing.append("candidate.email or candidate.phone")
        if missing:
            what = "referral" if self.record == "referral" else "training record"
            raise ValueError(f"every {what} needs {', '.join(missing)}; map them (or give a const)")
        if self.kafka and self.format != "json":
            raise ValueError("kafka: true needs format: json (records on the topic are JSON)")
        return self

    def model_post_init(self, _context: Any) -> None:
        # What every record needs from the mapping, worked out once per adapter rather than
        # once per record and field (kinds, sources, transforms, the zone).
        self._zone = ZoneInfo(self.timezone)
        # Every target in the mapping's order, with its step (None for `credentials`, mapped
        # element by element).
        self._plan = [
            (target, rule, None if target == "credentials"
             else _Step(target, rule, kind_of(target, self.record), self.format == "csv", self._zone))  # type: ignore[arg-type]
            for target, rule in self.fields.items()
        ]
        self._literals_storable = all(
            _storable_literal(v) for r in self.fields.values() for v in _literals(r)
        )

    @property
    def literals_storable(self) -> bool:
        """Every value the mapping itself gives (`const`, `default`, `map`) is
        `domain.storable_text` (or not text): a referral mapped from storable records is."""
        return self._literals_storable

    def target_table(self) -> tuple[dict[str, Kind], dict[str, Kind]]:
        """The fields a record of this adapter's kind has, and those of one of its credentials."""
        if self.record == "training":
            return TRAINING_TARGETS, TRAINING_CREDENTIAL_FIELDS
        return TARGETS, CREDENTIAL_FIELDS

    @property
    def topic(self) -> str:
        """The partner's inbound topic for this kind of record (`kafka: true`)."""
        return partner_inbound(self.partner_id, self.record)

    def columns(self) -> set[str]:
        """Source columns a CSV must have (those without a const or default)."""
        return {s for r in self.fields.values() if r.default is None for s in r.sources()}

    def source_of(self, target: str) -> str:
        """The partner's field a target comes from, for error messages."""
        if target in self.fields:
            return " | ".join(self.fields[target].sources()) or target
        if target == "candidate":  # "an e-mail or a phone": both fields
            return " | ".join(self.source_of(t) for t in ("candidate.email", "candidate.phone") if t in self.fields)
        if m := re.match(r"^credentials\[(\d+)\]\.(\w+)$", target):
            rule = self.fields.get("credentials")
            if rule and rule.fields and m.group(2) in rule.fields:
                inner = " | ".join(rule.fields[m.group(2)].sources())
                return f"{rule.each}[{m.group(1)}].{inner}"
        return target


def _literals(rule: Rule) -> Iterator[Any]:
    """The values a rule gives of its own (not the record's), its credentials' rules' too."""
    for value in (rule.const, rule.default, *(rule.map or {}).values()):
        yield from value if isinstance(value, list) else [value]
    for inner in (rule.fields or {}).values():
        yield from _literals(inner)


def _storable_literal(value: Any) -> bool:
    if isinstance(value, str):
        return domain.storable_text(value)
    return value is None or isinstance(value, bool | int | float)


def _check_values(target: str, kind: Kind, rule: Rule) -> None:
    """const, default and map values must be values of the target's kind."""
    values = [v for v in (rule.const, rule.default) if v is not None]
    if rule.map:
        values += [v for v in rule.map.values() if v is not None]
    for value in values:
        items = value if isinstance(value, list) and (target in LIST_TARGETS) else [value]
        for item in items:
            if isinstance(kind, tuple) and item not in kind:
                raise ValueError(f"{target}: {item!r} is not one of {', '.join(kind)}")
            if kind == BOOL and not isinstance(item, bool):
                raise ValueError(f"{target}: {item!r} must be true or false")
    if rule.date_format and kind not in (DATE, DATETIME):
        raise ValueError(f"{target}: date_format on a field that is not a date")


def load(path: Path) -> Adapter:
    try:
        doc = yaml.safe_load(path.read_text())
        return Adapter.model_validate(doc)
    except (yaml.YAMLError, ValidationError) as exc:
        raise ValueError(f"{path}: invalid adapter:\n{exc}") from None


def load_all(folder: Path) -> dict[tuple[str, str, str], Adapter]:
    """Every `*.yaml` in the folder, keyed by (partner id, format, record); two for one key is an error."""
    adapters: dict[tuple[str, str, str], Adapter] = {}
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        adapter = load(path)
        key = (adapter.partner_id, adapter.format, adapter.record)
        if key in adapters:
            raise ValueError(f"{path}: a second {adapter.format} {adapter.record} adapter for {adapter.partner_id}")
        adapters[key] = adapter
    return adapters


# --- applying a mapping (pure) -----------------------------------------------------------


def _walk(record: Any, path: str, csv: bool) -> Any:
    if csv:
        return record.get(path)
    values = [record]
    many = False
    for part in path.split("."):
        step = part[:-2] if part.endswith("[]") else part
        nxt = []
        for v in values:
            got = v.get(step) if isinstance(v, dict) else None
            if part.endswith("[]"):
                many = True
                nxt.extend(got if isinstance(got, list) else [])
            elif got is not None:
                nxt.append(got)
        values = nxt
    if many:
        return values
    return values[0] if values else None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _transform(value: Any, steps: list[Callable[[str], str]]) -> Any:
    if not isinstance(value, str):
        return value
    for step in steps:
        value = step(value)
    return value


def _map_one(value: Any, rule: Rule) -> Any:
    if rule.map is None:
        return value
    lookup = rule._lookup
    key = str(value).strip().casefold()
    if key in lookup:
        return lookup[key]
    if rule.unmapped == "keep":
        return value
    if rule.unmapped == "drop":
        return None
    known = ", ".join(str(k) for k in rule.map)
    raise Unmappable("unmapped-value", f"{str(value)[:40]!r} is not one of the mapped values ({known})")


@functools.lru_cache(maxsize=4096)
def _parsed_date(text: str, date_format: str, kind: Kind, zone: ZoneInfo) -> str:
    # strptime is the costliest step of a row, and a file's dates repeat (completions and
    # consents fall on a few hundred days): each distinct one is parsed once. Errors raise,
    # so they are not cached.
    parsed = datetime.strptime(text, date_format)
    if kind == DATE:
        return parsed.date().isoformat()
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).astimezone(UTC).isoformat()


def _as_kind(value: Any, kind: Kind, rule: Rule, zone: ZoneInfo) -> Any:
    if kind in (DATE, DATETIME) and isinstance(value, str) and rule.date_format:
        try:
            return _parsed_date(value.strip(), rule.date_format, kind, zone)
        except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved across a zone
            raise Unmappable("bad-date", f"not a date in the format {rule.date_format}") from None
    if kind == DATETIME and isinstance(value, str) and _BARE_DATE.fullmatch(value.strip()):
        # A bare date means that day's start where the partner is.
        try:
            day = date.fromisoformat(value.strip())
            return datetime.combine(day, datetime.min.time(), zone).astimezone(UTC).isoformat()
        except (ValueError, OverflowError):  # "2026-02-30" has the shape of a date and is none
            raise Unmappable("bad-date", "not a date (YYYY-MM-DD)") from None
    if kind == BOOL and isinstance(value, str):
        word = value.strip().casefold()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise Unmappable("invalid-boolean", "expected yes/no, true/false or 1/0")
    return value


_BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TRANSFORMS: dict[str, Callable[[str], str]] = {
    "strip": str.strip,
    "lower": str.lower,
    "upper": str.upper,
    "title": str.title,
    "collapse_spaces": lambda s: " ".join(s.split()),
}


class _Step:
    """One target of an adapter, ready to apply to records (see `Adapter.model_post_init`):
    what the rule says, read once here rather than from the rule for every record."""

    __slots__ = ("target", "rule", "kind", "csv", "zone", "sources", "transforms", "listed", "plain", "const",
                 "default", "split", "way", "last")

    def __init__(self, target: str, rule: Rule, kind: Kind, csv: bool, zone: ZoneInfo) -> None:
        self.target, self.rule, self.kind, self.csv, self.zone = target, rule, kind, csv, zone
        self.sources = rule.sources()
        self.transforms = [_TRANSFORMS[t] for t in rule.transform]
        self.listed = target in LIST_TARGETS
        # Nothing to do with a value but take it (no split, map, kind, list): most text fields.
        self.plain = not (rule.split or rule.map is not None or self.listed or kind != TEXT)
        self.const, self.default, self.split = rule.const, rule.default, rule.split
        *way, (self.last, _) = _path(target)
        self.way = tuple(way)


def _value(record: Any, rule: Rule, kind: Kind, target: str, adapter: Adapter) -> Any:
    return _apply(_Step(target, rule, kind, adapter.format == "csv", adapter._zone), record)


def _apply(step: _Step, record: Any) -> Any:
    if step.const is not None:
        return step.const
    rule = step.rule
    value = None
    csv = step.csv
    for path in step.sources:
        value = record.get(path) if csv else _walk(record, path, False)
        if type(value) is str:  # the usual value, and what `_blank` would say of it
            if value.strip():
                break
        elif not _blank(value):
            break
    if step.transforms:
        if isinstance(value, list):
            value = [_transform(v, step.transforms) for v in value]
        else:
            value = _transform(value, step.transforms)
    if step.plain and isinstance(value, str):
        return value if value.strip() else step.default
    if step.split and isinstance(value, str):
        value = [part.strip() for part in value.split(step.split)]
    if isinstance(value, list):
        value = [v for v in value if not _blank(v)]
    if _blank(value):
        return step.default
    if isinstance(value, list):
        mapped = [_map_one(v, rule) for v in value]
        flat = [x for v in mapped for x in (v if isinstance(v, list) else [v]) if x is not None]
        if not step.listed and step.kind != LIST:
            raise Unmappable("invalid-value", "expected one value, got a list")
        return [_as_kind(v, step.kind, rule, step.zone) for v in flat]
    value = _map_one(value, rule)
    if value is None:
        return step.default
    if step.listed and not isinstance(value, list):
        value = [value]
    return _as_kind(value, step.kind, rule, step.zone)


@functools.cache
def _parts(target: str) -> tuple[str, ...]:
    return tuple(re.findall(r"[^.\[\]]+|\[\d+\]", target))


@functools.cache
def _path(target: str) -> tuple[tuple[str | int, bool], ...]:
    """Each key on the way to the target, and whether what it holds is a list."""
    parts = _parts(target)
    return tuple(
        (int(part[1:-1]) if part.startswith("[") else part, i + 1 < len(parts) and parts[i + 1].startswith("["))
        for i, part in enumerate(parts)
    )


def _put(doc: dict[str, Any], target: str, value: Any) -> None:
    *way, (last, _) = _path(target)
    _put_at(doc, way, last, value)


def _put_at(doc: dict[str, Any], way: Sequence[tuple[str | int, bool]], last: str | int, value: Any) -> None:
    node: Any = doc
    for key, holds_list in way:
        if isinstance(key, int):
            while len(node) <= key:
                node.append({})
            node = node[key]
        else:
            # The document's nodes are never None (only values that are not None are put).
            child = node.get(key)
            if child is None:
                child = node[key] = [] if holds_list else {}
            node = child
    if isinstance(last, int):
        while len(node) <= last:
            node.append({})
    node[last] = value


def translate(adapter: Adapter, record: Any) -> tuple[dict[str, Any], list[FieldError]]:
    """The partner's record in our referral's shape, and what could not be mapped."""
    doc: dict[str, Any] = {}
    errors: list[FieldError] = []
    if not isinstance(record, dict):
        return doc, [FieldError(field="", code="not-an-object", message="a record must be a JSON object")]
    for target, rule, step in adapter._plan:
        try:
            if step is None:  # credentials
                items = _walk(record, f"{rule.each}[]", False) if rule.each else []
                creds = []
                for i, item in enumerate(items):
                    one = {}
                    for sub, subrule in (rule.fields or {}).items():
                        try:
                            v = _value(item, subrule, adapter.target_table()[1][sub], sub, adapter)
                        except Exception as exc:  # Unmappable, or anything else the value provokes
                            where = f"{rule.each}[{i}].{' | '.join(subrule.sources())}"
                            if isinstance(exc, Unmappable):
                                errors.append(FieldError(field=where, code=exc.code, message=exc.message))
                            else:
                                errors.append(_unreadable(where, exc))
                            continue
                        if v is not None:
                            one[sub] = v
                    if one:
                        creds.append(one)
                doc["credentials"] = creds
                continue
            value = _apply(step, record)
        except Unmappable as exc:
            errors.append(FieldError(field=adapter.source_of(target), code=exc.code, message=exc.message, target=target))
            continue
        except Exception as exc:  # RecursionError, a 5,000-digit int's ValueError: the value's fault
            errors.append(_unreadable(adapter.source_of(target), exc, target))
            continue
        if value is not None:
            _put_at(doc, step.way, step.last, value)
    if isinstance(doc.get("credentials"), list):
        # credentials[N].x from flat columns: a row without a credential name has none there.
        doc["credentials"] = [c for c in doc["credentials"] if c and c.get("name")]
    return doc, errors


def validation_errors(adapter: Adapter | None, errors: list[Any]) -> list[FieldError]:
    """pydantic errors on the canonical referral (`ValidationError.errors()`, or
    `domain.unpublishable`'s), named by the partner's own fields."""
    found = []
    for err in errors:
        loc = [str(p) for p in err["loc"]]
        target = ".".join(loc)
        target = re.sub(r"\.(\d+)\.", r"[\1].", target)
        target = re.sub(r"\.(\d+)$", "", target)
        where = adapter.source_of(target) if adapter else target
        code = "invalid-character" if _control_pattern(err) else domain.error_code(err["type"])
        found.append(FieldError(field=where, code=code, message=_safe_message(err), target=target))
    return found


def _safe_message(err: Any) -> str:
    # pydantic puts the input in some messages (e.g. "Input should be ... [input_value='x']"
    # only in str(exc), not in msg); msg alone is safe except for our e-mail explanation.
    if err["type"] == "invalid_email":
        return "not a valid e-mail address"
    if _control_pattern(err):
        return domain.BAD_CHARACTER  # rather than the contract's regular expression
    return str(err["msg"])


def _control_pattern(err: Any) -> bool:
    """The contracts' text pattern (no control characters) refused the value."""
    return err["type"] == "string_pattern_mismatch" and "\\x00" in str((err.get("ctx") or {}).get("pattern", ""))


def to_referral(
    adapter: Adapter | None, doc: dict[str, Any], *, now: datetime | None = None, storable: bool = False
) -> tuple[domain.ReferralIn | None, list[FieldError]]:
    """Validate the referral, then check it can be accepted at `now` (the service passes its
    clock; None is the system's) and its event built and stored (the contract's bounds);
    `storable`: see `referral_from`."""
    region = adapter.phone_region if adapter else domain.DEFAULT_PHONE_REGION
    try:
        referral = domain.validate_referral(doc, region)
    except ValidationError as exc:
        return None, validation_errors(adapter, exc.errors(include_url=False, include_input=False))
    refused = domain.refused(referral, now or datetime.now(UTC), storable=storable)
    if refused:
        return None, validation_errors(adapter, refused)
    return referral, []


def _unreadable(field: str, exc: BaseException, target: str | None = None) -> FieldError:
    # The exception's type only: its message may quote the value (personal data).
    return FieldError(field=field, code="unreadable-value", message=f"cannot be read ({type(exc).__name__})", target=target)


def referral_from(
    adapter: Adapter, record: Any, *, now: datetime | None = None, storable: bool = False
) -> tuple[domain.ReferralIn | None, list[FieldError]]:
    """Map and validate one partner record: the referral, or every error found in it.

    `storable`: the caller has checked that every text of the record is
    `domain.storable_text`; with the adapter's own values (`Adapter.literals_storable`) that
    is all a referral mapped from it is made of, so its characters are not looked at again.

    Never raises: whatever a record provokes (an impossible date, a 5,000-digit number,
    nesting deep enough for RecursionError) is an error of that record, so the entry path
    (a CSV batch, the partner's Kafka partition) carries on with the next one.
    """
    try:
        return _referral_from(adapter, record, now, storable and adapter.literals_storable)
    except Exception as exc:  # a mapping bug must not stop a partner's feed either
        return None, [_unreadable("", exc)]


def _referral_from(
    adapter: Adapter, record: Any, now: datetime | None, storable: bool
) -> tuple[domain.ReferralIn | None, list[FieldError]]:
    doc, errors = translate(adapter, record)
    if not isinstance(record, dict):
        return None, errors  # not-an-object; every field "missing" besides would only repeat it
    referral, invalid = to_referral(adapter, doc, now=now, storable=storable)
    return (referral if not errors else None), errors + _without_consequences(errors, invalid)


def _without_consequences(errors: list[FieldError], invalid: list[FieldError]) -> list[FieldError]:
    """Validation's errors less those a mapping error caused: a field that failed to map is
    also reported missing by validation (or its parent object is), so keep only the cause."""
    failed = {e.target for e in errors if e.target}

    def consequence(e: FieldError) -> bool:
        return e.target is not None and any(f == e.target or f.startswith(e.target + ".") for f in failed)

    return [e for e in invalid if not consequence(e)]


def record_from(
    adapter: Adapter, record: Any, *, now: datetime | None = None, storable: bool = False
) -> tuple[domain.ReferralIn | training.TrainingRecordIn | None, list[FieldError]]:
    """One record mapped by what its adapter reads (`Adapter.record`): a referral or an enrollment."""
    if adapter.record == "training":
        return training_from(adapter, record, now=now)
    return referral_from(adapter, record, now=now, storable=storable)


def training_from(
    adapter: Adapter, record: Any, *, now: datetime | None = None
) -> tuple[training.TrainingRecordIn | None, list[FieldError]]:
    """`referral_from` for a training adapter: one enrollment record, or every error in it."""
    try:
        doc, errors = translate(adapter, record)
        if not isinstance(record, dict):
            return None, errors
        if isinstance(doc.get("progress"), dict) and isinstance(doc["progress"].get("percent_complete"), str):
            text = doc["progress"]["percent_complete"].strip().rstrip("%")
            doc["progress"]["percent_complete"] = int(text) if text.isdigit() else text
        try:
            enrollment = training.validate_training(doc, adapter.phone_region)
        except ValidationError as exc:
            invalid = validation_errors(adapter, exc.errors(include_url=False, include_input=False))
            return None, errors + _without_consequences(errors, invalid)
        if errors:
            return None, errors
        if enrollment.consent.given_at > (now or datetime.now(UTC)):
            return None, [FieldError(field=adapter.source_of("consent.given_at"), code="future-date",
                                     message="consent cannot be given in the future", target="consent.given_at")]
        return enrollment, []
    except Exception as exc:  # a mapping bug must not stop a provider's feed either
        return None, [_unreadable("", exc)]
