"""The API documents published under contracts/: generated from the code, checked for drift.

- `contracts/openapi/<service>.json`: each HTTP service's OpenAPI document (FastAPI).
- `contracts/asyncapi/<service>.json`: each service's AsyncAPI 3 document (FastStream).

`talentloop specs write` regenerates them; `talentloop specs check` (and a test) fails when
a committed document no longer matches the code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from plumbing.service import ServiceDefinition, asyncapi_app, create_app

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"


def definitions() -> list[ServiceDefinition]:
    from services.employer_gateway.app import DEFINITION as gateway
    from services.intake.app import DEFINITION as intake
    from services.outcomes.app import DEFINITION as outcomes
    from services.routing.app import DEFINITION as routing
    from services.support.app import DEFINITION as support

    return [intake, routing, gateway, outcomes, support]


def openapi(definition: ServiceDefinition) -> dict[str, Any]:
    return create_app(definition).openapi()


def asyncapi(definition: ServiceDefinition) -> dict[str, Any]:
    """What `faststream docs gen services.<name>.app:asyncapi --factory` writes."""
    return json.loads(asyncapi_app(definition).schema.to_specification().to_json())


def documents() -> dict[Path, dict[str, Any]]:
    docs: dict[Path, dict[str, Any]] = {}
    for d in definitions():
        docs[CONTRACTS / "openapi" / f"{d.name}.json"] = openapi(d)
        docs[CONTRACTS / "asyncapi" / f"{d.name}.json"] = asyncapi(d)
    return docs


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def write() -> list[Path]:
    written = []
    for path, doc in documents().items():
        text = render(doc)
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written


def drift() -> list[str]:
    out = []
    for path, doc in documents().items():
        rel = path.relative_to(CONTRACTS.parent)
        if not path.exists():
            out.append(f"{rel}: missing; run `talentloop specs write`")
        elif json.loads(path.read_text()) != json.loads(render(doc)):
            out.append(f"{rel}: differs from the code; run `talentloop specs write` and review the diff")
    return out
