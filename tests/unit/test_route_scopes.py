"""Every route of every service's OpenAPI document is in docs/api-keys.md with the scope
plumbing/auth.py makes it need: a new route without a row, or a rule that changes, fails."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from plumbing.auth import KINDS, required_scope
from plumbing.service import create_app

pytestmark = pytest.mark.unit

SERVICES = ("intake", "routing", "employer_gateway", "outcomes", "support", "console")
DOC = Path(__file__).parents[2] / "docs" / "api-keys.md"
ROW = re.compile(r"^\| ([a-z_]+|every service) \| `(GET|POST|PATCH|PUT|DELETE) (\S+)` \| ([^|]+) \| (\w+) \|$")
# No key: health, and outcomes' public release (docs/transparency.md, "Public endpoints").
UNAUTHENTICATED = {("GET", "/health"), ("GET", "/public/release"), ("GET", "/public/release/{path}")}


def documented() -> dict[tuple[str, str, str], tuple[str, str]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        if m := ROW.match(line):
            service, method, path, callers, scope = m.groups()
            for name in SERVICES if service == "every service" else (service,):
                assert (name, method, path) not in rows, f"listed twice: {line}"
                rows[(name, method, path)] = (callers.strip(), scope)
    return rows


def published() -> set[tuple[str, str, str]]:
    found = set()
    for name in SERVICES:
        spec = create_app(importlib.import_module(f"services.{name}.app").DEFINITION).openapi()
        for path, operations in spec["paths"].items():
            found |= {(name, method.upper(), path) for method in operations if (method.upper(), path) not in UNAUTHENTICATED}
    return found


def test_every_route_of_every_service_is_documented_and_nothing_else():
    assert set(documented()) == published()


def test_the_documented_scope_is_the_one_a_request_needs():
    for (service, method, path), (_, scope) in documented().items():
        assert str(required_scope(method, path)).replace("None", "none") == scope, (service, method, path)


def test_callers_are_kinds_of_principal():
    for route, (callers, _) in documented().items():
        named = set(re.findall(r"[a-z]+", callers.split("(")[0])) - {"anyone"}
        assert named <= set(KINDS), route
        assert named or callers.startswith("anyone"), route
