"""Report records to JSON and back (the projection stores them as jsonb).

Generic over the records' dataclasses: dates and times as ISO strings, decimals as strings,
tuples as lists, and dict keys as strings (retention milestones come back as ints). A field
marked `records.OMITTED_WHEN_EMPTY` is left out while None or empty (it loads as its default).
"""

from __future__ import annotations

import dataclasses
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
        fields = dataclasses.fields(value)
        names = tuple(f.name for f in fields)
        optional = tuple(f.name for f in fields if f.metadata.get(records.OMITTED_WHEN_EMPTY))
        return _dataclass_dumper(type(value).__name__, names, frozenset(optional))
    if isinstance(value, (datetime, date)):
        return isoformat
    if isinstance(value, Decimal):
        return str
    if isinstance(value, (list, tuple)):
        return lambda v: [dump(x) for x in v]
    if isinstance(value, dict):
        return lambda v: {str(k): dump(x) for k, x in v.items()}
    return _same


def _dataclass_dumper(kind: str, names: tuple[str, ...], optional: frozenset[str]) -> Callable[[Any], Any]:
    """A function that dumps a dataclass of these fields (in this order, those in `optional`
    left out while None or empty), written for the type as dataclasses writes `__init__`: each
    field read by name, not in a loop of getattr calls (a record has some 30 fields, a placement
    as many, dumped at every projection). Most fields hold a str, number, bool or None, which
    dump returns as they are: those are taken without the call."""
    lines = [f"def dump_{kind}(v):", "    d = {}"]
    for name in names:
        lines.append(f"    x = v.{name}")
        indent = "    "
        if name in optional:
            lines.append("    if x is not None and x != ():")
            indent = "        "
        lines.append(f"{indent}d[{name!r}] = x if type(x) in _AS_IS else dump(x)")
    lines.append("    return d")
    scope: dict[str, Any] = {"_AS_IS": _AS_IS, "dump": dump}
    exec("\n".join(lines), scope)  # noqa: S102 - the code is made from the dataclass's own field names
    return scope[f"dump_{kind}"]


def _same(value: Any) -> Any:
    return value


_AS_IS = frozenset({str, int, float, bool, type(None)})  # what `_how` gives `_same` (exact types only)


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

