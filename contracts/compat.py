"""FULL_TRANSITIVE compatibility between versions of one event's JSON Schema.

TalentLoop's rule for one major version of an event: every minor version must be
readable by consumers of every other minor version, in both directions (a schema
registry's FULL_TRANSITIVE mode). Our writers are closed (they write only declared
properties, `additionalProperties: false` in the published schema) and our readers are
tolerant (they ignore unknown properties). Under that pairing:

- adding or removing an *optional* property is compatible both ways;
- `required-field-added`: a new required property breaks new readers of old data;
- `optional-field-made-required`: likewise;
- `required-field-removed` / `required-field-made-optional`: new data may lack a property
  old readers require;
- `type-changed`: a property present in both versions with another schema (type, format,
  enum values, nullability, item type) breaks one direction or the other;
- `property-reused-with-another-type` is `type-changed` found only transitively: a property
  removed in one version and re-added with another type in a later one breaks readers of
  the version that had it. That is why every pair is compared, not just neighbours. (An
  open writer schema would allow such a name with any type: closing the writers is what
  makes adding optional properties safe at all.)
- `bound-loosened`: a size bound (`maxLength`, `maxItems`, `maxProperties`, `maximum`) raised
  or removed, or a text pattern removed: the newer data may be refused by older readers.
- `bound-tightened`: such a bound introduced or lowered, or a pattern introduced: older data
  beyond it is refused by newer readers. It is a break unless no older data can be beyond
  it; the versions where that was established and the narrowing accepted are listed in
  `ACCEPTED_TIGHTENINGS` (why, in docs/contracts.md, "Bounds").

Anything else (a breaking change) needs a new major version and an upcaster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import combinations
from typing import Any

IGNORED_KEYWORDS = {"title", "description", "examples", "default", "$comment", "deprecated", "readOnly", "writeOnly"}
# Upper bounds on size: a larger number (or none) accepts more.
UPPER_BOUNDS = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")

# (family, version): versions that put bounds on fields that had none (issue 13, "bounded input
# everywhere"), accepted as compatible with the versions before them. Each is the first
# version of its major with bounds; a later tightening is checked against it as usual.
ACCEPTED_TIGHTENINGS: frozenset[tuple[str, str]] = frozenset(
    {
        ("candidate.erased", "1.1"),
        ("envelope", "1.1"),
        ("interview.cancelled", "1.1"),
        ("interview.completed", "1.1"),
        ("interview.rescheduled", "1.1"),
        ("interview.scheduled", "1.1"),
        ("offer.declined", "1.1"),
        ("offer.extended", "1.1"),
        ("opening.closed", "1.1"),
        ("opening.posted", "1.2"),
        ("opening.updated", "1.1"),
        ("placement.reported", "1.1"),
        ("referral.acknowledged", "1.1"),
        ("referral.declined", "1.1"),
        ("referral.routed", "1.2"),
        ("referral.stale", "1.1"),
        ("referral.status_changed", "1.1"),
        ("referral.submitted", "1.1"),
        ("referral.submitted", "2.5"),
        ("referral.unmatched", "1.2"),
        ("referral.updated", "1.2"),
        ("referral.withdrawn", "1.1"),
        ("retention.checked", "1.1"),
        ("separation.reported", "1.1"),
        ("skills.gap_observed", "1.1"),
    }
)


@dataclass(frozen=True)
class Violation:
    field: str
    rule: str
    detail: str
    old_version: str = "?"
    new_version: str = "?"

    def __str__(self) -> str:
        return f"{self.old_version} -> {self.new_version}: field '{self.field}' breaks {self.rule}: {self.detail}"


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Inline local `$ref`s into `$defs` so that two schemas compare by content."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                name = node["$ref"].rsplit("/", 1)[-1]
                merged = {**walk(defs[name]), **{k: v for k, v in node.items() if k != "$ref"}}
                return merged
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def shape(node: Any) -> Any:
    """A schema without documentation keywords, for comparing what it accepts."""
    if isinstance(node, dict):
        return {k: shape(v) for k, v in sorted(node.items()) if k not in IGNORED_KEYWORDS}
    if isinstance(node, list):
        return [shape(v) for v in node]
    return node


def _is_object(node: dict[str, Any]) -> bool:
    return node.get("type") == "object" and "properties" in node


def _describe(node: dict[str, Any]) -> str:
    return json.dumps(shape(node), sort_keys=True)[:200]


def compare(old: dict[str, Any], new: dict[str, Any], path: str = "") -> list[Violation]:
    """Violations of full compatibility between two versions (both already resolved)."""
    if _is_object(old) and _is_object(new):
        return _compare_objects(old, new, path)
    old_map, new_map = _as_map(old), _as_map(new)
    if old_map is not None and new_map is not None:
        return _compare_maps(old_map, new_map, path)
    found: list[Violation] = []
    if old.get("type") == new.get("type"):  # else the type changed, whatever the bounds did
        found += _compare_bounds(old, new, path)
        old, new = _without_bounds(old), _without_bounds(new)
    if old.get("type") == "array" and new.get("type") == "array" and "items" in old and "items" in new:
        found += compare(old["items"], new["items"], f"{path}[]")
        old, new = _without(old, "items"), _without(new, "items")
    elif len(old.get("anyOf", [])) == len(new.get("anyOf", [])) > 0:
        # pydantic writes `X | None` as anyOf [X, null]: compare branch by branch, so that a
        # bound on X is reported as a bound and not as another type.
        for a, b in zip(old["anyOf"], new["anyOf"], strict=True):
            found += compare(a, b, path)
        old, new = _without(old, "anyOf"), _without(new, "anyOf")
    if shape(old) != shape(new):
        found.append(Violation(path or "(root)", "type-changed", f"{_describe(old)} became {_describe(new)}"))
    return found


def _without(node: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in keys}


def _without_bounds(node: dict[str, Any]) -> dict[str, Any]:
    out = _without(node, *UPPER_BOUNDS)
    if node.get("type") == "string":
        out.pop("pattern", None)  # compared in _compare_bounds
    return out


def _compare_bounds(old: dict[str, Any], new: dict[str, Any], path: str) -> list[Violation]:
    where = path or "(root)"
    found: list[Violation] = []
    for key in UPPER_BOUNDS:
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if b is not None and (a is None or b < a):
            found.append(Violation(where, "bound-tightened", f"{key} {a if a is not None else 'none'} became {b}"))
        else:
            found.append(Violation(where, "bound-loosened", f"{key} {a} became {b if b is not None else 'none'}"))
    if old.get("type") == "string" or new.get("type") == "string":
        a, b = old.get("pattern"), new.get("pattern")
        if a is None and b is not None:
            found.append(Violation(where, "bound-tightened", f"pattern {b!r} introduced"))
        elif a is not None and b is None:
            found.append(Violation(where, "bound-loosened", f"pattern {a!r} removed"))
        elif a != b:
            found.append(Violation(where, "type-changed", f"pattern {a!r} became {b!r}"))
    return found


def _as_map(node: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
    """A map (`dict[K, V]`) as (key schema, value schema, the rest): pydantic writes the value
    schema under `additionalProperties`, or under `patternProperties` keyed by the keys' pattern."""
    if node.get("type") != "object" or "properties" in node:
        return None
    patterns = node.get("patternProperties", {})
    if len(patterns) > 1:
        return None
    key = {"type": "string", **node.get("propertyNames", {})}
    if patterns:
        [(pattern, value)] = patterns.items()
        key["pattern"] = pattern
    elif isinstance(node.get("additionalProperties"), dict):
        value = node["additionalProperties"]
    else:
        return None
    rest = _without(node, "patternProperties", "propertyNames", "additionalProperties")
    return key, value, rest


