"""Report records to JSON and back (the projection stores them as jsonb).

Generic over the records' dataclasses: dates and times as ISO strings, decimals as strings,
tuples as lists, and dict keys as strings (retention milestones come back as ints).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from services.outcomes import records


def dump(value: Any) -> Any:
    kind = type(value)
    how = _HOW.get(kind)
    if how is None:
        how = _HOW[kind] = _how(value)
    return how(value)


def _how(value: Any) -> Callable[[Any], Any]:
    """How to dump values of this one's type, decided once per type (the checks depend on the
    type only, and run in this order): every projection stored goes through here."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = tuple(f.name for f in dataclasses.fields(value))
        return lambda v: {name: dump(getattr(v, name)) for name in names}
    if isinstance(value, (datetime, date)):
        return isoformat
    if isinstance(value, Decimal):
        return str
    if isinstance(value, (list, tuple)):
        return lambda v: [dump(x) for x in v]
    if isinstance(value, dict):
        return lambda v: {str(k): dump(x) for k, x in v.items()}
    return _same


def _same(value: Any) -> Any:
    return value


_HOW: dict[type, Callable[[Any], Any]] = {}


# `isoformat` costs more than all else of writing a time (microseconds in this build of
# CPython), and a referral's times are written again at each of its projections.
_ISO: dict[type, dict[Any, str]] = {date: {}, datetime: {}}  # by type: a date is never keyed as a datetime
ISO_REMEMBERED = 100_000  # of each type; then forgotten at once (~20 MB at most)


def isoformat(value: datetime | date) -> str:
    """`value.isoformat()`, remembered for a UTC datetime or a date: equal ones of those have
    equal fields, so equal texts (other time zones are not: 10:00+00:00 == 11:00+01:00)."""
    kind = type(value)
    if not (kind is date or (kind is datetime and value.tzinfo is UTC)):  # type: ignore[union-attr]
        return value.isoformat()
    known = _ISO[kind]
    text = known.get(value)
    if text is None:
        if len(known) >= ISO_REMEMBERED:
            known.clear()
        text = known[value] = value.isoformat()
    return text


def load(cls: type, doc: Any) -> Any:
    """The dataclass `cls` from what `dump` made of one."""
    hints = typing.get_type_hints(cls, vars(records))
    return cls(**{f.name: _load(hints[f.name], doc[f.name]) for f in dataclasses.fields(cls) if f.name in doc})


def _load(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _load(next(a for a in args if a is not type(None)), value)
    if origin is tuple:
        return tuple(_load(args[0], v) for v in value)
    if origin is dict:
        return {_load(args[0], k): _load(args[1], v) for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        return load(hint, value)
    if hint is datetime:
        return datetime.fromisoformat(value)
    if hint is date:
        return date.fromisoformat(value)
    if hint in (Decimal, int, float):
        return hint(value)
    return value


# --- the projection's record as JSON text, fast -------------------------------------------
#
# Every projection stored writes its record (`store.save_projections`): `dumps_referral` is
# `json.dumps(dump(record))`, character for character, for the types `projection.project`
# makes, and that generic path for anything else (tests/unit/test_outcomes_records_json.py).
# Written out by hand because the generic walk (a call per value) and the encoder's dict
# were most of the cost of storing a projection.

_string = json.encoder.encode_basestring_ascii  # what json.dumps writes a str with (ensure_ascii)
_float = float.__repr__  # and a finite float with


def _text(value: str | None) -> str:
    return "null" if value is None else _string(value)


def _day(value: date | None) -> str:
    return "null" if value is None else '"' + isoformat(value) + '"'


def _plain_date(value: Any) -> bool:
    return value is None or type(value) is date


def _placement(p: records.Placement) -> str | None:
    if not (type(p.employer_id) is type(p.job_title) is type(p.onet_soc_code) is type(p.wage_unit)
            is type(p.currency) is type(p.employment_type) is str and type(p.wage_amount) is Decimal
            and type(p.hours_per_week) is float and math.isfinite(p.hours_per_week)
            and type(p.health) is type(p.retirement) is type(p.paid_leave) is bool and type(p.start_date) is date):
        return None
    return (f'{{"employer_id": {_string(p.employer_id)}, "job_title": {_string(p.job_title)}, '
            f'"onet_soc_code": {_string(p.onet_soc_code)}, "wage_amount": {_string(str(p.wage_amount))}, '
            f'"wage_unit": {_string(p.wage_unit)}, "currency": {_string(p.currency)}, '
            f'"hours_per_week": {_float(p.hours_per_week)}, "employment_type": {_string(p.employment_type)}, '
            f'"health": {_BOOL[p.health]}, "retirement": {_BOOL[p.retirement]}, "paid_leave": {_BOOL[p.paid_leave]}, '
            f'"start_date": "{isoformat(p.start_date)}"}}')


def _credential(c: records.Credential) -> str | None:
    if type(c.name) is not str or type(c.status) is not str or not _plain_date(c.awarded_on):
        return None
    return f'{{"name": {_string(c.name)}, "status": {_string(c.status)}, "awarded_on": {_day(c.awarded_on)}}}'


_BOOL = {True: "true", False: "false"}
_OPTIONAL_TEXT = ("program", "provider", "occupation", "employer_id", "exit", "highest_degree")


def dumps_referral(r: records.ReferralRecord) -> str:
    """`json.dumps(dump(r))`, faster (see above)."""
    if (type(r.referral_id) is not str or type(r.partner_id) is not str or type(r.status) is not str
            or type(r.referred_at) is not datetime or not _plain_date(r.training_completed_on)
            or not _plain_date(r.separated_on) or type(r.skills_added) is not int
            or type(r.aggregate_consent) is not bool or r.demographics is not None
            or type(r.reached) is not dict or type(r.retention) is not dict or type(r.credentials) is not tuple
            or any(getattr(r, name) is not None and type(getattr(r, name)) is not str for name in _OPTIONAL_TEXT)
            or any(type(k) is not str or type(v) is not datetime for k, v in r.reached.items())
            or any(type(k) is not int or type(v) is not bool for k, v in r.retention.items())):
        return json.dumps(dump(r))
    placement = "null"
    if r.placement is not None:
        placement = _placement(r.placement) if type(r.placement) is records.Placement else None
        if placement is None:
            return json.dumps(dump(r))
    credentials = [_credential(c) if type(c) is records.Credential else None for c in r.credentials]
    if None in credentials:
        return json.dumps(dump(r))
    reached = ", ".join(f'{_string(k)}: "{isoformat(v)}"' for k, v in r.reached.items())
    retention = ", ".join(f'"{k!r}": {_BOOL[v]}' for k, v in r.retention.items())
    return (f'{{"referral_id": {_string(r.referral_id)}, "partner_id": {_string(r.partner_id)}, '
            f'"referred_at": "{isoformat(r.referred_at)}", "program": {_text(r.program)}, '
            f'"provider": {_text(r.provider)}, "training_completed_on": {_day(r.training_completed_on)}, '
            f'"occupation": {_text(r.occupation)}, "employer_id": {_text(r.employer_id)}, '
            f'"reached": {{{reached}}}, "status": {_string(r.status)}, "exit": {_text(r.exit)}, '
            f'"placement": {placement}, "retention": {{{retention}}}, "separated_on": {_day(r.separated_on)}, '
            f'"highest_degree": {_text(r.highest_degree)}, "credentials": [{", ".join(credentials)}], '  # type: ignore[arg-type]
            f'"skills_added": {r.skills_added!r}, "aggregate_consent": {_BOOL[r.aggregate_consent]}, '
            f'"demographics": null}}')
