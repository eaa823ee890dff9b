"""The portal's pages in headless Chromium, for every browser test module of the portal
(tests/e2e/test_portal_browser*.py): the `portal` fixture (one portal process a module, on the
running network), the page checks every page passes (`check_page`: the language, no message key,
no English on a Spanish page, axe-core, 360 px, screenshots), signing in in the browser and over
HTTP, posting a page's form, unfolding and filling forms.

A test module takes the fixtures by naming them at its top level (pytest finds a fixture among a
module's names), as chromium.browser is taken:

    from tests.e2e import portal_pages
    from tests.e2e.portal_pages import check_page, signed_in, ...

    browser = portal_pages.browser  # the fixtures
    module_chromium = portal_pages.module_chromium
    portal = portal_pages.portal

(one Chromium a module, fresh for each test), or defines its own module-scoped `portal` with
`portal_process` and more settings (one portal process a module: test_portal_browser_pages.py's
has an OpenID Connect provider).

Importing this module skips the importing test module when Chromium is missing (tests/e2e/chromium.py)."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from babel.messages.pofile import read_po

from services.portal import i18n
from talentloop import launcher
from tests.e2e import chromium  # skips the importing module without Chromium
from tests.e2e.chromium import wait
from tests.e2e.helpers import Api, opening_body, poll, referral_body, unique
from tests.support.smtp import Capture, smtp_capture

NORTHSIDE = "northside-tech-collective"
FORGE = "forge-coding-bootcamp"
CIVIC = "civic-data-labs"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# The page's text without what it shows of people's data (names, the adapter's column names),
# which the templates mark translate="no": that is nobody's message to translate.
TEXT_BUT_DATA = """
var data = Array.prototype.slice.call(document.querySelectorAll('[translate=no]'));
data.forEach(function (e) { e.dataset.display = e.style.display; e.style.display = 'none'; });
var text = document.body.innerText;
data.forEach(function (e) { e.style.display = e.dataset.display; });
return text;
"""
AXE = Path(__file__).parents[2] / "tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
RUN_AXE = """
var done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(function (r) {
  done(r.violations.map(function (v) {
    return {id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(function (n) { return n.target.join(' '); })};
  }));
}).catch(function (e) { done([{id: 'axe-failed', impact: 'critical', help: String(e), nodes: []}]); });
"""
# What reaches past the window's right edge (the deepest elements first: the ones to fix).
STICKING_OUT = """
return Array.prototype.slice.call(document.querySelectorAll('body *')).reverse().filter(function (e) {
  return e.getBoundingClientRect().right > window.innerWidth + 1;
}).slice(0, 5).map(function (e) {
  return e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ' ' + Math.round(e.getBoundingClientRect().right) + ' px: '
    + (e.innerText || '').slice(0, 60);
});
"""
browser = chromium.browser  # the fixtures, for the modules that import them from here
module_chromium = chromium.module_chromium


# --- the portal process ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def portal(running_network, network_config) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The portal as `talentloop up` starts it (talentloop.launcher), on the running network: the
    test network runs only the services, so tests about every service's Kafka principal hold."""
    with portal_process(running_network, network_config) as url:
        yield url


@contextmanager
def portal_process(running_network, network_config, state: Path | None = None, settings=None) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A portal process on the running network until the block ends; its address. With `state`,
    a folder of its own (pid, log) holding a copy of the demo sign-ins, so that it seeds nothing
    new, beside the module's portal (started first: its migrations); else the network's, as the
    module's portal. `settings(url)`: more of its environment, given its address."""
    from tests.conftest import free_port

    if state is not None:
        state.mkdir(parents=True, exist_ok=True)
        shutil.copy(launcher.portal_users_file(network_config.home), launcher.portal_users_file(state))
    service = launcher.ServiceProcess("portal", free_port(), state or network_config.home)
    more = settings(service.url) if settings else {}
    launcher.start(service, {**portal_env(running_network, network_config), **more})
    try:
        launcher.wait_healthy([service])
        yield service.url
    finally:
        launcher.stop(service)


