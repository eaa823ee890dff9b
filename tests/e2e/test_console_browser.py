"""The operators' console in headless Chromium (Debian's chromium + chromium-driver, `make chromium`):
log in, watch a new referral arrive live, replay a dead letter with the button."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from contracts import topics
from plumbing.kafka import client_options
from plumbing.operations import Operations
from talentloop import samples
from tests.e2e.helpers import OPERATOR, Api, poll, referral_body, unique

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage")
NORTHSIDE = "northside-tech-collective"
FORGE = "forge-coding-bootcamp"

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()) and not os.environ.get("CI"):
    pytest.skip("no /usr/bin/chromium and chromedriver (`make chromium` installs them as root)", allow_module_level=True)


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
    return WebDriverWait(driver, timeout, poll_frequency=0.2,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
                         ).until(lambda d: check(d), message=what)


async def test_console_login_live_stream_and_dead_letter_replay(api: Api, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    console = api.net.urls["console"]
    key = api.net.keys[OPERATOR]

    # Not logged in: the login form. A partner's key is refused.
    browser.get(f"{console}/stream")
    assert browser.current_url.endswith("/login")
    browser.find_element(By.ID, "key").send_keys(api.net.keys[f"partner:{NORTHSIDE}"])
    browser.find_element(By.ID, "login").click()
    wait(browser, "refused", lambda d: "failed=true" in d.current_url)

    browser.find_element(By.ID, "key").send_keys(key)
    browser.find_element(By.ID, "login").click()
    wait(browser, "the stream page", lambda d: d.current_url.endswith("/stream"))
    cookie = next(c for c in browser.get_cookies() if c["name"] == "talentloop_console")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert key not in browser.current_url and key not in cookie["value"]

    # Filter the live stream by partner, then submit a referral through intake's API.
    browser.find_element(By.ID, "filter-partner").send_keys(NORTHSIDE)
    browser.find_element(By.ID, "filter-type").send_keys("referral.submitted")
    browser.find_element(By.CSS_SELECTOR, "form[action='/stream'] button").click()
    wait(browser, "the stream to be live",
         lambda d: d.find_element(By.ID, "stream-state").get_attribute("data-state") == "live")
    body = referral_body([unique()])
    referral_id = await api.refer(NORTHSIDE, body)
    row = wait(browser, f"{referral_id} in the live stream",
               lambda d: d.find_elements(By.CSS_SELECTOR, f"tr[data-referral='{referral_id}']"))[0]
    assert "referral.submitted.v2" in row.text and NORTHSIDE in row.text
    page = browser.page_source
    for secret in (body["candidate"]["email"], body["candidate"]["family_name"], body["skills"][0]):
        assert secret not in page

    # A bad record on the bootcamp's topic; replay its dead letter with the button.
    bad = samples.forge_payload(samples.person(1, f"console-{uuid.uuid4().hex[:6]}"), run="console")
    bad["data"]["graduate"]["contact"] = {}
    producer = AIOKafkaProducer(**client_options(api.net.bootstrap))
    await producer.start()
    try:
        await producer.send_and_wait(topics.partner_inbound(FORGE), json.dumps(bad).encode(), key=b"console-test")
    finally:
        await producer.stop()
    async with Operations(api.net.bootstrap, api.net.network.database_url) as ops:
        async def dead_lettered() -> str | None:
            letters = await ops.dead_letters("intake", topics.partner_inbound(FORGE))
            return next((d.id for d in letters if isinstance(d.payload(), dict) and not d.replay_of
                         and d.payload()["data"]["graduate"]["uuid"] == bad["data"]["graduate"]["uuid"]), None)

        letter_id = await poll("the bad record dead-lettered", dead_lettered, timeout=60.0)
        browser.find_element(By.LINK_TEXT, "Dead letters").click()
        row = wait(browser, "the dead letter listed",
                   lambda d: d.find_elements(By.CSS_SELECTOR, f"tr[data-id='{letter_id}']"))[0]
        assert "contact-required" in row.text
        assert bad["data"]["graduate"]["name"]["last"] not in browser.page_source  # reasons only, never payloads
        row.find_element(By.CSS_SELECTOR, f"button[data-replay='{letter_id}']").click()
        flash = wait(browser, "the replay's result", lambda d: d.find_elements(By.ID, "flash"))[0]
        assert f"{letter_id}: replayed to {topics.partner_inbound(FORGE)}" in flash.text
        row = browser.find_element(By.CSS_SELECTOR, f"tr[data-id='{letter_id}']")
        assert "replayed" in row.text and not row.find_elements(By.TAG_NAME, "button")
        assert (await ops.dead_letter(letter_id)).replayed_at is not None

    # The other pages answer for the logged-in operator.
    for link, element in (("Lag", "lag"), ("Health", "health"), ("Funnel & good jobs", "funnel")):
        browser.find_element(By.LINK_TEXT, link).click()
        wait(browser, f"the {link} page", lambda d, e=element: d.find_elements(By.ID, e))
    browser.find_element(By.LINK_TEXT, "Lag").click()
    assert browser.find_elements(By.CSS_SELECTOR, "tr[data-group='routing.events']")
