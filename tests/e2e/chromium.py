"""Headless Chromium for the browser tests (Debian's chromium + chromium-driver, `make chromium`):
one Chromium a test module (`module_chromium`), given to each test as fresh as a new one (`browser`),
and one `wait`, for the portal's browser tests and tests/e2e/test_release_browser.py. Importing
this module skips the importing test module when Chromium is missing, except on CI, where the
tests must run."""

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


class Chromium:
    """One Chromium (its own profile) for a test module's tests, started again should it die."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.driver = None
        self.starts = 0

    def _start(self):  # type: ignore[no-untyped-def]
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (*FLAGS, f"--user-data-dir={self.folder / f'profile-{self.starts}'}"):
            options.add_argument(flag)
        options.add_experimental_option("prefs", {"download.prompt_for_download": False})
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        driver.set_page_load_timeout(30)
        self.starts += 1
        return driver

    def fresh(self, downloads: Path):  # type: ignore[no-untyped-def]
        """The module's Chromium as a fresh one would be for the next test: one window on about:blank
        at 1280 x 900, no cookie and no cache (the pages keep nothing else: no web storage), its
        downloads landing in `downloads`."""
        from selenium.common.exceptions import WebDriverException

        if self.driver is not None:
            try:
                handles = self.driver.window_handles
                for handle in handles[1:]:
                    self.driver.switch_to.window(handle)
                    self.driver.close()
                self.driver.switch_to.window(handles[0])
                self.driver.get("about:blank")
            except WebDriverException:  # it died in the test before: a new one
                self.quit()
        if self.driver is None:
            self.driver = self._start()
        driver = self.driver
        driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        driver.execute_cdp_cmd("Network.clearBrowserCache", {})
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        driver.set_window_size(1280, 900)
        driver.downloads = downloads
        return driver

    def quit(self) -> None:
        if self.driver is not None:
            driver, self.driver = self.driver, None
            try:
                driver.quit()
            except Exception:  # noqa: BLE001 - gone already
                pass


@pytest.fixture(scope="module")
def module_chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    """One Chromium a test module (a start costs seconds; each test gets it fresh: `browser`).
    A module taking `browser` names this fixture at its top level too."""
    chromium = Chromium(tmp_path_factory.mktemp("chromium"))
    try:
        yield chromium
    finally:
        chromium.quit()


@pytest.fixture
def browser(module_chromium: Chromium, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The module's Chromium, as fresh as a new one (no cookie, no cache, one blank window),
    whose downloads land in `browser.downloads`, the test's own folder."""
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    return module_chromium.fresh(downloads)


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