def portal_env(running_network, network_config) -> dict[str, str]:  # type: ignore[no-untyped-def]
    net = running_network.network
    return {
        "DATABASE_URL": net.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": net.bootstrap,
        "TALENTLOOP_MASTER_KEY": launcher.master_key(network_config.home),
        "TALENTLOOP_SERVICE_URLS": json.dumps(net.urls),
    }


@pytest.fixture
def mailing_portal(portal: str, running_network, network_config, tmp_path: Path) -> Iterator[tuple[str, Capture]]:  # type: ignore[no-untyped-def]
    """A second portal process on the running network's database with SMTP settings (an aiosmtpd
    capture on 127.0.0.1), so the e-mailed links' pages exist: the module's portal has none, and its
    tests read invitation links off the page."""
    with (
        smtp_capture() as capture,
        portal_process(
            running_network,
            network_config,
            tmp_path / "mailing-portal",
            lambda url: {
                "TALENTLOOP_SMTP_HOST": "127.0.0.1",
                "TALENTLOOP_SMTP_PORT": str(capture.port),
                "TALENTLOOP_SMTP_SECURITY": "none",
                "TALENTLOOP_MAIL_FROM": "portal@talentloop.example.org",
                "TALENTLOOP_PORTAL_URL": url,
            },
        ) as url,
    ):
        yield url, capture


# --- the checks every page passes -----------------------------------------------------------------


def screenshots(tmp_path: Path) -> Path:
    """Where the pages' screenshots go: the test's temporary folder, or
    TALENTLOOP_PORTAL_SCREENSHOTS (docs/portals/ keeps a few, made so)."""
    return Path(os.environ.get("TALENTLOOP_PORTAL_SCREENSHOTS") or tmp_path / "screenshots")


@functools.cache
def english_only() -> tuple[str, ...]:
    """Messages whose Spanish differs from the English, without placeholders: none may show on
    a Spanish page (the untranslated-message check). Read once a run."""
    with (i18n.LOCALES / "es" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalogue = read_po(fh)
    return tuple(m.id for m in catalogue if m.id and m.string != m.id and "%(" not in m.id and len(m.id) > 3)


@functools.cache
def _any_english() -> re.Pattern[str]:
    longest_first = sorted(english_only(), key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, longest_first)) + r")(?!\w)")


def untranslated(text: str) -> list[str]:
    """The English messages in `text` (one scan of the text first: a page in Spanish has none)."""
    if not _any_english().search(text):
        return []
    return [m for m in english_only() if re.search(rf"(?<!\w){re.escape(m)}(?!\w)", text)]


@functools.cache
def _axe_source() -> str:
    return AXE.read_text()


def accessible(driver, name: str) -> None:  # type: ignore[no-untyped-def]
    """axe-core (tools/axe, `make tools`) finds no serious or critical violation on the page."""
    if not AXE.exists():
        if os.environ.get("CI"):
            pytest.fail("tools/axe is not installed: `make tools` should have installed it")
        return  # a developer without npm: the rest of the page's checks still run
    driver.set_script_timeout(30)
    driver.execute_script(_axe_source())
    violations = driver.execute_async_script(RUN_AXE)
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not serious, f"{name}: {serious}"


def check_page(driver, language: str, shots: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    """The page is in `language`, shows no message key or placeholder, no English message on a
    Spanish page, has no serious or critical accessibility violation (axe-core) and fits 360 px
    without scrolling sideways; screenshots at 1280 and 360 px."""
    from selenium.webdriver.common.by import By

    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
    text = driver.execute_script(TEXT_BUT_DATA)
    assert "%(" not in text and "{{" not in text and "Traceback" not in text, name
    if language == "es":
        leaked = untranslated(text)
        assert not leaked, f"{name}: untranslated {leaked}"
    accessible(driver, f"{name} ({language})")
    shots.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(shots / f"{name}-{language}-1280.png"))
    driver.set_window_size(360, 800)
    try:
        width = driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 360, f"{name} is {width} px wide at 360 px: {driver.execute_script(STICKING_OUT)}"
        driver.save_screenshot(str(shots / f"{name}-{language}-360.png"))
    finally:
        driver.set_window_size(1280, 900)


