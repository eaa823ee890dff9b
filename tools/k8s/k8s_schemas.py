"""Make the Kubernetes JSON schemas of kubernetes-validate's wheel self-contained for kubeconform.

Each schema (`deployment-apps-v1.json`, ...) names itself by a kubernetes.io URL (`$id`) and its
parts by `/api/_definitions.json#/$defs/...`, a path of kubernetes-validate's own resolver, which
a validator would try to fetch. Each file is rewritten with the definitions it reaches copied
into its own `$defs` (and no `$id`): a validator then compiles a few hundred definitions per
kind instead of reading the 1 MB file of all of them for each.

    python tools/k8s/k8s_schemas.py DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SHARED = "/api/_definitions.json#/$defs/"
LOCAL = "#/$defs/"


def _name(ref: str) -> str | None:
    """The definition a reference names: in the shared file, or (inside it) `#/$defs/<name>`."""
    for prefix in (SHARED, LOCAL):
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return None


def refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        name = _name(str(node.get("$ref", "")))
        found = {name} if name else set()
        return found.union(*(refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(v) for v in node))
    return set()


def localized(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: localized(v) for k, v in node.items()}
        if str(out.get("$ref", "")).startswith(SHARED):
            out["$ref"] = "#/$defs/" + out["$ref"][len(SHARED):]
        return out
    if isinstance(node, list):
        return [localized(v) for v in node]
    return node


def self_contained(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    reached: set[str] = set()
    todo = refs(schema)
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo |= refs(definitions[name]) - reached
    out = localized({k: v for k, v in schema.items() if k != "$id"})
    if reached:
        out["$defs"] = {name: localized(definitions[name]) for name in sorted(reached)}
    return out


def main(folder: str) -> None:
    root = Path(folder)
    definitions = json.loads((root / "_definitions.json").read_text())["$defs"]
    for path in root.glob("*.json"):
        if path.name != "_definitions.json":
            path.write_text(json.dumps(self_contained(json.loads(path.read_text()), definitions)))


if __name__ == "__main__":
    main(*sys.argv[1:])
