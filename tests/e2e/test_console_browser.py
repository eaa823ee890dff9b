"""The operators' console on the running network: its old pages send browsers to the portal's
operators' pages, and its API answers operators' keys only. (The operators' walk in headless
Chromium, live events and a dead letter replayed, is the portal's: tests/e2e/test_portal_browser.py.)
The Chromium fixture here is shared by the other browser tests (Debian's chromium + chromium-driver,
`make chromium`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.helpers import OPERATOR, Api

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
NORTHSIDE = "northside-tech-collective"

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()) and not os.environ.get("CI"):
    pytest.skip(
        "no /usr/bin/chromium and chromedriver (`make chromium` installs them as root)", allow_module_level=True
    )


@pytest.fixture
def browser(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver, what: str, check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # A check may find an element of the page a click is leaving, which goes stale (or is not
    # there yet on the next): look again rather than fail (one fresh-clone run failed so).
    return WebDriverWait(
        driver,
        timeout,
        poll_frequency=0.2,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    ).until(lambda d: check(d), message=what)


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
