"""Headless Chromium for the browser tests (Debian's chromium + chromium-driver, `make chromium`):
one `browser` fixture and one `wait` for tests/e2e/test_portal_browser.py and
tests/e2e/test_release_browser.py. Importing this module skips the importing test module when
Chromium is missing, except on CI, where the tests must run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    "--window-size=1280,900",
)

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()) and not os.environ.get("CI"):
    pytest.skip(
        "no /usr/bin/chromium and chromedriver (`make chromium` installs them as root)", allow_module_level=True
    )


@pytest.fixture
def browser(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    """A fresh Chromium (its own profile) whose downloads land in `browser.downloads`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    driver.downloads = downloads  # type: ignore[attr-defined]
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver, what: str, check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    """Wait for `check(driver)` to be true (its value is returned), polling every 0.2 s."""
    from selenium.common.exceptions import (
        JavascriptException,
        NoSuchElementException,
        StaleElementReferenceException,
        WebDriverException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    # A check may meet the page a click or a reload is leaving: its elements go stale, or belong
    # to no document any more (Chromium's "unknown error"); look again rather than fail.
    return WebDriverWait(
        driver,
        timeout,
        poll_frequency=0.2,
        ignored_exceptions=(
            NoSuchElementException,
            StaleElementReferenceException,
            JavascriptException,
            WebDriverException,
        ),
    ).until(lambda d: check(d), message=what)