def i18n_status(status: str) -> str:
    from services.portal.messages import STATUSES

    return STATUSES[status]


# --- people: signing in, languages --------------------------------------------------------------


def sign_ins(api: Api) -> dict[tuple[str, str], dict[str, str]]:
    """The demo sign-ins the portal seeded, by (organisation, role)."""
    users = json.loads(launcher.portal_users_file(api.net.network.keys_file.parent).read_text())
    return {(u["tenant_id"], u["role"]): u for u in users}


def creds(user: dict[str, str]) -> dict[str, str]:
    return {"email": user["email"], "password": user["password"]}


def signed_in(browser, portal: str, user: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """`user` signs in with their password on the sign-in page."""
    from selenium.webdriver.common.by import By

    browser.get(f"{portal}/sign-in")
    browser.find_element(By.ID, "email").send_keys(user["email"])
    browser.find_element(By.ID, "password").send_keys(user["password"])
    browser.find_element(By.ID, "sign-in").click()
    wait(browser, "signed in", lambda d: "/sign-in" not in d.current_url)


def sign_out(browser) -> None:  # type: ignore[no-untyped-def]
    """The menu's sign-out, then the sign-in page."""
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, "sign-out").click()
    wait(browser, "signed out", lambda d: "/sign-in" in d.current_url)


def in_language(driver, language: str) -> None:  # type: ignore[no-untyped-def]
    """The page's language switched to `language` (a signed-in user's is kept on the user: the
    tests give English back)."""
    from selenium.webdriver.common.by import By

    if driver.find_element(By.TAG_NAME, "html").get_attribute("lang") != language:
        driver.find_element(By.ID, f"language-{language}").click()
        wait(driver, language, lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == language)


def accepted(browser, link: str, name: str, check) -> None:  # type: ignore[no-untyped-def]
    """The invitation at `link` is opened, passes `check` and is accepted: the new member's referrals."""
    from selenium.webdriver.common.by import By

    browser.get(link)
    wait(browser, "the invitation", lambda d: d.find_elements(By.ID, "display_name"))
    check()
    browser.find_element(By.ID, "display_name").send_keys(name)
    browser.find_element(By.ID, "password").send_keys("a long enough passphrase")
    browser.find_element(By.ID, "password_again").send_keys("a long enough passphrase")
    browser.find_element(By.ID, "accept").click()
    wait(browser, "the new member's referrals", lambda d: d.current_url.endswith("/referrals"))


async def mailed_link(capture: Capture, address: str, n: int) -> str:
    """The link in the `n`th e-mail to `address`."""

    async def arrived() -> EmailMessage | None:
        got = capture.to(address)
        return got[n - 1] if len(got) >= n else None

    mail = await poll(f"e-mail {n} to {address}", arrived, timeout=20.0)
    return re.search(r"https?://\S+", mail.get_content()).group(0)


# --- over plain HTTP ----------------------------------------------------------------------------


async def portal_session(portal: str, email: str, password: str) -> httpx.AsyncClient:
    """A client signed in with a password over plain HTTP (close it)."""
    client = httpx.AsyncClient(base_url=portal, timeout=30.0)
    page = await client.get("/sign-in")
    token = CSRF.search(page.text).group(1)
    r = await client.post("/sign-in", data={"email": email, "password": password, "csrf_token": token})
    assert r.status_code == 303, r.text
    return client


