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

Anything else (a breaking change) needs a new major version and an upcaster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import combinations
from typing import Any

IGNORED_KEYWORDS = {"title", "description", "examples", "default", "$comment", "deprecated", "readOnly", "writeOnly"}


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
    if old.get("type") == "array" and new.get("type") == "array" and "items" in old and "items" in new:
        rest_old = {k: v for k, v in old.items() if k != "items"}
        rest_new = {k: v for k, v in new.items() if k != "items"}
        found = compare(old["items"], new["items"], f"{path}[]")
        if shape(rest_old) != shape(rest_new):
            found.append(Violation(path, "type-changed", f"{_describe(rest_old)} became {_describe(rest_new)}"))
        return found
    if shape(old) != shape(new):
        return [Violation(path or "(root)", "type-changed", f"{_describe(old)} became {_describe(new)}")]
    return []


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


def check_history(versions: dict[str, dict[str, Any]]) -> list[Violation]:
    """Compare every pair of versions of one major (transitively), oldest first."""
    ordered = sorted(versions, key=version_key)
    found: list[Violation] = []
    for a, b in combinations(ordered, 2):
        for v in compare(resolve(versions[a]), resolve(versions[b])):
            found.append(Violation(v.field, v.rule, v.detail, a, b))
    return found


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))
