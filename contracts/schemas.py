"""Published JSON Schemas: one file per event family and version, generated from the models.

`contracts/schemas/<family>/<major>.<minor>.json` (e.g. `referral.submitted/2.0.json`).
A file, once published, is history: later minor versions are checked against it for
full compatibility, and a major version's files stay as long as its upcaster does.
The schemas describe what TalentLoop *writes*: every object is closed
(`additionalProperties: false`). Readers ignore unknown properties (see compat.py).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from contracts import compat
from contracts.envelope import SCHEMA_BASE, Envelope
from contracts.events import Payload
from contracts.registry import PAYLOADS, dataschema
from contracts.upcasting import UPCASTERS

SCHEMA_DIR = Path(__file__).parent / "schemas"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
ENVELOPE_VERSION = "1.1"


def _close(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _close(v) for k, v in node.items()}
        if out.get("type") == "object" and "properties" in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_close(v) for v in node]
    return node


def writer_schema(model: type[Payload]) -> dict[str, Any]:
    schema = _close(model.model_json_schema(mode="serialization"))
    return {
        "$schema": DIALECT,
        "$id": dataschema(model),
        "x-event-type": model.event_type,
        "x-schema-version": model.schema_version,
        "x-topic": model.topic.name,
        **schema,
    }


def envelope_schema() -> dict[str, Any]:
    schema = Envelope.model_json_schema(mode="serialization")
    return {"$schema": DIALECT, "$id": f"{SCHEMA_BASE}:envelope:{ENVELOPE_VERSION}", **schema}


def path_for(family: str, version: str) -> Path:
    return SCHEMA_DIR / family / f"{version}.json"


def expected() -> dict[Path, dict[str, Any]]:
    """Every file the current models generate."""
    files = {path_for(m.family(), m.schema_version): writer_schema(m) for m in PAYLOADS.values()}
    files[path_for("envelope", ENVELOPE_VERSION)] = envelope_schema()
    return files


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def same_shape(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal but for documentation (descriptions, examples, titles): a new optional field
    is compatible, but it is a new minor version, not the same shape."""
    return compat.shape(compat.resolve(a)) == compat.shape(compat.resolve(b))


def write() -> list[Path]:
    """Publish every model version not yet published, and refresh documentation-only changes.

    A published version whose shape no longer matches its model is never rewritten: the
    model must get a new version (that is what `problems()` reports).
    """
    written = []
    for path, schema in expected().items():
        if path.exists():
            current = json.loads(path.read_text())
            if current == schema or not same_shape(current, schema):
                continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(schema))
        written.append(path)
    return written


def published() -> dict[str, dict[str, dict[str, Any]]]:
    """family -> version -> schema, as committed."""
    out: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for path in sorted(SCHEMA_DIR.glob("*/*.json")):
        out[path.parent.name][path.stem] = json.loads(path.read_text())
    return dict(out)


def problems() -> list[str]:
    """Everything wrong with the contracts as committed; empty means releasable."""
    found: list[str] = []
    for path, schema in expected().items():
        rel = path.relative_to(SCHEMA_DIR.parent.parent)
        if not path.exists():
            found.append(f"{rel}: missing; run `python -m contracts write` and commit it")
        elif (committed := json.loads(path.read_text())) != schema and same_shape(committed, schema):
            found.append(f"{rel}: documentation changed; run `python -m contracts write` and commit it")
        elif committed != schema:
            found.append(
                f"{rel}: differs from the model; if the change is compatible, bump the model's "
                "schema_version (minor) and run `python -m contracts write`; never edit a published version"
            )
    for family, versions in published().items():
        if family == "envelope":  # one major, no upcasters: its versions must all stay compatible
            found += [f"{family}: {v}" for v in compat.check_history(versions, family)]
            continue
        by_major: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for version, schema in versions.items():
            by_major[version.split(".")[0]][version] = schema
        for history in by_major.values():
            found += [f"{family}: {v}" for v in compat.check_history(history, family)]
        majors = sorted(int(m) for m in by_major)
        for m in majors[:-1]:
            old = f"{family}.v{m}"
            if UPCASTERS.get(old, ("",))[0] != f"{family}.v{m + 1}":
                found.append(f"{family}: major {m} -> {m + 1} needs an upcaster {old} -> {family}.v{m + 1}")
            if old not in PAYLOADS:
                found.append(f"{family}: v{m} is published but no model reads it any more")
    return found
