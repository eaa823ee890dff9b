"""The console's old page addresses send browsers to the portal's operators' pages
(services/console/pages.py): TALENTLOOP_PORTAL_URL when set, else the same host at the portal's port."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI

from services.console import pages

pytestmark = pytest.mark.unit


def console(urls: dict[str, str]) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(pages.router)
    app.state.ops = SimpleNamespace(service_urls=urls)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ops.example:8005")


async def test_each_old_page_goes_to_its_portal_page_on_the_portals_port(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("TALENTLOOP_PORTAL_URL", raising=False)
    async with console({"portal": "http://portal:9107"}) as http:
        for old, new in pages.MOVED.items():
            for method in ("GET", "POST"):
                r = await http.request(method, old)
                assert (r.status_code, r.headers["location"]) == (303, f"http://ops.example:9107{new}")
    async with console({}) as http:  # no portal in the service URLs: its default port
        assert (await http.get("/lag")).headers["location"] == "http://ops.example:8007/operators/lag"


async def test_the_portals_public_address_wins(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TALENTLOOP_PORTAL_URL", "https://portal.coalition.example/")
    async with console({"portal": "http://portal:8007"}) as http:
        r = await http.get("/outbox")
    assert r.headers["location"] == "https://portal.coalition.example/operators/outbox"
