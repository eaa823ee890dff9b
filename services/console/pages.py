"""The console's old page addresses, now the portal's operators' pages (docs/operators.md).

People sign in to the portal with their own account (docs/portals.md); the console keeps the
operations API (api.py) that the portal calls. A bookmark of a console page lands on the same
page in the portal: TALENTLOOP_PORTAL_URL when set (the address people reach it at), else
this request's host at the portal's port (`talentloop up` and compose publish both on one host).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from plumbing.settings import DEFAULT_PORTS

router = APIRouter(include_in_schema=False)

# The console's pages and where each now is in the portal.
MOVED = {
    "/": "/operators/events",
    "/login": "/operators/events",
    "/stream": "/operators/events",
    "/charts": "/operators/funnel",
    "/lag": "/operators/lag",
    "/dead-letters": "/operators/dead-letters",
    "/outbox": "/operators/outbox",
    "/health-checks": "/operators/health",
}


def portal_address(request: Request, service_urls: dict[str, str]) -> str:
    configured = os.environ.get("TALENTLOOP_PORTAL_URL")
    if configured:
        return configured.rstrip("/")
    port = urlsplit(service_urls.get("portal", "")).port or DEFAULT_PORTS["portal"]
    return f"{request.url.scheme}://{request.url.hostname}:{port}"


def _moved(path: str, target: str) -> None:
    async def moved(request: Request) -> RedirectResponse:
        # 303: whatever the old page was asked with (a login's POST too), the portal's page is a GET.
        return RedirectResponse(portal_address(request, request.app.state.ops.service_urls) + target, 303)

    router.add_api_route(path, moved, methods=["GET", "POST"], name=f"moved {path}")


for _path, _target in MOVED.items():
    _moved(_path, _target)