def _compare_maps(old: tuple[dict, dict, dict], new: tuple[dict, dict, dict], path: str) -> list[Violation]:
    (old_key, old_value, old_rest), (new_key, new_value, new_rest) = old, new
    return (
        compare(old_key, new_key, f"{path}{{key}}")
        + compare(old_value, new_value, f"{path}{{}}")
        + compare(old_rest, new_rest, path)
    )


def _compare_objects(old: dict[str, Any], new: dict[str, Any], path: str) -> list[Violation]:
    found: list[Violation] = []
    old_props, new_props = old["properties"], new["properties"]
    old_req, new_req = set(old.get("required", [])), set(new.get("required", []))
    for name in sorted(old_props.keys() | new_props.keys()):
        where = f"{path}.{name}" if path else name
        if name not in old_props:
            if name in new_req:
                found.append(Violation(where, "required-field-added", "older data does not have it"))
        elif name not in new_props:
            if name in old_req:
                found.append(Violation(where, "required-field-removed", "older readers require it"))
        else:
            if name in new_req and name not in old_req:
                found.append(Violation(where, "optional-field-made-required", "older data may lack it"))
            if name in old_req and name not in new_req:
                found.append(Violation(where, "required-field-made-optional", "older readers require it"))
            found += compare(old_props[name], new_props[name], where)
    return found


def check_history(versions: dict[str, dict[str, Any]], family: str | None = None) -> list[Violation]:
    """Compare every pair of versions of one major (transitively), oldest first.

    A `bound-tightened` between A and B passes when a version V with A < V <= B is in
    ACCEPTED_TIGHTENINGS for `family`; every other violation is reported.
    """
    ordered = sorted(versions, key=version_key)
    accepted = [version_key(v) for f, v in ACCEPTED_TIGHTENINGS if f == family]
    found: list[Violation] = []
    for a, b in combinations(ordered, 2):
        narrowing_accepted = any(version_key(a) < v <= version_key(b) for v in accepted)
        for v in compare(resolve(versions[a]), resolve(versions[b])):
            if v.rule == "bound-tightened" and narrowing_accepted:
                continue
            found.append(Violation(v.field, v.rule, v.detail, a, b))
    return found


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))
