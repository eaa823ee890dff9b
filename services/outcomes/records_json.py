"""Report records to JSON and back (the projection stores them as jsonb).

Generic over the records' dataclasses: dates and times as ISO strings, decimals as strings,
tuples as lists, and dict keys as strings (retention milestones come back as ints).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from services.outcomes import records


def dump(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    names = _FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:  # the field names per class, found once: this runs for every projection stored
        return {name: dump(getattr(value, name)) for name in names}
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [dump(v) for v in value]
    if isinstance(value, dict):
        return {str(k): dump(v) for k, v in value.items()}
    return value


_PLAIN = frozenset({str, int, float, bool, type(None)})
_FIELDS: dict[type, tuple[str, ...]] = {}


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