async def post_form(client: httpx.AsyncClient, page_path: str, action: str, data: dict[str, Any]) -> httpx.Response:
    """Post one of a page's forms as the browser would: with the page's CSRF token and form id."""
    page = await client.get(page_path)
    assert page.status_code == 200, page.text[:500]
    token = CSRF.search(page.text).group(1)
    form_id = re.search(r'name="form_id" value="([^"]+)"', page.text)
    extra = {"form_id": form_id.group(1)} if form_id else {}
    return await client.post(action, data={"csrf_token": token, **extra, **data})


# --- forms in the browser -----------------------------------------------------------------------


def open_forms(driver) -> None:  # type: ignore[no-untyped-def]
    """Unfold every step's form, so that axe-core, the 360 px check and the Spanish check see them."""
    driver.execute_script("document.querySelectorAll('details').forEach(function (d) { d.open = true; });")


def unfold(driver, form: str):  # type: ignore[no-untyped-def]
    """Open the folded form `form` (its summary clicked, as a person would); the form."""
    from selenium.webdriver.common.by import By

    found = driver.find_element(By.ID, form)
    if not found.is_displayed():  # (open_forms may have unfolded it: a click would fold it)
        driver.execute_script("return arguments[0].closest('details').querySelector('summary')", found).click()
    wait(driver, f"{form} unfolded", lambda d: d.find_element(By.ID, form).is_displayed())
    return found


def fill(driver, values: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """Type into text fields, choose in lists, tick boxes (by their ids). Dates and times are set
    as their value: what a date picker types depends on the browser's locale."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for field, value in values.items():
        element = driver.find_element(By.ID, field)
        kind = element.get_attribute("type")
        if element.tag_name == "select":
            Select(element).select_by_value(value)
        elif kind == "checkbox":
            if element.is_selected() != (value == "yes"):
                element.click()
        elif kind in ("date", "datetime-local"):
            driver.execute_script("arguments[0].value = arguments[1]", element, value)
        else:
            element.clear()
            element.send_keys(value)


def click_through(driver, element) -> None:  # type: ignore[no-untyped-def]
    """Click `element` (a form's button, a link) and wait for the page it leads to: the old page
    gone, not merely the address (a step taken twice leads to the same address)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    before = driver.find_element(By.TAG_NAME, "html")
    element.click()
    wait(driver, "the next page", expected_conditions.staleness_of(before))


def step_clicked(driver, page: str, name: str, state: str, values: dict[str, str], form: str = "") -> None:  # type: ignore[no-untyped-def]
    """One lifecycle step on an employer's referral page (`page`, its path): the step's form
    (`form`, else form-`name`) unfolded and filled (`values` by field id) as a person would, its
    button clicked; the page it leads back to says done, with the referral in `state`."""
    from selenium.webdriver.common.by import By

    form = form or f"form-{name}"
    if values:
        unfold(driver, form)
        fill(driver, values)
    click_through(driver, driver.find_element(By.CSS_SELECTOR, f"#{form} button[type=submit]"))
    wait(driver, f"{name} done", lambda d: d.current_url.endswith(f"{page}?done={name}"))
    assert driver.find_element(By.ID, "status").get_attribute("data-state") == state, name
    assert driver.find_elements(By.ID, "notice") and not driver.find_elements(By.ID, "error"), name


# --- the network's data -------------------------------------------------------------------------


async def routed_to_civic(api: Api) -> tuple[str, str, dict[str, Any], str]:
    """A referral from the nonprofit, whose person shares their contact details, routed to a new
    opening of Civic Data Labs (a skill nobody else has): its skill, id, intake's body and the opening."""
    skill = unique("portal-employer")
    opening_id = await api.open_opening(CIVIC, opening_body([skill]))
    body = referral_body([skill])
    body["consent"]["share_contact"] = True
    referral_id = await api.refer(NORTHSIDE, body)
    await api.wait_in_inbox(CIVIC, referral_id, opening_id)
    return skill, referral_id, body, opening_id
