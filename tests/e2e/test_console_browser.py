"""The operators' console on the running network: its old pages send browsers to the portal's
operators' pages, and its API answers operators' keys only. (The operators' walk in headless
Chromium, live events and a dead letter replayed, is the portal's: tests/e2e/test_portal_browser.py;
the browser tests' Chromium is tests/e2e/chromium.py.)"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from tests.e2e.helpers import OPERATOR, Api

NORTHSIDE = "northside-tech-collective"


async def test_the_console_sends_browsers_to_the_portal_and_serves_operators_keys(api: Api) -> None:
    console = api.net.urls["console"]
    async with httpx.AsyncClient(base_url=console, timeout=15.0) as http:
        for old, new in (
            ("/stream", "/operators/events"),
            ("/dead-letters", "/operators/dead-letters"),
            ("/charts", "/operators/funnel"),
            ("/health-checks", "/operators/health"),
        ):
            r = await http.get(old)
            place = urlsplit(r.headers["location"])
            assert r.status_code == 303 and place.path == new and place.hostname == urlsplit(console).hostname
        r = await http.post("/login", data={"key": api.net.keys[OPERATOR]})  # an old form: no key is taken
        assert r.status_code == 303 and urlsplit(r.headers["location"]).path == "/operators/events"
        assert (await http.get("/api/lag")).status_code == 401
        partner = {"Authorization": f"Bearer {api.net.keys[f'partner:{NORTHSIDE}']}"}
        assert (await http.get("/api/lag", headers=partner)).status_code == 403
        operator = {"Authorization": f"Bearer {api.net.keys[OPERATOR]}"}
        lag = (await http.get("/api/lag", headers=operator)).json()
        assert {"intake", "routing", "employer_gateway", "outcomes", "support"} <= {g["service"] for g in lag}
