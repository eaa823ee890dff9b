"""Of every service's routes, only outcomes' /public/... and the health, metrics and API documents
take no key: every other route depends on plumbing.auth.principal. (The console, operators' only,
is left out: its pages check the operator's session themselves.)"""

from __future__ import annotations

import importlib

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from plumbing.auth import principal
from plumbing.service import create_app

pytestmark = pytest.mark.unit

SERVICES = ("intake", "routing", "employer_gateway", "outcomes", "support")
KEYLESS = {"/health", "/metrics"}
PUBLIC = {("outcomes", "/public/release"), ("outcomes", "/public/release/{path:path}")}


def authenticates(dependant: Dependant) -> bool:
    return any(d.call is principal or authenticates(d) for d in dependant.dependencies)


def api_routes(routes: list) -> list:  # type: ignore[type-arg]
    """Every API route, those of included routers too (FastAPI keeps those behind their router)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "effective_route_contexts"):
            found += [c for c in route.effective_route_contexts() if hasattr(c, "dependant")]
    return found


def keyless_routes() -> set[tuple[str, str]]:
    found = set()
    for name in SERVICES:
        app = create_app(importlib.import_module(f"services.{name}.app").DEFINITION)
        routes = api_routes(app.routes)
        assert len(routes) > 5, name
        found |= {(name, r.path) for r in routes if r.path not in KEYLESS and not authenticates(r.dependant)}
    return found


def test_only_the_public_release_routes_take_no_key():
    assert keyless_routes() == PUBLIC
